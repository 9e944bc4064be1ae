"""Simulated guns running in the event loop: firmware + physics + monitor + link, on a clock."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING

from tpdevice.protocol import Frame
from tpdevice_sim.clock import EventClock, RealClock, ScaledClock, SimClock, TimerHandle
from tpdevice_sim.config import FirmwareConfig, spread_phase
from tpdevice_sim.faults import FaultSpec
from tpdevice_sim.firmware import Firmware
from tpdevice_sim.fleet import Fleet, serve
from tpdevice_sim.invariants import InvariantMonitor, Violation
from tpdevice_sim.links import TRANSPORTS, FrameLink, make_link
from tpdevice_sim.physics import DEFAULT_MODEL, PRESETS, ContactScenario, GunPhysics

if TYPE_CHECKING:  # imported by a BLE fleet: loopback, pty and tcp guns start without
    from tpdevice_sim.ble.spec import BleSlot, PeripheralHci

__all__ = ["SimulatedGun", "SimulatorFleet", "serve", "tick_s_for_scale"]

_LOGGER = logging.getLogger(__name__)

# With manual time no real wait ever passes; poll gently instead of spinning.
_MIN_REAL_WAIT_S = 0.001
# Aim for physics steps no closer than ~2 ms of real time when time is scaled up.
_REAL_TICK_S = 0.002
_MAX_TICK_S = 0.1
# uvloop's timers have 1 ms resolution and can wake a timer up to ~1.5 ms early; a timer that
# woke before anything was due is re-armed this much past its instant, so it does not spin.
_TIMER_SLACK_S = 0.002
# Every loop timer is armed this much past its instant: waking early costs a whole extra
# wake-up (about one in seven ticks without it), waking this much late costs nothing.
_TIMER_LATE_S = 0.001


def tick_s_for_scale(time_scale: float, base_tick_s: float = 0.01) -> float:
    """Device-time physics step for a time scale: finer than real-time cost allows is wasted."""
    return min(_MAX_TICK_S, max(base_tick_s, _REAL_TICK_S * time_scale))


class SimulatedGun:
    """One simulated gun: frames are answered in the link's data callback, time ticks on a timer.

    On an EventClock (anything with call_at) the ticks are armed on that clock, so device
    time is its time; otherwise on the event loop, converted by the SimClock's time scale.
    """

    def __init__(
        self,
        link: FrameLink,
        *,
        config: FirmwareConfig | None = None,
        clock: SimClock | EventClock | None = None,
        seed: int = 0,
        scenario: ContactScenario = ContactScenario.FOLLOW_BAND,
    ) -> None:
        self.link = link
        self.clock: SimClock | EventClock = clock or RealClock()
        self._event_clock: EventClock | None = None
        self._sim_clock: SimClock | None = None
        if isinstance(self.clock, EventClock):
            self._event_clock = self.clock
        else:
            self._sim_clock = self.clock
        self.config = config or FirmwareConfig(
            serial=f"SIM-{seed:04d}", telemetry_phase=spread_phase(seed)
        )
        spec = self.config.spec
        self.physics = GunPhysics.from_spec(spec, random.Random(seed), scenario)
        self.monitor = InvariantMonitor.for_config(self.config)
        self.firmware = Firmware(
            self.config, self.physics, self.monitor, start_s=self.clock.now_s()
        )
        self._timer: TimerHandle | None = None
        self._timer_when = 0.0  # uvloop's handles have no when()
        # firmware.next_deadline_s() as of the last call into the firmware: only this class
        # calls it, and each call is followed by _schedule, so the timer need not ask again.
        self._deadline_s = 0.0
        self._running = False

    @property
    def address(self) -> str:
        """What a host types to reach this gun (`serial://...`, `tcp://...`, `sim`)."""
        return self.link.address

    @property
    def violations(self) -> list[Violation]:
        """Invariant violations recorded so far (tests expect none)."""
        return self.monitor.violations

    async def start(self) -> None:
        """Open the link and start ticking."""
        await self.link.start(self._on_frame, self._on_connect)
        self._running = True
        self._schedule()
        _LOGGER.info(
            "%s: simulated %s on %s", self.config.serial, self.config.spec.model, self.address
        )

    async def stop(self) -> None:
        """Stop ticking and close the link; idempotent."""
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.link.stop()
        for violation in self.monitor.violations:
            _LOGGER.warning("%s: invariant violated: %s", self.config.serial, violation)

    def _on_frame(self, frame: Frame) -> None:
        """Answer at once, in the data callback: no wait for the next tick."""
        now_s = self.clock.now_s()
        self.monitor.on_inbound(frame, now_s)  # the monitor sees the wire, not the firmware
        out = self.firmware.handle_frame(frame, now_s)
        if out:
            self.link.send(out)
        self._schedule()  # a START makes the motor busy: tick sooner

    def _on_connect(self) -> None:
        """A new host connection: it must HELLO before anything else, and owns no motor run."""
        now_s = self.clock.now_s()
        self.monitor.on_connection(now_s)
        out = self.firmware.new_connection(now_s)
        if out:
            self.link.send(out)
        self._schedule()

    def _tick(self) -> None:
        self._timer = None
        now_s = self.clock.now_s()
        clock = self._sim_clock  # woke before the deadline (real time still left): re-arm
        if clock is not None and clock.real_delay_s(self._deadline_s - now_s) > 0.0:
            self._schedule(_TIMER_SLACK_S)
            return
        out = self.firmware.tick(now_s)
        if out:
            self.link.send(out)
        self._schedule()

    def _schedule(self, slack_s: float = 0.0) -> None:
        """(Re)arm the timer for the firmware's next deadline (plus slack_s), if that is sooner."""
        if not self._running:
            return
        event_clock, loop = self._event_clock, asyncio.get_running_loop()
        self._deadline_s = when = self.firmware.next_deadline_s()
        if event_clock is None:  # else device time is the event clock's time
            assert self._sim_clock is not None
            when = loop.time() + self._real_wait_s(self._sim_clock, when) + slack_s + _TIMER_LATE_S
        if self._timer is not None:
            if self._timer_when <= when:
                return
            self._timer.cancel()
        if event_clock is not None:
            self._timer = event_clock.call_at(when, self._tick)
        else:
            self._timer = loop.call_at(when, self._tick)
        self._timer_when = when

    @staticmethod
    def _real_wait_s(clock: SimClock, deadline_s: float) -> float:
        """Real seconds until the firmware's deadline_s on a SimClock."""
        ahead_s = deadline_s - clock.now_s()
        wait_s = clock.real_delay_s(ahead_s)
        if ahead_s > 0.0 and wait_s <= 0.0:
            wait_s = _MIN_REAL_WAIT_S
        return wait_s


class SimulatorFleet(Fleet[SimulatedGun]):
    """N simulated guns on one transport kind, seeded seed, seed+1, ...; an async context.

    `clock` (an EventClock, e.g. a host's virtual clock) is shared by every gun; it excludes
    a time_scale other than 1.
    """

    def __init__(
        self,
        transport: str = "serial",
        count: int = 1,
        *,
        seed: int = 0,
        faults: FaultSpec | None = None,
        time_scale: float = 1.0,
        model: str = DEFAULT_MODEL,
        scenario: ContactScenario = ContactScenario.FOLLOW_BAND,
        clock: EventClock | None = None,
        ble_hci: str | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r} (one of {', '.join(TRANSPORTS)})")
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if model not in PRESETS:
            raise ValueError(f"unknown gun model {model!r} (one of {', '.join(PRESETS)})")
        if clock is not None and time_scale != 1.0:
            raise ValueError(f"time_scale={time_scale} cannot be combined with an external clock")
        if clock is not None and not isinstance(clock, EventClock):
            raise ValueError(f"clock {clock!r} has no now_s() and call_at()")
        shared: SimClock | EventClock = clock or (
            RealClock() if time_scale == 1.0 else ScaledClock(time_scale)
        )
        if ble_hci is not None and (transport != "ble" or count != 1):
            raise ValueError(f"a real BLE controller ({ble_hci}) serves one gun on transport ble")
        # On "ble" every gun is a peripheral on one radio (or the one real controller).
        self.radio: PeripheralHci | None = None
        if transport == "ble":
            from tpdevice_sim.ble.spec import open_hci

            self.radio = open_hci(ble_hci)
        tick_s = tick_s_for_scale(time_scale)
        self.guns = [
            SimulatedGun(
                make_link(
                    transport,
                    faults,
                    rng=random.Random(f"link-{seed + i}"),
                    ble=self._ble_slot(i, f"SIM-{seed + i:04d}", model),
                ),
                config=FirmwareConfig(
                    spec=PRESETS[model],
                    serial=f"SIM-{seed + i:04d}",
                    telemetry_phase=spread_phase(seed + i),
                    tick_s=tick_s,
                    time_scale=time_scale,
                ),
                clock=shared,
                seed=seed + i,
                scenario=scenario,
            )
            for i in range(count)
        ]

    def _ble_slot(self, index: int, serial: str, model: str) -> BleSlot | None:
        """Gun `index`'s place on the fleet's radio; None off BLE."""
        if self.radio is None:
            return None
        from tpdevice_sim.ble.spec import BleIdentity, BleSlot

        firmware = FirmwareConfig.firmware_version
        identity = BleIdentity.native(index, serial, PRESETS[model].model, firmware)
        return BleSlot(self.radio, identity)
