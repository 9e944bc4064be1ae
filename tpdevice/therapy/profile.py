"""Therapy profile records: the YAML contract of docs/session-engine.md §1 and its safety checks.

Records are frozen dataclasses (a session uses them without pydantic); their field types carry
the checks pydantic applies when it validates one (see profile_fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from tpdevice.therapy.profile_errors import ProfileError
from tpdevice.therapy.profile_fields import (
    CapForceN,
    CapFreqHz,
    Cycles,
    DurationS,
    ForceN,
    FreqHz,
    LongText,
    ProfileId,
    RampNPerS,
    RecoveryH,
    RestFreqHz,
    Text,
    WorkS,
    fmt_num,
)
from tpdevice.therapy.records import Checks, Record

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, ValidationInfo
    from pydantic_core import CoreSchema

__all__ = [
    "DEFER_CHECKS",
    "Attachment",
    "FieldProblem",
    "ForceBand",
    "HoldStep",
    "HoldTimer",
    "HoldTimerPolicy",
    "Laterality",
    "Profile",
    "Progression",
    "ReleaseStep",
    "RestStep",
    "SafetyCaps",
    "Side",
    "Step",
    "StepKindName",
    "SweepStep",
    "fmt_num",
]

# Validation context key: skip the cross-field checks (the loader runs them itself to map lines).
DEFER_CHECKS = "defer_cross_checks"


class Laterality(StrEnum):
    """Where the profile works: both sides one after the other, or once, centred."""

    BILATERAL = "bilateral"
    MIDLINE = "midline"


class Side(StrEnum):
    """One pass of a profile: a side of a bilateral profile, or the midline."""

    LEFT = "left"
    RIGHT = "right"
    MIDLINE = "midline"


class HoldTimerPolicy(StrEnum):
    """How a hold's time counts: wall-clock seconds, or only seconds in contact (up to a cap)."""

    WALL = "wall"
    CONTACT = "contact"


class StepKindName(StrEnum):
    """The four kinds of step."""

    SWEEP = "sweep"
    HOLD = "hold"
    RELEASE = "release"
    REST = "rest"


class Attachment(StrEnum):
    """The head the user fits for the profile."""

    BALL = "ball"
    DAMPENER = "dampener"
    FLAT = "flat"
    CONE = "cone"
    THUMB = "thumb"
    FORK = "fork"


class ForceBand(NamedTuple):
    """The pressure band of a step (or of one hold cycle), in newtons."""

    target_n: float
    low_n: float
    high_n: float

    @classmethod
    def around(cls, target_n: float, tolerance_n: float) -> ForceBand:
        """target +- tolerance, the low edge never below 0."""
        return cls(target_n, max(0.0, target_n - tolerance_n), target_n + tolerance_n)


class FieldProblem(NamedTuple):
    """A cross-field problem: where (a pydantic-style loc) and the full one-line message."""

    loc: tuple[str | int, ...]
    message: str


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class Progression(Record):
    """Each hold cycle k (0-based) targets min(force_target_n + k * force_step_n, force_max_n)."""

    force_step_n: ForceN
    force_max_n: ForceN


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class HoldTimer(Record):
    """Hold timing: `wall` counts wall time; `contact` counts contact time, ended by cap_s."""

    policy: HoldTimerPolicy = HoldTimerPolicy.WALL
    cap_s: DurationS | None = None


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SafetyCaps(Record):
    """The safety caps of a region; nothing in the profile may exceed them."""

    max_force_n: CapForceN
    freq_min_hz: CapFreqHz
    freq_max_hz: CapFreqHz
    max_hold_s: DurationS
    max_work_s: WorkS
    min_recovery_h: RecoveryH

    def freq_allowed(self, freq_hz: float) -> bool:
        """0 (motor off) or inside [freq_min_hz, freq_max_hz]."""
        return freq_hz == 0 or self.freq_min_hz <= freq_hz <= self.freq_max_hz

    def freq_text(self) -> str:
        """The allowed frequencies, e.g. '0 or 28..40 Hz'."""
        return f"0 or {fmt_num(self.freq_min_hz)}..{fmt_num(self.freq_max_hz)} Hz"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SweepStep(Record):
    """Glide along the muscle at freq_hz inside a pressure band for duration_s."""

    kind: Literal["sweep"]
    freq_hz: FreqHz
    force_target_n: ForceN
    force_tolerance_n: ForceN
    force_ramp_n_per_s: RampNPerS = 0.0
    duration_s: DurationS
    cue: LongText = ""

    def band(self, cycle: int = 0) -> ForceBand | None:
        """The pressure band (the same for every cycle)."""
        return ForceBand.around(self.force_target_n, self.force_tolerance_n)

    def planned_s(self) -> float:
        """Seconds this step takes in one pass."""
        return self.duration_s

    def motor_on_s(self) -> float:
        """Seconds the motor may run in one pass."""
        return self.duration_s if self.freq_hz > 0 else 0.0


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class ReleaseStep(Record):
    """Ease off for duration_s; the motor runs at freq_hz (0 = off); a band is optional."""

    kind: Literal["release"]
    freq_hz: FreqHz = 0.0
    force_target_n: ForceN | None = None
    force_tolerance_n: ForceN = 0.0
    force_ramp_n_per_s: RampNPerS = 0.0
    duration_s: DurationS
    cue: LongText = ""

    def band(self, cycle: int = 0) -> ForceBand | None:
        """The pressure band, or None when the step coaches no pressure."""
        if self.force_target_n is None:
            return None
        return ForceBand.around(self.force_target_n, self.force_tolerance_n)

    def planned_s(self) -> float:
        """Seconds this step takes in one pass."""
        return self.duration_s

    def motor_on_s(self) -> float:
        """Seconds the motor may run in one pass."""
        return self.duration_s if self.freq_hz > 0 else 0.0


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class RestStep(Record):
    """Motor off, no pressure, for duration_s."""

    kind: Literal["rest"]
    freq_hz: RestFreqHz = 0.0
    duration_s: DurationS
    cue: LongText = ""

    def band(self, cycle: int = 0) -> ForceBand | None:
        """None: a rest coaches no pressure."""
        return None

    def planned_s(self) -> float:
        """Seconds this step takes in one pass."""
        return self.duration_s

    def motor_on_s(self) -> float:
        """0: the motor is off."""
        return 0.0


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class HoldStep(Record):
    """`cycles` x (hold for hold_s inside the band, then release for release_s)."""

    kind: Literal["hold"]
    freq_hz: FreqHz
    force_target_n: ForceN
    force_tolerance_n: ForceN
    force_ramp_n_per_s: RampNPerS = 0.0
    hold_s: DurationS
    release_s: DurationS
    release_freq_hz: FreqHz = 0.0
    cycles: Cycles = 1
    progression: Progression | None = None
    hold_timer: HoldTimer = HoldTimer()
    cue: LongText = ""

    def force_target_for_cycle(self, cycle: int) -> float:
        """Target of hold cycle `cycle` (0-based) after progression."""
        if self.progression is None:
            return self.force_target_n
        stepped = self.force_target_n + cycle * self.progression.force_step_n
        return min(stepped, self.progression.force_max_n)

    def band(self, cycle: int = 0) -> ForceBand | None:
        """The pressure band of hold cycle `cycle` (0-based)."""
        return ForceBand.around(self.force_target_for_cycle(cycle), self.force_tolerance_n)

    @property
    def timer_cap_s(self) -> float:
        """Longest wall time one hold may take: cap_s, or hold_s when no cap is given."""
        return self.hold_timer.cap_s if self.hold_timer.cap_s is not None else self.hold_s

    def longest_hold_s(self) -> float:
        """Wall time of one hold at worst: hold_s (wall policy) or the timer cap (contact)."""
        if self.hold_timer.policy is HoldTimerPolicy.CONTACT:
            return max(self.hold_s, self.timer_cap_s)
        return self.hold_s

    def planned_s(self) -> float:
        """Seconds this block takes in one pass when every hold runs its hold_s."""
        return self.cycles * (self.hold_s + self.release_s)

    def motor_on_s(self) -> float:
        """Seconds the motor may run in one pass at worst (contact holds up to their cap)."""
        hold = self.longest_hold_s() if self.freq_hz > 0 else 0.0
        release = self.release_s if self.release_freq_hz > 0 else 0.0
        return self.cycles * (hold + release)


Step = Annotated[
    SweepStep | HoldStep | ReleaseStep | RestStep,
    Checks(lambda pydantic: (pydantic.Discriminator("kind"),)),
]


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class Profile(Record):
    """One region's therapy profile; constructing one runs every check of §1."""

    id: ProfileId
    title: Text
    region: Text
    muscles: Annotated[tuple[Text, ...], Checks(lambda pydantic: (pydantic.Field(min_length=1),))]
    laterality: Laterality
    attachment: Attachment
    description: LongText = ""
    referral: LongText = ""
    avoid_zones: tuple[Text, ...]
    contraindications: tuple[Text, ...]
    sources: tuple[Text, ...] = ()
    caps: SafetyCaps
    contact_threshold_n: ForceN = 3.0
    steps: Annotated[
        tuple[Step, ...],
        Checks(lambda pydantic: (pydantic.Field(min_length=1, max_length=64),)),
    ]

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.with_info_after_validator_function(_cross_checked, handler(source))

    def problems(self) -> list[FieldProblem]:
        """Every cross-field problem (caps vs steps); empty for a valid profile."""
        from tpdevice.therapy.profile_checks import cross_field_problems

        return cross_field_problems(self)

    def advice(self) -> list[FieldProblem]:
        """Non-fatal advice, e.g. the profile should end with a low-force sweep."""
        from tpdevice.therapy.profile_checks import advice

        return advice(self)

    def motor_on_s_per_side(self) -> float:
        """Worst-case motor-on seconds in one pass (one side); <= caps.max_work_s."""
        return sum(step.motor_on_s() for step in self.steps)

    def pass_duration_s(self) -> float:
        """Planned seconds of one pass (one side), every hold running its hold_s."""
        return sum(step.planned_s() for step in self.steps)

    def passes(self, side: str | None = None) -> tuple[Side, ...]:
        """The sides to run: bilateral 'both'/None -> left, right; midline -> midline."""
        if self.laterality is Laterality.MIDLINE:
            if side not in (None, Side.MIDLINE.value):
                raise ProfileError(
                    f"profile {self.id} is midline; side must be midline, not {side}"
                )
            return (Side.MIDLINE,)
        if side in (None, "both"):
            return (Side.LEFT, Side.RIGHT)
        if side in (Side.LEFT.value, Side.RIGHT.value):
            return (Side(side),)
        raise ProfileError(f"profile {self.id} is bilateral; side must be left, right or both")

    def duration_s(self, side: str | None = None) -> float:
        """Planned total seconds for `side` (None/'both' on a bilateral profile = two passes)."""
        return self.pass_duration_s() * len(self.passes(side))


def _cross_checked(profile: Profile, info: ValidationInfo) -> Profile:
    """Pydantic: the profile once every cross-field check passes (unless the context defers)."""
    if info.context and info.context.get(DEFER_CHECKS):
        return profile
    problems = profile.problems()
    if problems:
        raise ValueError("; ".join(problem.message for problem in problems))
    return profile
