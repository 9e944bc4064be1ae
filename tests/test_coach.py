"""PressureCoach: a cue once an excursion lasts, its end reported once back in the band."""

from __future__ import annotations

from engine_helpers import small_profile

from tpdevice.therapy.coach import PressureCoach, Verdict
from tpdevice.therapy.timeline import compile_profile


def coach_on_first_sweep() -> PressureCoach:
    """A coach on small_profile's first sweep (band 5..15 N, 10 N/s ramp), started at 10 N."""
    step = compile_profile(small_profile(), "left").steps[0]
    coach = PressureCoach(cap_n=30.0, coach_after_s=1.0, over_cap_after_s=0.1)
    coach.begin_step(step, 0.0, 10.0)
    return coach


def feed(coach: PressureCoach, samples: list[tuple[float, float]], **kw: bool) -> list[Verdict]:
    verdicts = [coach.sample(force_n, now_s, **kw) for now_s, force_n in samples]
    return [v for v in verdicts if v is not None]


def test_low_then_back_in_band() -> None:
    coach = coach_on_first_sweep()
    low = [(1.0 + 0.25 * i, 2.0) for i in range(6)]  # 1.0 .. 2.25 s below the band
    assert feed(coach, low) == [Verdict.LOW]
    assert feed(coach, [(2.5, 10.0), (2.75, 10.0)]) == [Verdict.BACK_IN_BAND]
    assert coach.reported_side is Verdict.LOW


def test_high_then_back_in_band() -> None:
    coach = coach_on_first_sweep()
    assert feed(coach, [(1.0, 20.0), (2.0, 20.0), (2.5, 20.0)]) == [Verdict.HIGH]
    assert feed(coach, [(3.0, 12.0)]) == [Verdict.BACK_IN_BAND]
    assert coach.reported_side is Verdict.HIGH


def test_a_lifted_gun_ends_a_low_cue_without_calling_it_in_band() -> None:
    coach = coach_on_first_sweep()
    assert feed(coach, [(1.0, 2.0), (2.0, 2.0)]) == [Verdict.LOW]
    assert feed(coach, [(2.5, 0.0)], coach_low=False) == []  # no contact: nothing to coach
    assert feed(coach, [(3.0, 10.0)]) == []  # back in band: the cue already ended


def test_a_short_excursion_says_nothing() -> None:
    coach = coach_on_first_sweep()
    assert feed(coach, [(1.0, 2.0), (1.5, 2.0), (1.75, 10.0), (3.0, 10.0)]) == []
