"""Where a session is in its timeline: the running step, its timer, records, and their events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tpdevice.therapy.coach import PressureCoach, Verdict
from tpdevice.therapy.events import (
    CueEvent,
    Event,
    HoldPaused,
    HoldResumed,
    HoldStarted,
    PressureHigh,
    PressureInBand,
    PressureLow,
    ReleaseStarted,
    StepCompleted,
    StepStarted,
)
from tpdevice.therapy.profile import StepKindName
from tpdevice.therapy.steptimer import StepTimer
from tpdevice.therapy.summary import StepSummary
from tpdevice.therapy.timeline import PlannedStep, Timeline

__all__ = ["Emit", "Progress", "StepRecord", "step_summaries"]

Emit = Callable[..., Event]  # emit(EventClass, **fields) -> the published event


@dataclass(slots=True)
class StepRecord:
    """What happened to one planned step."""

    step: PlannedStep
    start_s: float | None = None  # session clock
    deadline_s: float | None = None
    lateness_ms: float | None = None  # issued after its deadline by this much
    shift_s: float | None = None  # its deadline after its planned start (pauses, contact, links)
    active_s: float | None = None  # run time, pauses excluded
    completed: bool = False
    skipped: bool = False
    time_in_band_s: float = 0.0
    peak_force_n: float = 0.0
    pressure_low: int = 0
    pressure_high: int = 0
    contact_losses: int = 0
    faults: list[str] = field(default_factory=list)


class Progress:
    """Starts and completes steps, keeps their timers and records, and emits their events.

    Both execution modes drive it, so both produce the same event stream.
    """

    def __init__(self, timeline: Timeline, emit: Emit, coach: PressureCoach) -> None:
        self.timeline = timeline
        self.steps = timeline.steps
        self.records = [StepRecord(step) for step in timeline.steps]
        self.timer: StepTimer | None = None
        self.next_index = 0  # the step to start next
        self.t0_s = 0.0  # session start: events give start times as offsets from it
        self._emit = emit
        self._coach = coach
        self._told_contact = True  # what the last hold.started/paused/resumed said

    @property
    def current(self) -> PlannedStep | None:
        """The running step, if any."""
        return self.timer.step if self.timer is not None else None

    @property
    def finished(self) -> bool:
        """True once every step was completed or skipped."""
        return self.timer is None and self.next_index >= len(self.steps)

    def fields(self, step: PlannedStep) -> dict[str, Any]:
        """The step fields every step event carries."""
        return {
            "step_index": step.index, "kind": step.kind.value, "side": step.side.value,
            "cycle": step.cycle,
        }  # fmt: skip

    def start(
        self, deadline_s: float, actual_s: float, *, in_contact: bool, force_n: float
    ) -> StepTimer:
        """Start the next step, due at deadline_s, issued at actual_s; emit its events."""
        step = self.steps[self.next_index]
        self.next_index += 1
        timer = self.timer = StepTimer(step, deadline_s, in_contact=in_contact)
        record = self.records[step.index]
        lateness_ms = max(0.0, (actual_s - deadline_s) * 1000.0)
        record.start_s, record.deadline_s, record.lateness_ms = actual_s, deadline_s, lateness_ms
        record.shift_s = deadline_s - self.t0_s - step.start_s
        self._coach.begin_step(step, actual_s, force_n)
        base = self.fields(step)
        self._emit(
            StepStarted, **base, planned_start_s=step.start_s,
            actual_start_s=actual_s - self.t0_s, lateness_ms=lateness_ms, shift_s=record.shift_s,
            duration_s=step.duration_s, freq_hz=step.freq_hz,
            band_low_n=step.band_low_n, band_high_n=step.band_high_n, cue=step.cue,
        )  # fmt: skip
        self._told_contact = True
        if step.kind is StepKindName.HOLD:
            self._emit(
                HoldStarted, **base, duration_s=step.duration_s, policy=step.hold_policy.value,
                cap_s=step.hold_cap_s if step.contact_timed else None,
                band_low_n=step.band_low_n, band_high_n=step.band_high_n,
            )  # fmt: skip
            if not timer.in_contact:
                self._tell_contact(timer, actual_s, force_n)
        elif step.kind is StepKindName.RELEASE:
            self._emit(ReleaseStarted, **base, duration_s=step.duration_s, freq_hz=step.freq_hz)
        return timer

    def complete(self, end_s: float, *, skipped: bool = False) -> PlannedStep:
        """End the running step at end_s (its deadline, or now when skipped)."""
        timer = self.timer
        assert timer is not None, "no step is running"
        self.timer = None
        step = timer.step
        record = self.records[step.index]
        record.active_s = timer.active_s(end_s)
        record.completed, record.skipped = True, skipped
        record.time_in_band_s = self._coach.time_in_band_s
        record.peak_force_n = self._coach.peak_force_n
        self._coach.begin_step(None, end_s, 0.0)
        self._emit(
            StepCompleted, **self.fields(step), duration_s=record.active_s, skipped=skipped,
            time_in_band_s=record.time_in_band_s, peak_force_n=record.peak_force_n,
        )  # fmt: skip
        return step

    def interrupt(self, now_s: float) -> None:
        """The session ends mid-step: record how far the running step got."""
        timer = self.timer
        if timer is None:
            return
        record = self.records[timer.step.index]
        record.active_s = timer.active_s(now_s)
        record.time_in_band_s = self._coach.time_in_band_s
        record.peak_force_n = self._coach.peak_force_n

    def set_contact(self, in_contact: bool, now_s: float, force_n: float) -> bool:
        """Contact changed under a contact-policy hold: pause/resume its timer, emit; True if so."""
        timer = self.timer
        if timer is None or not timer.set_contact(in_contact, now_s):
            return False
        if not timer.paused:  # while paused, told by tell_contact() after session.resumed
            self._tell_contact(timer, now_s, force_n)
        return True

    def tell_contact(self, now_s: float, force_n: float) -> None:
        """After a pause: hold.paused / hold.resumed for a change the frozen timer took."""
        timer = self.timer
        if timer is None or timer.paused or timer.full or not timer.step.contact_timed:
            return
        if timer.in_contact != self._told_contact:
            self._tell_contact(timer, now_s, force_n)

    def coach(self, verdict: Verdict, force_n: float) -> None:
        """Emit a pressure.low / pressure.high cue, or pressure.in_band when one clears."""
        step = self.current
        if step is None or verdict is Verdict.OVER_CAP:
            return
        if verdict is Verdict.BACK_IN_BAND:
            after = "high" if self._coach.reported_side is Verdict.HIGH else "low"
            self._emit(
                PressureInBand, **self.fields(step), force_n=force_n,
                band_low_n=step.band_low_n, band_high_n=step.band_high_n, after=after,
            )  # fmt: skip
            return
        record = self.records[step.index]
        cls: type[PressureLow] | type[PressureHigh]
        if verdict is Verdict.LOW:
            record.pressure_low += 1
            cls = PressureLow
        else:
            record.pressure_high += 1
            cls = PressureHigh
        self._emit(
            cls, **self.fields(step), force_n=force_n, band_low_n=step.band_low_n,
            band_high_n=step.band_high_n,
        )  # fmt: skip

    def notice(self, reason: str, text: str) -> None:
        """Emit a cue the therapist should know of (at the running step, if any)."""
        step = self.current
        self._emit(CueEvent, reason=reason, cue=text, step_index=step.index if step else None)

    def note_fault(self, code: str) -> int | None:
        """Record a device fault against the running step; its index."""
        step = self.current
        if step is None:
            return None
        self.records[step.index].faults.append(code)
        return step.index

    def _tell_contact(self, timer: StepTimer, now_s: float, force_n: float) -> None:
        """hold.resumed or hold.paused (a contact loss) for the timer's contact now."""
        self._told_contact = timer.in_contact
        cls: type[HoldResumed] | type[HoldPaused] = HoldResumed
        if not timer.in_contact:
            self.records[timer.step.index].contact_losses += 1
            cls = HoldPaused
        self._emit(
            cls, **self.fields(timer.step), remaining_s=timer.remaining_s(now_s), force_n=force_n
        )


def step_summaries(records: list[StepRecord], t0_s: float | None) -> list[StepSummary]:
    """Per step: planned vs actual start (offsets from t0) and duration, pressure, cues."""
    out = []
    for record in records:
        step = record.step
        start_s = record.start_s
        out.append(
            StepSummary(
                index=step.index, kind=step.kind.value, side=step.side.value, cycle=step.cycle,
                planned_start_s=step.start_s, planned_duration_s=step.duration_s,
                actual_start_s=None if start_s is None or t0_s is None else start_s - t0_s,
                actual_duration_s=record.active_s, lateness_ms=record.lateness_ms,
                shift_s=record.shift_s,
                completed=record.completed and not record.skipped, skipped=record.skipped,
                time_in_band_s=record.time_in_band_s, peak_force_n=record.peak_force_n,
                pressure_low=record.pressure_low, pressure_high=record.pressure_high,
                contact_losses=record.contact_losses, faults=list(record.faults),
            )
        )  # fmt: skip
    return out
