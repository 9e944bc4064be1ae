"""The end-of-session summary: per step planned vs actual, pressure, cues and faults; totals."""

from __future__ import annotations

from dataclasses import dataclass, field

from tpdevice.therapy.records import Record

__all__ = ["StepSummary", "Summary"]


@dataclass(kw_only=True, eq=False, repr=False)
class StepSummary(Record):
    """One planned step as it ran (actual fields None when it never started)."""

    index: int
    kind: str
    side: str
    cycle: int
    planned_start_s: float
    planned_duration_s: float
    actual_start_s: float | None = None  # offset from session start, session clock
    actual_duration_s: float | None = None  # pauses excluded
    lateness_ms: float | None = None  # scheduling: issued after its deadline by this much
    shift_s: float | None = None  # its deadline after the planned start: pauses, contact, links
    completed: bool = False
    skipped: bool = False
    time_in_band_s: float = 0.0
    peak_force_n: float = 0.0
    pressure_low: int = 0  # pressure.low cues
    pressure_high: int = 0  # pressure.high cues
    contact_losses: int = 0  # hold.paused by lost contact
    faults: list[str] = field(default_factory=list)


@dataclass(kw_only=True, eq=False, repr=False)
class Summary(Record):
    """The whole session: outcome, plan vs actual, pressure totals, every step."""

    session_id: str
    profile_id: str
    device: str
    side: str
    mode: str
    outcome: str  # created | running | paused | completed | aborted | failed
    reason: str = ""
    cause: str = ""  # what ended it, when not completed (for a failure: the error)
    planned_duration_s: float
    actual_duration_s: float = 0.0  # session start to end, pauses included
    paused_s: float = 0.0
    steps_planned: int
    force_sensing: bool = True  # False: no force sensor, so time in band and peak say nothing
    steps_completed: int = 0
    steps_skipped: int = 0
    time_in_band_s: float = 0.0
    peak_force_n: float = 0.0
    pressure_low: int = 0
    pressure_high: int = 0
    faults: list[str] = field(default_factory=list)
    lateness_p50_ms: float | None = None
    lateness_max_ms: float | None = None
    shift_max_s: float | None = None  # the most any step's start was moved by pauses and waits
    steps: list[StepSummary] = field(default_factory=list)
