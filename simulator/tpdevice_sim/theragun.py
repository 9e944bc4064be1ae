"""A simulated Theragun Gen 4 gun: its own parser of the BLE frames, a keep-alive, a monitor.

Plays firmware independent of tpdevice's driver (nothing from tpdevice is imported), after
the public buttplug.io notes: host frames `AA cs kind ...`, notifications `BB cs kind ...`,
cs = low byte of the sum of bytes 2..end. What the notes leave open is our assumption:
- keep-alive: the motor stops when no speed frame came for KEEPALIVE_S (3 s). Whether real
  firmware times out at all is not publicly documented;
- notifications are 20 bytes (one ATT payload at the default MTU), unused bytes zero;
- a speed outside the model's range runs clamped to it (and the monitor records it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields

from tpdevice_sim.clock import RealClock, SimClock
from tpdevice_sim.invariants import Violation

__all__ = [
    "KEEPALIVE_S",
    "NOTIFICATION_SIZE",
    "THERAGUN_PRESETS",
    "TheragunFirmware",
    "TheragunLoopbackLink",
    "TheragunMonitor",
    "TheragunPreset",
    "TheragunStats",
]

_LOGGER = logging.getLogger(__name__)

KEEPALIVE_S = 3.0
NOTIFICATION_SIZE = 20
RPM_LIMIT = 3616
_HOST, _GUN = 0xAA, 0xBB
_SPEED, _STATUS, _VERSION = 0x01, 0x10, 0x20
_SPEED_LEN, _REQUEST_LEN = 7, 4
DEFAULT_VERSION = 0x0104


@dataclass(frozen=True, slots=True)
class TheragunPreset:
    """A model the simulator can play: its advertised name and speed range."""

    name: str
    rpm_min: int
    rpm_max: int


THERAGUN_PRESETS = {
    preset.name: preset
    for preset in (
        TheragunPreset("Pro", 1750, 2400),
        TheragunPreset("Elite", 1750, 2400),
        TheragunPreset("Prime", 1750, 2400),
    )
}


@dataclass(slots=True)
class TheragunStats:
    """What the gun received and did, by kind."""

    writes: int = 0
    speed_frames: int = 0
    version_requests: int = 0
    status_requests: int = 0
    bad_checksum: int = 0
    malformed: int = 0  # wrong start byte or too short
    unknown: int = 0  # valid checksum, but not a frame this firmware knows
    keepalive_stops: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _checksum(body: bytes) -> int:
    return sum(body) & 0xFF


def _notification(kind: int, values: dict[int, int]) -> bytes:
    """A 20-byte notification of `kind` with the given byte positions set."""
    frame = bytearray(NOTIFICATION_SIZE)
    frame[0], frame[2] = _GUN, kind
    for index, value in values.items():
        frame[index] = value
    frame[1] = _checksum(bytes(frame[2:]))
    return bytes(frame)


class TheragunMonitor:
    """Records broken invariants, from what came in and what the motor did, not firmware state."""

    def __init__(self, preset: TheragunPreset, keepalive_s: float = KEEPALIVE_S) -> None:
        self.preset = preset
        self.keepalive_s = keepalive_s
        self.violations: list[Violation] = []
        self.on_violation: Callable[[Violation], None] | None = None  # said as it happens
        self._fed_s = 0.0
        self._overrun = False

    def on_speed_frame(self, now_s: float, rpm: int) -> None:
        """A valid speed frame arrived: it feeds the keep-alive; a speed must be in range."""
        self._fed_s = now_s
        low, high = self.preset.rpm_min, self.preset.rpm_max
        if rpm != 0 and not low <= rpm <= high:
            self._record(now_s, f"speed {rpm} rpm commanded, outside {low}..{high} rpm")

    def on_sample(self, now_s: float, dt_s: float, rpm: int) -> None:
        """The motor ran at `rpm` until now_s; unfed past the keep-alive (+ one tick) breaks it."""
        silent_s = now_s - self._fed_s
        broken = rpm > 0 and silent_s > self.keepalive_s + dt_s
        if broken and not self._overrun:
            self._record(now_s, f"motor ran {silent_s:.3f} s after the last speed frame")
        self._overrun = broken

    def _record(self, now_s: float, text: str) -> None:
        _LOGGER.warning("theragun invariant violated at %.3f s: %s", now_s, text)
        violation = Violation(now_s, text)
        self.violations.append(violation)
        if self.on_violation is not None:
            self.on_violation(violation)


class TheragunFirmware:
    """One simulated gun: on_write() takes a host frame, tick() runs the keep-alive.

    `keepalive_enabled=False` plays a firmware bug so tests can see the monitor catch it.
    """

    def __init__(
        self,
        model: str = "Pro",
        *,
        version: int = DEFAULT_VERSION,
        keepalive_s: float = KEEPALIVE_S,
        keepalive_enabled: bool = True,
    ) -> None:
        if model not in THERAGUN_PRESETS:
            known = ", ".join(THERAGUN_PRESETS)
            raise ValueError(f"unknown Theragun model {model!r} (known: {known})")
        if not 0 <= version <= 0xFFFF:
            raise ValueError(f"version {version} does not fit two bytes")
        self.preset = THERAGUN_PRESETS[model]
        self.version = version
        self.keepalive_s = keepalive_s
        self.keepalive_enabled = keepalive_enabled
        self.rpm = 0
        self.stats = TheragunStats()
        self.monitor = TheragunMonitor(self.preset, keepalive_s)
        self._fed_s = 0.0
        self._last_tick_s: float | None = None

    @property
    def running(self) -> bool:
        """True while the motor turns."""
        return self.rpm > 0

    @property
    def violations(self) -> list[Violation]:
        """Every broken invariant so far."""
        return self.monitor.violations

    def on_write(self, data: bytes, now_s: float) -> list[bytes]:
        """One written frame; returns the notifications it causes (bad frames: counted, none)."""
        self.stats.writes += 1
        frame = bytes(data)
        if len(frame) < _REQUEST_LEN or frame[0] != _HOST:
            self.stats.malformed += 1
            return []
        if _checksum(frame[2:]) != frame[1]:
            self.stats.bad_checksum += 1
            return []
        return self._dispatch(frame, now_s)

    def tick(self, now_s: float) -> list[bytes]:
        """Let time pass: stop a motor nobody fed within the keep-alive; no notifications."""
        dt_s = 0.0 if self._last_tick_s is None else max(0.0, now_s - self._last_tick_s)
        self._last_tick_s = now_s
        starved = now_s - self._fed_s >= self.keepalive_s
        if self.keepalive_enabled and self.running and starved:
            _LOGGER.info("theragun %s: no speed frame for %.1f s, motor off",
                         self.preset.name, now_s - self._fed_s)  # fmt: skip
            self.rpm = 0
            self.stats.keepalive_stops += 1
        self.monitor.on_sample(now_s, dt_s, self.rpm)
        return []

    def _dispatch(self, frame: bytes, now_s: float) -> list[bytes]:
        """Act on a frame whose start byte and checksum are right."""
        kind = frame[2]
        if kind == _SPEED and len(frame) == _SPEED_LEN and frame[3] == 0x03 and frame[6] == 0x03:
            self._set_speed(frame[4] << 8 | frame[5], now_s)
            return []
        if len(frame) == _REQUEST_LEN and frame[3] == 0x00:
            if kind == _VERSION:
                self.stats.version_requests += 1
                return [self.version_response()]
            if kind == _STATUS:
                self.stats.status_requests += 1
                return [self.status_response()]
        self.stats.unknown += 1
        return []

    def _set_speed(self, rpm: int, now_s: float) -> None:
        """Run at rpm clamped into the model's range (0 stops); feeds the keep-alive."""
        self.stats.speed_frames += 1
        self.monitor.on_speed_frame(now_s, rpm)
        self._fed_s = now_s
        self.rpm = 0 if rpm == 0 else min(max(rpm, self.preset.rpm_min), self.preset.rpm_max)

    def version_response(self) -> bytes:
        """BB cs 20 ..., the version in bytes 12 (high) and 13 (low)."""
        return _notification(_VERSION, {12: self.version >> 8, 13: self.version & 0xFF})

    def status_response(self) -> bytes:
        """BB cs 10 ..., running flag in byte 4, rpm in bytes 13 (high) and 14 (low)."""
        values = {4: int(self.running), 13: self.rpm >> 8, 14: self.rpm & 0xFF}
        return _notification(_STATUS, values)


Deliver = Callable[[bytes], None]
OnClose = Callable[[], None]


class TheragunLoopbackLink:
    """An in-memory packet link to a TheragunFirmware, a peer for tpdevice's LoopbackTransport.

    Each host write reaches on_write() as one frame; each notification is delivered as one
    packet on the next loop iteration. Time comes from `clock`: tests pass a ManualClock and
    call tick() themselves; start() ticks every `tick_s` of real time instead.
    """

    address = "sim"

    def __init__(self, firmware: TheragunFirmware, clock: SimClock | None = None) -> None:
        self.firmware = firmware
        self.clock: SimClock = clock or RealClock()
        self.writes: list[bytes] = []  # every frame the host wrote, for tests
        self._deliver: Deliver | None = None
        self._on_close: OnClose | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def attached(self) -> bool:
        """True while a host transport is attached."""
        return self._deliver is not None

    def attach(self, deliver: Deliver, on_close: OnClose) -> None:
        """A host connects (replacing any previous one)."""
        self._deliver, self._on_close = deliver, on_close

    def receive(self, data: bytes) -> None:
        """One frame written by the host (lost when no host is attached, like a dropped link)."""
        if self._deliver is None:
            return
        self.writes.append(bytes(data))
        self._send(self.firmware.on_write(data, self.clock.now_s()))

    def detach(self) -> None:
        """The host closed; idempotent."""
        self._deliver = self._on_close = None

    def tick(self) -> None:
        """Run the firmware's clock-driven logic once, at the clock's time now."""
        self._send(self.firmware.tick(self.clock.now_s()))

    def notify(self, packet: bytes) -> None:
        """Send any packet to the host (for tests of bad notifications)."""
        self._send([packet])

    def hang_up(self) -> None:
        """Drop the link from the gun's side: the host sees it lost."""
        on_close = self._on_close
        self.detach()
        if on_close is not None:
            asyncio.get_running_loop().call_soon(on_close)

    def start(self, tick_s: float = 0.05) -> None:
        """Tick every tick_s seconds of real time until stop()."""
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick_forever(tick_s), name="theragun sim ticks"
            )

    async def stop(self) -> None:
        """Stop ticking and hang up."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        self.hang_up()

    async def _tick_forever(self, tick_s: float) -> None:
        while True:
            self.tick()
            await asyncio.sleep(tick_s)

    def _send(self, packets: list[bytes]) -> None:
        deliver = self._deliver
        if deliver is None:
            return
        loop = asyncio.get_running_loop()
        for packet in packets:
            loop.call_soon(deliver, packet)
