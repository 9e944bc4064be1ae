"""Pressure coaching: measured force against the step's band (with its ramp) and the safety cap."""

from __future__ import annotations

import enum
import math

from tpdevice.therapy.timeline import PlannedStep

__all__ = ["PressureCoach", "Verdict"]


class Verdict(enum.Enum):
    """What one force sample calls for."""

    LOW = "pressure.low"  # below the band for longer than the coaching delay
    HIGH = "pressure.high"  # above the band for longer than the coaching delay
    OVER_CAP = "over_pressure"  # above the safety cap for over_cap_after_s: stop now
    BACK_IN_BAND = "pressure.in_band"  # a reported LOW or HIGH ended: back in the band


class PressureCoach:
    """Follows force samples of the running step: band time, peak, coaching cues, the cap.

    During a step's ramp the coached target rises from the force at the step's start at
    force_ramp_n_per_s, so "more pressure" is not asked for before the ramp allows it.
    Each excursion out of the band is reported once; its return to the band is reported
    too (BACK_IN_BAND), so a "more pressure" notice clears when the pressure is right again.
    """

    def __init__(self, cap_n: float, coach_after_s: float, over_cap_after_s: float) -> None:
        self.cap_n = cap_n
        self.coach_after_s = coach_after_s
        self.over_cap_after_s = over_cap_after_s
        self.time_in_band_s = 0.0
        self.peak_force_n = 0.0
        self._step: PlannedStep | None = None
        self._ramp_from_n = 0.0
        self._ramp_start_s = 0.0
        self._last: tuple[float, bool] | None = None  # (time, in band) of the previous sample
        self._out_since_s: float | None = None
        self._out_side: Verdict | None = None
        self._reported = False
        self._over_since_s: float | None = None
        self.reported_side: Verdict | None = None  # the side of the last reported excursion

    def begin_step(self, step: PlannedStep | None, now_s: float, force_n: float) -> None:
        """A new step (or None between steps): fresh band statistics and ramp."""
        self._step = step
        self.time_in_band_s = 0.0
        self.peak_force_n = 0.0
        self._ramp_from_n = force_n
        self._ramp_start_s = now_s
        self._last = None
        self._clear_excursion()

    def interrupt(self) -> None:
        """Samples stop counting (pause, lost link) until the next one after resume()."""
        self._last = None
        self._clear_excursion()
        self._over_since_s = None

    def resume(self, now_s: float, force_n: float) -> None:
        """Counting again; the ramp restarts from the current force."""
        self._ramp_from_n = force_n
        self._ramp_start_s = now_s

    def coached_low_n(self, now_s: float) -> float:
        """The lower band edge now (lower while the ramp is still rising)."""
        step = self._step
        if step is None or not step.has_band:
            return 0.0
        target_n = step.band_target_n
        ramp = step.force_ramp_n_per_s
        if ramp > 0 and self._ramp_from_n < target_n:
            target_n = min(target_n, self._ramp_from_n + ramp * (now_s - self._ramp_start_s))
        return max(0.0, target_n - step.band_tolerance_n)

    def sample(self, force_n: float, now_s: float, *, coach_low: bool = True) -> Verdict | None:
        """Account one sample; the verdict it triggers, if any (OVER_CAP first)."""
        self.peak_force_n = max(self.peak_force_n, force_n)
        if self._over_cap(force_n, now_s):
            return Verdict.OVER_CAP
        step = self._step
        if step is None or not step.has_band:
            return None
        side = self._side(step, force_n, now_s)
        if self._last is not None and self._last[1]:
            self.time_in_band_s += max(0.0, now_s - self._last[0])
        self._last = (now_s, side is None)
        if side is Verdict.LOW and not coach_low:  # no contact: nothing to coach, no verdict
            self._clear_excursion()
            return None
        return self._excursion(side, now_s)

    def _over_cap(self, force_n: float, now_s: float) -> bool:
        """True once force stayed above the cap for over_cap_after_s (0: the first sample)."""
        if not force_n > self.cap_n:
            self._over_since_s = None
            return False
        if self._over_since_s is None:
            self._over_since_s = now_s
        return now_s - self._over_since_s >= self.over_cap_after_s

    def _side(self, step: PlannedStep, force_n: float, now_s: float) -> Verdict | None:
        """LOW, HIGH, or None inside the band (edges included)."""
        if force_n < self.coached_low_n(now_s):
            return Verdict.LOW
        if force_n > step.band_high_n:
            return Verdict.HIGH
        return None

    def _excursion(self, side: Verdict | None, now_s: float) -> Verdict | None:
        """Report an excursion once it lasted coach_after_s, and its end once back in band."""
        if side is None:
            was_reported = self._reported
            self._clear_excursion()
            return Verdict.BACK_IN_BAND if was_reported else None
        if side is not self._out_side:
            self._out_side, self._out_since_s, self._reported = side, now_s, False
        since_s = self._out_since_s if self._out_since_s is not None else math.inf
        if not self._reported and now_s - since_s >= self.coach_after_s:
            self._reported = True
            self.reported_side = side
            return side
        return None

    def _clear_excursion(self) -> None:
        self._out_side, self._out_since_s, self._reported = None, None, False
