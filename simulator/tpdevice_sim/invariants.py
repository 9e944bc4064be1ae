"""Safety invariants checked from outside the firmware's logic; tests assert none is broken."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tpdevice.protocol import (
    Frame,
    FrameFlag,
    Heartbeat,
    Hello,
    Message,
    MessageError,
    MsgType,
    ProgramAction,
    ProgramControl,
    Start,
    decode_message,
    msg_type_name,
)
from tpdevice_sim.config import FirmwareConfig
from tpdevice_sim.reliable import WINDOW_SIZE, RequestKey, request_key
from tpdevice_sim.safety import FORCE_CAP_HOLD_S

__all__ = ["InvariantMonitor", "Violation"]

_LOGGER = logging.getLogger(__name__)
_RESPONSE = int(FrameFlag.RESPONSE)  # plain ints: IntFlag arithmetic is slow per frame

_FREQ_EPSILON_HZ = 1e-6
_FEEDING_TYPES = frozenset({MsgType.HEARTBEAT, MsgType.START, MsgType.PROGRAM_CONTROL})
_FEEDING_ACTIONS = frozenset({ProgramAction.RUN, ProgramAction.RESUME})


def _decoded(frame: Frame) -> Message | None:
    """The frame's message, or None when the firmware would answer it `malformed`."""
    try:
        return decode_message(frame)
    except MessageError:
        return None


def _feeding(frame: Frame) -> Message | None:
    """A HEARTBEAT, START, or PROGRAM_CONTROL run/resume (what may feed the watchdog), or None."""
    if frame.msg_type not in _FEEDING_TYPES:
        return None
    message = _decoded(frame)
    if isinstance(message, ProgramControl):
        return message if message.action in _FEEDING_ACTIONS else None
    return message if isinstance(message, Heartbeat | Start) else None


class _RecentKeys:
    """The last `size` request keys, oldest forgotten first; the monitor's own window."""

    __slots__ = ("_keys", "size")

    def __init__(self, size: int = WINDOW_SIZE) -> None:
        self.size = size
        self._keys: OrderedDict[RequestKey, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: RequestKey) -> None:
        """Remember key, forgetting the oldest beyond `size`."""
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)

    def clear(self) -> None:
        """Forget every key (a new HELLO)."""
        self._keys.clear()


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant, at device time."""

    device_time_s: float
    text: str

    def __str__(self) -> str:
        return f"{self.device_time_s:.3f} s: {self.text}"


class InvariantMonitor:
    """Records every violation of the device's safety invariants with device time and text."""

    on_violation: Callable[[Violation], None] | None = None  # told of each one as it happens

    def __init__(
        self,
        *,
        freq_min_hz: float,
        freq_max_hz: float,
        watchdog_ms: int,
        watchdog_min_ms: int = 1,
        watchdog_max_ms: int = 0xFFFF,
        force_cap_hold_s: float = FORCE_CAP_HOLD_S,
        time_scale: float = 1.0,
    ) -> None:
        self.freq_min_hz = freq_min_hz
        self.freq_max_hz = freq_max_hz
        self.watchdog_ms = watchdog_ms  # granted now: the default until a HELLO asks
        self.watchdog_limits_ms = (watchdog_min_ms, watchdog_ms, watchdog_max_ms)
        self.time_scale = time_scale  # the watchdog counts real time: device s per real s
        self.force_cap_hold_s = force_cap_hold_s
        self.violations: list[Violation] = []
        self._fed_s = 0.0
        self._session = 0  # a new connection or a HELLO begins a new host session
        self._owner: int | None = None  # the session whose START / run may drive the motor
        self._session_s = 0.0  # when the current session began
        self._over_cap_since_s: float | None = None
        self._flagged: set[str] = set()
        self._inbound = _RecentKeys()  # requests seen on the wire, as the window keys them
        self._acted = _RecentKeys()  # requests the firmware says it acted on

    @classmethod
    def for_config(cls, config: FirmwareConfig) -> InvariantMonitor:
        """A monitor for one firmware build: its model's range, watchdog limits, time scale."""
        return cls(
            freq_min_hz=config.spec.freq_min_hz,
            freq_max_hz=config.spec.freq_max_hz,
            watchdog_ms=config.watchdog_default_ms,
            watchdog_min_ms=config.watchdog_min_ms,
            watchdog_max_ms=config.watchdog_max_ms,
            time_scale=config.time_scale,
        )

    def on_inbound(self, frame: Frame, now_s: float) -> None:
        """A host frame, before the firmware sees it: only a new feeding request feeds our clock."""
        if frame.flags & _RESPONSE:
            return
        if frame.msg_type == MsgType.HELLO:
            self._on_hello(frame, now_s)
            return
        key = request_key(frame)
        if key in self._inbound:
            return  # a retransmission: the firmware answers it from its window
        self._inbound.add(key)
        message = _feeding(frame)
        if message is None:
            return
        if not isinstance(message, Heartbeat):
            self._owner = self._session  # START, run, resume: this host now owns the motor
        if self._owner is None or self._owner == self._session:  # no START seen: lenient
            self._fed_s = now_s

    def on_connection(self, now_s: float) -> None:
        """A new host connection began: its frames are not the starting host's."""
        self._new_session(now_s)

    def _new_session(self, now_s: float) -> None:
        """A new host session (connection or HELLO) from now_s on; up to then the old one ran."""
        self._session += 1
        self._session_s = now_s

    def _on_hello(self, frame: Frame, now_s: float) -> None:
        """A new host session: the watchdog grant applies, sequence numbers start afresh."""
        hello = _decoded(frame)
        if not isinstance(hello, Hello):
            return  # malformed: the firmware changes nothing
        low_ms, default_ms, high_ms = self.watchdog_limits_ms
        requested_ms = hello.watchdog_ms or default_ms
        self.watchdog_ms = min(max(requested_ms, low_ms), high_ms)
        self._new_session(now_s)
        self._inbound.clear()
        self._acted.clear()

    def on_request(self, frame: Frame, now_s: float) -> None:
        """The firmware acted on a host request; the same request twice is a dedup failure."""
        if frame.msg_type == MsgType.HELLO:
            return  # handled every time by design: it only grants and forgets
        key = request_key(frame)
        if key in self._acted:
            name = msg_type_name(frame.msg_type)
            self._record(now_s, f"host request seq={frame.seq} {name} acted on twice")
        self._acted.add(key)

    def on_output(self, now_s: float, freq_hz: float) -> None:
        """The motor was commanded to freq_hz (> 0)."""
        low, high = self.freq_min_hz - _FREQ_EPSILON_HZ, self.freq_max_hz + _FREQ_EPSILON_HZ
        if not low <= freq_hz <= high:
            self._record(
                now_s,
                f"motor commanded to {freq_hz:g} Hz, outside "
                f"{self.freq_min_hz:g}..{self.freq_max_hz:g} Hz",
            )

    def on_sample(
        self,
        now_s: float,
        dt_s: float,
        *,
        freq_hz: float,
        driven: bool,
        force_n: float,
        force_cap_n: float | None,
    ) -> None:
        """One physics step ended; `driven` is False while the motor ramps down or is off."""
        running = driven and freq_hz > 0.0
        if not self._flagged and self._all_kept(now_s, dt_s, running, driven, force_n, force_cap_n):
            self._over_cap_since_s = None  # what the checks below do when nothing is broken
            return
        self._check_watchdog(now_s, dt_s, running=running)
        self._check_owner(now_s, running=running)
        self._check_force_cap(now_s, dt_s, driven, force_n, force_cap_n)

    def _all_kept(
        self, now_s: float, dt_s: float, running: bool, driven: bool, force_n: float,
        cap_n: float | None,
    ) -> bool:  # fmt: skip
        """True if no check below is broken now (the common case, asked once per step)."""
        if cap_n is not None and driven and force_n > cap_n:
            return False
        if not running:
            return True
        if now_s - self._fed_s > self.watchdog_ms / 1000.0 * self.time_scale + dt_s:
            return False
        return not (self._owner is not None and self._owner != self._session)

    def _check_watchdog(self, now_s: float, dt_s: float, *, running: bool) -> None:
        """The motor must not be driven past the watchdog timeout (plus one tick) unfed."""
        silent_s = now_s - self._fed_s
        broken = running and silent_s > self.watchdog_ms / 1000.0 * self.time_scale + dt_s
        if self._new_episode("watchdog", broken):
            self._record(
                now_s,
                f"motor driven {silent_s * 1000:.0f} ms after the last heartbeat "
                f"(watchdog {self.watchdog_ms} ms)",
            )

    def _check_owner(self, now_s: float, *, running: bool) -> None:
        """The motor must be driven only while the host that started it holds the device."""
        replaced = self._owner is not None and self._owner != self._session
        broken = running and replaced and now_s > self._session_s
        if self._new_episode("owner", broken):
            self._record(now_s, "motor driven after the host that started it was replaced")

    def _check_force_cap(
        self, now_s: float, dt_s: float, driven: bool, force_n: float, cap_n: float | None
    ) -> None:
        """The motor must not stay driven with the force above the cap past the hold time."""
        if cap_n is None or not driven or force_n <= cap_n:
            self._over_cap_since_s = None
            self._new_episode("force_cap", False)
            return
        if self._over_cap_since_s is None:
            self._over_cap_since_s = now_s
        over_s = now_s - self._over_cap_since_s
        if self._new_episode("force_cap", over_s > self.force_cap_hold_s + dt_s):
            self._record(
                now_s,
                f"force {force_n:.1f} N above the {cap_n:g} N cap for {over_s * 1000:.0f} ms "
                "with the motor driven",
            )

    def _new_episode(self, name: str, broken: bool) -> bool:
        """True when a condition starts being broken: record once per episode, not per sample."""
        if not broken:
            self._flagged.discard(name)
            return False
        if name in self._flagged:
            return False
        self._flagged.add(name)
        return True

    def _record(self, now_s: float, text: str) -> None:
        _LOGGER.warning("invariant violated at %.3f s: %s", now_s, text)
        self.violations.append(violation := Violation(now_s, text))
        if self.on_violation is not None:
            self.on_violation(violation)
