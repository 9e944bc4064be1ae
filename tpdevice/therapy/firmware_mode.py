"""Firmware mode: the device runs the uploaded timeline; the engine follows its STEP_EVENTs."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tpdevice.device.api import program_runner
from tpdevice.device.errors import (
    DeviceRejectedError,
    DeviceTimeoutError,
    DeviceUnsupportedError,
    RequestAbandonedError,
)
from tpdevice.protocol import (
    HoldPolicy,
    ProgramAction,
    ProgramStep,
    StepEvent,
    StepEventKind,
    StepKind,
    StopReason,
)
from tpdevice.therapy.devicetime import unwrap_u32_ms
from tpdevice.therapy.host_mode import HostRunner
from tpdevice.therapy.modes import ModeRunner, RunContext
from tpdevice.therapy.steptimer import StepTimer
from tpdevice.therapy.timeline import PlannedStep
from tpdevice.therapy.timesync import sync_time

__all__ = ["FALLBACK_REASON", "FirmwareRunner", "program_step"]

_LOGGER = logging.getLogger(__name__)
_MIN_S = 0.001  # the wire counts whole milliseconds, at least one
# Device times are whole ms, and so are the telemetry times an arrival map is built from.
_QUANTUM_S = 0.002
FALLBACK_REASON = "host_mode_fallback"  # the cue's reason when firmware mode gives up


def program_step(
    step: PlannedStep, *, duration_s: float | None = None, cap_s: float | None = None
) -> ProgramStep:
    """The PROGRAM_STEP for a planned step (duration/cap shortened for a step continued)."""
    duration_s = step.duration_s if duration_s is None else duration_s
    cap_s = step.hold_cap_s if cap_s is None else cap_s
    contact = step.contact_timed
    return ProgramStep(
        index=0, kind=StepKind[step.kind.name], freq_hz=step.freq_hz,
        force_target_n=step.force_target_n, force_tolerance_n=step.force_tolerance_n,
        force_cap_n=step.force_cap_n, force_ramp_n_per_s=step.force_ramp_n_per_s,
        duration_ms=round(max(_MIN_S, duration_s) * 1000),
        hold_policy=HoldPolicy.CONTACT if contact else HoldPolicy.WALL,
        hold_cap_ms=round(max(_MIN_S, cap_s, duration_s) * 1000) if contact else 0,
        contact_threshold_n=step.contact_threshold_n,
    )  # fmt: skip


def _continued(timer: StepTimer, now_s: float) -> ProgramStep:
    """The rest of a frozen step as a program step."""
    left_s = timer.remaining_s(now_s)
    cap_left_s = timer.step.hold_cap_s - timer.active_s(now_s)
    return program_step(timer.step, duration_s=left_s, cap_s=max(left_s, cap_left_s))


class FirmwareRunner(ModeRunner):
    """Uploads the steps, runs them on the device and mirrors STEP_EVENTs into progress.

    Skip and recovery after a reconnect re-upload what is left (a continued step with its
    remaining time) and run it; program step 0 then maps to timeline step `base`. Device
    times map to session time via TIME_SYNC when offered, else telemetry arrivals. After a
    lost link the old program is treated as gone: resume and recover upload the rest.

    Events of an older program are stale: the gun repeats unacknowledged STEP_EVENTs (also
    across a reconnect, where the client's duplicate window starts empty). A new program
    counts from its STARTED(0), which must not be stamped before its RUN (as mapped, within
    the map's error); after that, anything stamped before that STARTED(0) in device time,
    exact to the ms, is stale. The old program was stopped before the upload began, so its
    events are at least the upload's round trips older than the RUN.

    When an upload cannot make progress on a link that is up (every retried upload stalled),
    the session goes on in host mode from where it is: a `cue` event (reason
    host_mode_fallback) names the cause, and from then on a HostRunner does the work.
    """

    mode = "firmware"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        programs = program_runner(ctx.client)
        if programs is None:
            raise DeviceUnsupportedError(f"{ctx.client.address}: the device runs no programs")
        self._programs = programs
        self._base = 0  # timeline index of program step 0
        self._awaiting_start = False  # ignore events of an older program until STARTED(0)
        self._run_from_s: float | None = None  # the RUN of the program awaited, once sent
        self._program_ms: int | None = None  # device time of the program's STARTED(0)
        self._continuing = False  # program step 0 continues the frozen step
        self._next_deadline_s = 0.0  # when the next step is due (lateness reference)
        self._program_lost = False  # the link dropped since the last RUN
        self._host: HostRunner | None = None  # set once firmware mode gave up

    @property
    def done(self) -> bool:
        """The last step ended (in host mode after a fallback)."""
        return self._done if self._host is None else self._host.done

    @done.setter
    def done(self, value: bool) -> None:
        self._done = value

    async def begin(self) -> float:
        """Sync time, upload everything, run; t0 is the RUN (host mode's t0 after a fallback)."""
        await sync_time(self.ctx)
        if not await self._upload_or_fall_back(0, []):
            assert self._host is not None
            return await self._host.begin()
        t0_s = self.ctx.progress.t0_s = self.ctx.clock.now_s()
        self._next_deadline_s = t0_s
        await self._run()
        return t0_s

    def next_deadline_s(self) -> float:
        """None of its own: STEP_EVENTs drive it (host mode's deadline after a fallback)."""
        return super().next_deadline_s() if self._host is None else self._host.next_deadline_s()

    async def on_time(self, now_s: float) -> None:
        """Nothing to do in firmware mode; host mode's work after a fallback."""
        if self._host is not None:
            await self._host.on_time(now_s)

    def on_contact(self, now_s: float) -> bool:
        """The device times contact holds itself (host mode does, after a fallback)."""
        return self._host is not None and self._host.on_contact(now_s)

    def on_step_event(self, event: StepEvent) -> None:
        """Mirror one STEP_EVENT into progress (events of an older program are ignored)."""
        if self._host is not None:
            return  # a program abandoned for host mode reports nothing that counts
        kind, index = event.kind, event.step_index
        if self._stale(event):
            _LOGGER.debug(
                "step event %s %d at device %d ms of an older program ignored",
                kind.name, index, event.device_time_ms,
            )  # fmt: skip
            return
        at_s = self._session_s(event.device_time_ms)
        if kind is StepEventKind.STARTED:
            self._started(self._base + index, at_s)
        elif kind is StepEventKind.COMPLETED:
            self._completed(self._base + index, at_s)
        elif kind in (StepEventKind.HOLD_PAUSED, StepEventKind.HOLD_RESUMED):
            force_n = self.ctx.contact.force_n
            self.ctx.progress.set_contact(kind is StepEventKind.HOLD_RESUMED, at_s, force_n)
        elif kind is StepEventKind.ABORTED:
            self.device_abort = f"the device aborted the program at step {self._base + index}"
        elif kind is StepEventKind.PROGRAM_DONE:
            self.done = True

    async def pause(self, now_s: float) -> None:
        """PROGRAM_CONTROL pause (the device stops the motor and freezes its timers)."""
        if self._host is not None:
            await self._host.pause(now_s)
            return
        self.freeze(now_s)
        if self._program_lost:  # whatever still runs after a lost link: STOP it
            await self.halt(StopReason.USER)
            return
        try:
            await self._programs.program_control(ProgramAction.PAUSE)
        except DeviceRejectedError as err:  # the program ended meanwhile: nothing runs
            _LOGGER.info("%s", err)

    async def resume(self, now_s: float) -> None:
        """PROGRAM_CONTROL resume; re-upload the rest if the program is gone."""
        if self._host is not None:
            await self._host.resume(now_s)
            return
        if self.ctx.halting:
            return
        if self._program_lost:
            await self.recover(now_s)
            return
        try:
            await self._programs.program_control(ProgramAction.RESUME)
        except DeviceRejectedError as err:
            _LOGGER.info("%s; uploading the rest of the session", err)
            await self._continue(now_s)
            return
        self.thaw(now_s)

    async def skip(self, now_s: float) -> None:
        """Abort the program, complete the step (skipped), upload and run the rest."""
        if self._host is not None:
            await self._host.skip(now_s)
            return
        progress = self.ctx.progress
        if progress.timer is None:
            return
        self._forget_program()
        await self._programs.program_control(ProgramAction.ABORT)
        now_s = self.ctx.clock.now_s()
        progress.complete(now_s, skipped=True)
        if progress.finished:
            self.done = True
            return
        if not await self._upload_or_fall_back(progress.next_index, []):
            assert self._host is not None
            await self._host.recover(now_s)  # the next step is due now
            return
        self._next_deadline_s = now_s
        await self._run()

    def link_lost(self, now_s: float) -> None:
        """Freeze; whatever the old program still reports (its abort) is stale from now on."""
        if self._host is not None:
            self._host.link_lost(now_s)
            return
        super().link_lost(now_s)
        self._forget_program()
        self._program_lost = True

    async def recover(self, now_s: float) -> None:
        """After a reconnect: STOP whatever still runs, upload the rest and run it."""
        if self._host is not None:
            await self._host.recover(now_s)
            return
        self._forget_program()
        await self.halt(StopReason.HOST)
        await self._continue(self.ctx.clock.now_s())

    async def _continue(self, now_s: float) -> None:
        """Upload the frozen step's remainder plus the rest; thaw and run."""
        progress = self.ctx.progress
        if progress.finished:  # the last step ended while the link was down: nothing to upload
            self.done = True
            return
        timer = progress.timer
        head = [] if timer is None else [_continued(timer, now_s)]
        if not await self._upload_or_fall_back(progress.next_index, head):
            assert self._host is not None
            await self._host.recover(self.ctx.clock.now_s())  # setpoint, START, thaw
            return
        if timer is None:
            self._next_deadline_s = now_s
        else:
            self._continuing = True
        self.thaw(self.ctx.clock.now_s())
        await self._run()

    async def _upload_or_fall_back(self, first_index: int, head: Sequence[ProgramStep]) -> bool:
        """_upload(); False (host mode from now on) when uploads make no progress on a live link.

        A lost link is not that: its ConnectionLostError goes up, and recovery uploads again.
        """
        try:
            await self._upload(first_index, head)
        except (DeviceTimeoutError, RequestAbandonedError) as err:
            self._fall_back(str(err))
            return False
        return True

    def _fall_back(self, cause: str) -> None:
        """Go on in host mode from where the session is; tell the therapist why."""
        _LOGGER.warning("%s; the session goes on in host mode", cause)
        host = self._host = HostRunner(self.ctx)
        host.frozen_at_s = self.frozen_at_s
        self._forget_program()
        self.ctx.progress.notice(
            FALLBACK_REASON,
            f"Firmware mode cannot make progress ({cause}); the session goes on in host mode.",
        )

    async def _upload(self, first_index: int, head: Sequence[ProgramStep]) -> None:
        """Upload `head` then the timeline from first_index; program step 0 is `base`."""
        steps = list(head) + [program_step(s) for s in self.ctx.progress.steps[first_index:]]
        self._forget_program()  # the program it replaces reports nothing that counts
        await self._programs.upload_program(steps)
        self._base = first_index - len(head)

    def _forget_program(self) -> None:
        """The program on the device is abandoned: its events are stale from now on."""
        self._awaiting_start = True
        self._run_from_s = None

    async def _run(self) -> None:
        """PROGRAM_CONTROL run, unless the session is being stopped."""
        if self.ctx.halting:
            return
        self._forget_program()
        self._run_from_s = self.ctx.clock.now_s()
        await self._programs.program_control(ProgramAction.RUN)
        self._program_lost = False

    def _started(self, index: int, at_s: float) -> None:
        progress = self.ctx.progress
        if self._continuing and index == self._base:
            self._continuing = False
            return
        if index != progress.next_index or progress.timer is not None:
            _LOGGER.warning("device started step %d, expected %d", index, progress.next_index)
            return
        contact = self.ctx.contact
        timer = progress.start(
            self._next_deadline_s, at_s, in_contact=True, force_n=contact.force_n
        )
        if self.frozen_at_s is not None:  # started just before our PAUSE reached the device
            timer.pause(max(at_s, self.frozen_at_s))

    def _completed(self, index: int, at_s: float) -> None:
        progress = self.ctx.progress
        timer = progress.timer
        if timer is None or timer.step.index != index:
            _LOGGER.warning("device completed step %d, not the running one", index)
            return
        expected_s = timer.end_s()
        # A wall step's next deadline is the plan's (drift-free); a contact hold ends on contact.
        self._next_deadline_s = at_s if timer.step.contact_timed else min(expected_s, at_s)
        progress.complete(at_s)

    def _stale(self, event: StepEvent) -> bool:
        """True for an event of an older program (or of this one's before its STARTED(0))."""
        if self._awaiting_start:
            return not self._starts_program(event)
        start_ms = self._program_ms
        return start_ms is not None and unwrap_u32_ms(event.device_time_ms, start_ms) < start_ms

    def _starts_program(self, event: StepEvent) -> bool:
        """True (and its device time kept) for the STARTED(0) of the program just run."""
        run_s = self._run_from_s
        if run_s is None or event.kind is not StepEventKind.STARTED or event.step_index != 0:
            return False
        if self._before_run(event.device_time_ms, run_s):
            return False
        self._awaiting_start = False
        self._program_ms = event.device_time_ms
        return True

    def _before_run(self, device_time_ms: int, run_s: float) -> bool:
        """True if the device stamped this before the RUN went out, beyond any mapping error."""
        time_map = self.ctx.time_map
        best = time_map.best
        if best is None:  # nothing to compare with: take it
            return False
        now_s = self.ctx.clock.now_s()
        slack_s = _QUANTUM_S + best.error_at_s(now_s, time_map.max_drift_ppm)
        return time_map.to_session_s(device_time_ms) < run_s - slack_s

    def _session_s(self, device_time_ms: int) -> float:
        """Session time of a device time (now, if no mapping exists yet)."""
        time_map = self.ctx.time_map
        if not time_map.ready:
            return self.ctx.clock.now_s()
        return time_map.to_session_s(device_time_ms)
