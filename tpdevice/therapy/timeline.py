"""Compiling: a profile, a side and overrides become a flat timeline of capped steps."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tpdevice.protocol import Capabilities
from tpdevice.therapy.compat import DeviceFit, SessionError, fit_device
from tpdevice.therapy.profile import (
    HoldStep,
    HoldTimerPolicy,
    Profile,
    ReleaseStep,
    RestStep,
    Side,
    StepKindName,
    SweepStep,
)
from tpdevice.units import range_with_unit, with_unit

__all__ = ["Note", "Overrides", "PlannedStep", "Timeline", "compile_profile"]

_RELEASE_CUE = "Release: ease off the pressure."


# The ranges of what a user may override (inclusive).
_OVERRIDE_RANGES = {"intensity_pct": (50.0, 120.0), "freq_offset_hz": (-10.0, 10.0)}


@dataclass(frozen=True, kw_only=True)
class Overrides:
    """What a user may change at run time; the result is clamped to every cap anyway.

    Making one with a value out of range raises SessionError, in one line naming it.
    """

    intensity_pct: float = 100.0  # scales pressure targets
    freq_offset_hz: float = 0.0  # added to motor-on frequencies

    def __post_init__(self) -> None:
        for name, (low, high) in _OVERRIDE_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SessionError(f"override {name}={value!r}: Input should be a valid number")
            if not value >= low:  # `not >=`: NaN is out of range too
                raise SessionError(
                    f"override {name}={value!r}: Input should be greater than or equal to {low:g}"
                )
            if not value <= high:
                raise SessionError(
                    f"override {name}={value!r}: Input should be less than or equal to {high:g}"
                )

    @classmethod
    def checked(cls, **values: float) -> Overrides:
        """Overrides from user input; SessionError with one line when a value is unknown or out
        of range."""
        for name, value in values.items():
            if name not in _OVERRIDE_RANGES:
                raise SessionError(f"override {name}={value!r}: Extra inputs are not permitted")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step of the timeline, every value already capped for the device."""

    index: int
    kind: StepKindName
    side: Side
    cycle: int  # 1.. within a hold block (hold and its release), 0 otherwise
    source_index: int  # the profile step it came from
    freq_hz: float  # 0 = motor off
    # What SET_OUTPUT / PROGRAM_STEP carry: target + tolerance <= force_cap_n; all 0 for a
    # device that takes no force fields (DeviceFit.force_output False: the band is a cue).
    force_target_n: float
    force_tolerance_n: float
    force_ramp_n_per_s: float
    force_cap_n: float
    has_band: bool  # False: no pressure is coached (rest, hold release)
    band_target_n: float  # the band coached (or shown as a cue): target +- tolerance
    band_tolerance_n: float
    duration_s: float  # wall seconds, or contact seconds for a contact hold
    hold_policy: HoldTimerPolicy
    hold_cap_s: float  # wall-time cap of a contact hold (= duration_s otherwise)
    contact_threshold_n: float
    cue: str
    start_s: float  # planned offset from session start (holds at their duration)

    @property
    def band_low_n(self) -> float:
        """Lower edge of the coached band (0 without a band)."""
        return max(0.0, self.band_target_n - self.band_tolerance_n) if self.has_band else 0.0

    @property
    def band_high_n(self) -> float:
        """Upper edge of the coached band (0 without a band)."""
        return self.band_target_n + self.band_tolerance_n if self.has_band else 0.0

    @property
    def end_s(self) -> float:
        """Planned end offset."""
        return self.start_s + self.duration_s

    @property
    def contact_timed(self) -> bool:
        """True when lost contact pauses this step's timer."""
        return self.hold_policy is HoldTimerPolicy.CONTACT


@dataclass(frozen=True, slots=True)
class Note:
    """Something compiling changed or degraded, for a `cue` event at session start."""

    reason: str  # freq_clamped | no_force_sensor | contact_as_wall
    text: str


@dataclass(frozen=True, slots=True)
class Timeline:
    """A compiled profile: the flat steps of every side, and the limits they were capped to."""

    profile_id: str
    sides: tuple[Side, ...]
    steps: tuple[PlannedStep, ...]
    fit: DeviceFit
    overrides: Overrides
    notes: tuple[Note, ...]

    @property
    def duration_s(self) -> float:
        """Planned seconds, every hold at its duration."""
        return self.steps[-1].end_s if self.steps else 0.0

    @property
    def side_label(self) -> str:
        """'left', 'right', 'both' or 'midline'."""
        return self.sides[0].value if len(self.sides) == 1 else "both"


class _Compiler:
    """Expands one profile pass by pass, capping every value on the way."""

    def __init__(self, profile: Profile, overrides: Overrides, fit: DeviceFit) -> None:
        self.profile = profile
        self.overrides = overrides
        self.fit = fit
        self.steps: list[PlannedStep] = []
        self.notes: dict[str, Note] = {}
        self._start_s = 0.0

    def add_pass(self, side: Side) -> None:
        for source_index, step in enumerate(self.profile.steps):
            if isinstance(step, HoldStep):
                self._add_hold_block(side, source_index, step)
            else:
                self._add_plain(side, source_index, step)

    def _add_plain(
        self, side: Side, source_index: int, step: SweepStep | ReleaseStep | RestStep
    ) -> None:
        band = step.band()
        ramp = getattr(step, "force_ramp_n_per_s", 0.0)
        self._append(
            side, source_index, StepKindName(step.kind), 0, step.freq_hz,
            band, ramp, step.duration_s, HoldTimerPolicy.WALL, step.duration_s, step.cue,
        )  # fmt: skip

    def _add_hold_block(self, side: Side, source_index: int, step: HoldStep) -> None:
        policy, cap_s = step.hold_timer.policy, min(step.timer_cap_s, self.profile.caps.max_hold_s)
        if policy is HoldTimerPolicy.CONTACT and not self.fit.contact_sensing:
            policy, cap_s = HoldTimerPolicy.WALL, step.hold_s
            self._note("contact_as_wall", "the device cannot sense contact: holds count wall time")
        for cycle in range(step.cycles):
            band = step.band(cycle)
            self._append(
                side, source_index, StepKindName.HOLD, cycle + 1, step.freq_hz, band,
                step.force_ramp_n_per_s, step.hold_s, policy, max(cap_s, step.hold_s), step.cue,
            )  # fmt: skip
            self._append(
                side, source_index, StepKindName.RELEASE, cycle + 1, step.release_freq_hz, None,
                0.0, step.release_s, HoldTimerPolicy.WALL, step.release_s, _RELEASE_CUE,
            )  # fmt: skip

    def _append(
        self,
        side: Side,
        source_index: int,
        kind: StepKindName,
        cycle: int,
        freq_hz: float,
        band: tuple[float, float, float] | None,
        ramp_n_per_s: float,
        duration_s: float,
        policy: HoldTimerPolicy,
        cap_s: float,
        cue: str,
    ) -> None:
        target_n, tolerance_n = self._capped_band(band)
        out = 1.0 if self.fit.force_output else 0.0  # force fields a device does not take: 0
        planned = PlannedStep(
            index=len(self.steps), kind=kind, side=side, cycle=cycle, source_index=source_index,
            freq_hz=self._capped_freq(source_index, freq_hz), force_target_n=target_n * out,
            force_tolerance_n=tolerance_n * out,
            force_ramp_n_per_s=max(0.0, ramp_n_per_s) * out,
            force_cap_n=self.fit.force_cap_n * out, has_band=band is not None,
            band_target_n=target_n, band_tolerance_n=tolerance_n, duration_s=duration_s,
            hold_policy=policy, hold_cap_s=cap_s,
            contact_threshold_n=min(self.profile.contact_threshold_n, self.fit.force_cap_n),
            cue=cue, start_s=self._start_s,
        )  # fmt: skip
        self._start_s += duration_s
        self.steps.append(planned)

    def _capped_band(self, band: tuple[float, float, float] | None) -> tuple[float, float]:
        """(target, tolerance) scaled by intensity, with target + tolerance <= the force cap."""
        if band is None:
            return 0.0, 0.0
        target_n, _low_n, high_n = band
        cap_n = self.fit.force_cap_n
        tolerance_n = _floor_tenth(min(high_n - target_n, cap_n / 2))
        scaled_n = target_n * self.overrides.intensity_pct / 100.0
        return max(0.0, _floor_tenth(min(scaled_n, cap_n - tolerance_n))), tolerance_n

    def _capped_freq(self, source_index: int, freq_hz: float) -> float:
        """The offset frequency clamped into the shared range (0 stays off); notes a clamp."""
        if freq_hz <= 0:
            return 0.0
        wanted = freq_hz + self.overrides.freq_offset_hz
        capped = self.fit.clamp_freq(wanted)
        if abs(capped - wanted) > 0.005:
            fit = self.fit
            self._note(
                f"freq_clamped:{source_index}",
                f"steps[{source_index}]: {with_unit(wanted, 'Hz')} clamped to "
                f"{with_unit(capped, 'Hz')} (allowed "
                f"{range_with_unit(fit.freq_min_hz, fit.freq_max_hz, 'Hz')})",
            )
        return capped

    def _note(self, key: str, text: str) -> None:
        reason = key.split(":", 1)[0]
        self.notes.setdefault(key, Note(reason, text))


def _floor_tenth(value_n: float) -> float:
    """Round down to the 0.1 N wire unit so encoding never rounds above a cap."""
    return math.floor(value_n * 10 + 1e-9) / 10


def compile_profile(
    profile: Profile,
    side: str | None = None,
    overrides: Overrides | None = None,
    capabilities: Capabilities | None = None,
    *,
    address: str = "",
) -> Timeline:
    """Expand sides and cycles into planned steps, capped by the profile and the device.

    `side`: left, right, both (None: both for a bilateral profile, midline for a midline one).
    Raises ProfileError for a side the profile does not have, CompatibilityError when the
    profile and device ranges do not overlap.
    """
    overrides = overrides or Overrides()
    fit = fit_device(profile, capabilities, address)
    compiler = _Compiler(profile, overrides, fit)
    sides = profile.passes(side)
    for one_side in sides:
        compiler.add_pass(one_side)
    if not fit.force_sensing:
        compiler._note(
            "no_force_sensor",
            "the device cannot measure force: pressure targets are cues only, not coached",
        )
    return Timeline(
        profile_id=profile.id,
        sides=sides,
        steps=tuple(compiler.steps),
        fit=fit,
        overrides=overrides,
        notes=tuple(compiler.notes.values()),
    )
