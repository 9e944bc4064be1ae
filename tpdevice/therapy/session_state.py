"""Session enums, options, how a session ended, mode choice and the summary it builds."""

from __future__ import annotations

import enum
import math
import statistics
from dataclasses import dataclass, fields

from tpdevice.therapy.commands import EndReason
from tpdevice.therapy.compat import SessionError
from tpdevice.therapy.progress import StepRecord, step_summaries
from tpdevice.therapy.summary import Summary
from tpdevice.therapy.timeline import Timeline

__all__ = [
    "OPTION_RANGES",
    "TERMINAL",
    "Ending",
    "ExecutionMode",
    "SessionOptions",
    "SessionProgress",
    "SessionState",
    "build_progress",
    "build_summary",
    "resolve_mode",
]


class ExecutionMode(enum.StrEnum):
    """Who times the steps: the host (SET_OUTPUT at deadlines) or the device (a program)."""

    AUTO = "auto"  # firmware when the device runs programs of this length, else host
    HOST = "host"
    FIRMWARE = "firmware"


class SessionState(enum.StrEnum):
    """Life cycle of a Session."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"  # by the user, or the link is lost (motor stopped either way)
    COMPLETED = "completed"
    ABORTED = "aborted"  # user stop, over_pressure, device_fault, cancelled
    FAILED = "failed"  # the link did not come back, or the device refused something


TERMINAL = frozenset({SessionState.COMPLETED, SessionState.ABORTED, SessionState.FAILED})


# Allowed ranges: the over-pressure delay may not switch the cap stop off, the others
# must stay useful (a cue minutes late is no cue; a grace of hours is a motor left waiting).
OPTION_RANGES: dict[str, tuple[float, float]] = {
    "coach_after_s": (0.0, 30.0),
    "over_pressure_after_s": (0.0, 1.0),
    "reconnect_grace_s": (0.0, 600.0),
}


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Tunables of a session; seconds are session-clock seconds (ranges: OPTION_RANGES)."""

    coach_after_s: float = 2.0  # out of the band this long -> pressure.low / pressure.high
    over_pressure_after_s: float = 0.1  # above the cap this long -> STOP, aborted(over_pressure)
    reconnect_grace_s: float = 30.0  # a lost link may take this long to come back

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            low, high = OPTION_RANGES[field.name]
            ok = isinstance(value, int | float) and math.isfinite(value) and low <= value <= high
            if not ok:
                raise SessionError(
                    f"session option {field.name}={value!r} is outside {low:g}..{high:g} s"
                )


@dataclass(frozen=True, slots=True)
class Ending:
    """How a session ends: terminal state, reason, detail (the cause, for a failure the error)."""

    state: SessionState
    reason: EndReason
    detail: str


def resolve_mode(mode: ExecutionMode, timeline: Timeline, address: str) -> ExecutionMode:
    """AUTO -> FIRMWARE when the device runs a program this long, else HOST; check FIRMWARE."""
    fit = timeline.fit
    count = len(timeline.steps)
    fits = fit.program and count <= fit.max_program_steps
    if mode is ExecutionMode.AUTO:
        return ExecutionMode.FIRMWARE if fits else ExecutionMode.HOST
    if mode is ExecutionMode.FIRMWARE and not fits:
        why = "runs no programs" if not fit.program else f"takes {fit.max_program_steps} steps"
        raise SessionError(
            f"{address}: firmware mode needs a {count}-step program and the device {why}"
        )
    return mode


@dataclass(frozen=True, slots=True)
class SessionProgress:
    """How far a session is: what its summary's totals say, without the per-step rows."""

    side: str
    steps_completed: int
    steps_planned: int
    elapsed_s: float  # since the session started, pauses included (0 before it starts)
    planned_duration_s: float
    cause: str


def build_progress(
    timeline: Timeline, records: list[StepRecord], t0_s: float | None, end_s: float, cause: str
) -> SessionProgress:
    """The SessionProgress of a session from its step records."""
    return SessionProgress(
        side=timeline.side_label,
        steps_completed=sum(1 for r in records if r.completed and not r.skipped),
        steps_planned=len(records),
        elapsed_s=max(0.0, end_s - t0_s) if t0_s is not None else 0.0,
        planned_duration_s=timeline.duration_s,
        cause=cause,
    )


def build_summary(
    *,
    session_id: str,
    profile_id: str,
    device: str,
    timeline: Timeline,
    mode: ExecutionMode,
    state: SessionState,
    reason: EndReason,
    cause: str,
    records: list[StepRecord],
    t0_s: float | None,
    end_s: float,
    paused_s: float,
    faults: list[str],
) -> Summary:
    """The Summary of a session from its step records."""
    steps = step_summaries(records, t0_s)
    progress = build_progress(timeline, records, t0_s, end_s, cause)
    lateness = [r.lateness_ms for r in records if r.lateness_ms is not None]
    return Summary(
        session_id=session_id, profile_id=profile_id, device=device, side=progress.side,
        mode=mode.value, outcome=state.value, reason=reason.value, cause=cause,
        planned_duration_s=progress.planned_duration_s, actual_duration_s=progress.elapsed_s,
        paused_s=paused_s, steps_planned=progress.steps_planned,
        force_sensing=timeline.fit.force_sensing, steps_completed=progress.steps_completed,
        steps_skipped=sum(1 for s in steps if s.skipped),
        time_in_band_s=sum(s.time_in_band_s for s in steps),
        peak_force_n=max((s.peak_force_n for s in steps), default=0.0),
        pressure_low=sum(s.pressure_low for s in steps),
        pressure_high=sum(s.pressure_high for s in steps),
        faults=list(faults),
        lateness_p50_ms=statistics.median(lateness) if lateness else None,
        lateness_max_ms=max(lateness) if lateness else None,
        shift_max_s=max((s.shift_s for s in steps if s.shift_s is not None), default=None),
        steps=steps,
    )  # fmt: skip
