"""What both execution modes share: the run context, contact sensing and the runner base."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from tpdevice.device.api import GunClient
from tpdevice.protocol import StepEvent, StopReason, Telemetry
from tpdevice.therapy.clock import SessionClock
from tpdevice.therapy.coach import PressureCoach
from tpdevice.therapy.devicetime import DeviceTimeMap
from tpdevice.therapy.progress import Progress
from tpdevice.therapy.session_pause import PauseState
from tpdevice.therapy.timeline import Timeline

__all__ = ["ContactSense", "ModeRunner", "RunContext"]

_LOGGER = logging.getLogger(__name__)
_HYSTERESIS_N = 1.0
CONTACT_DEBOUNCE_MS = 100
_U32 = 0xFFFF_FFFF


class ContactSense:
    """Head on the tissue or not, from telemetry: force with hysteresis, or the contact sensor.

    Contact begins at force >= threshold and ends below max(threshold - 1 N, threshold / 2),
    and either change counts only once it has held for 100 ms of device time, as on the
    device (docs/protocol.md 4.5), so sensor noise does not flicker a hold.
    """

    def __init__(self, threshold_n: float, *, by_force: bool) -> None:
        self.threshold_n = threshold_n
        self.by_force = by_force
        self.in_contact = False
        self.force_n = 0.0
        self._seen = False  # the reading before the debounce
        self._seen_ms = 0  # device time it began

    def update(self, sample: Telemetry) -> bool:
        """Take a sample; True if contact changed (the new reading held for the debounce)."""
        self.force_n = sample.force_n
        now_in = self._reading(sample)
        if now_in == self.in_contact:
            self._seen = now_in
            return False
        if now_in != self._seen:
            self._seen, self._seen_ms = now_in, sample.device_time_ms
        if (sample.device_time_ms - self._seen_ms) & _U32 < CONTACT_DEBOUNCE_MS:
            return False
        self.in_contact = now_in
        return True

    def _reading(self, sample: Telemetry) -> bool:
        """Contact in this sample alone: the force band with hysteresis, or the sensor."""
        if not self.by_force:
            return sample.contact
        threshold_n = self.threshold_n
        if self.in_contact:
            threshold_n = max(threshold_n - _HYSTERESIS_N, threshold_n / 2.0)
        return sample.force_n >= threshold_n


@dataclass(slots=True)
class RunContext:
    """Everything a mode runner works with.

    `halting` forbids any new START / run / resume; `pause.asked` (the user paused, the
    loop may not have acted yet) forbids a new START: the pause wins over a step change.
    """

    client: GunClient
    clock: SessionClock
    timeline: Timeline
    progress: Progress
    coach: PressureCoach
    contact: ContactSense
    time_map: DeviceTimeMap = field(default_factory=DeviceTimeMap)
    pause: PauseState = field(default_factory=PauseState)
    halting: bool = False


class ModeRunner:
    """Runs the timeline on the device; the session's control loop calls it (one task).

    Subclasses implement begin/on_time/pause/resume/skip/recover; `done` is set once the
    last step ended, `device_abort` when the device ended the run on its own.
    """

    mode = ""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.done = False
        self.device_abort: str | None = None
        self.frozen_at_s: float | None = None  # set while paused or the link is lost

    async def begin(self) -> float:
        """Start the first step; return the session start time (t0)."""
        raise NotImplementedError

    def next_deadline_s(self) -> float:
        """When on_time() must run next (inf: only events drive it)."""
        return math.inf

    async def on_time(self, now_s: float) -> None:
        """Act on deadlines that passed."""

    def on_contact(self, now_s: float) -> bool:
        """Contact changed while running; True if a deadline moved."""
        return False

    def on_step_event(self, event: StepEvent) -> None:
        """A STEP_EVENT from the device (firmware mode)."""

    async def pause(self, now_s: float) -> None:
        """Stop the motor and freeze the step timer."""
        raise NotImplementedError

    async def resume(self, now_s: float) -> None:
        """Restart the motor; the step timer goes on where it stopped."""
        raise NotImplementedError

    async def skip(self, now_s: float) -> None:
        """End the running step now and start the next one."""
        raise NotImplementedError

    def link_lost(self, now_s: float) -> None:
        """The link dropped (the device's watchdog stops the motor): freeze the timer."""
        self.freeze(now_s)

    async def recover(self, now_s: float) -> None:
        """The link is back: continue the frozen step."""
        raise NotImplementedError

    def freeze(self, now_s: float) -> None:
        """Freeze the running step's timer (and any started before thaw) and the coaching."""
        if self.frozen_at_s is None:
            self.frozen_at_s = now_s
        timer = self.ctx.progress.timer
        if timer is not None:
            timer.pause(now_s)
        self.ctx.coach.interrupt()

    def thaw(self, now_s: float) -> float:
        """Let the timer run again; returns how long it was frozen."""
        ctx = self.ctx
        self.frozen_at_s = None
        timer = ctx.progress.timer
        ctx.coach.resume(now_s, ctx.contact.force_n)
        return timer.resume(now_s) if timer is not None else 0.0

    async def halt(self, reason: StopReason) -> None:
        """STOP the motor (also aborts a device program)."""
        await self.ctx.client.stop(reason)
