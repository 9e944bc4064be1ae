"""Compiling a profile into a timeline: sides, cycles, progression, overrides and device caps."""

from __future__ import annotations

import math

import pytest
from engine_helpers import fake_caps, small_profile

from tpdevice.protocol import Feature
from tpdevice.therapy.compat import CompatibilityError, SessionError
from tpdevice.therapy.profile import HoldTimerPolicy, Side, StepKindName
from tpdevice.therapy.profile_errors import ProfileError
from tpdevice.therapy.timeline import Overrides, compile_profile


def test_both_sides_expand_left_then_right() -> None:
    profile = small_profile()
    timeline = compile_profile(profile, "both")
    steps = timeline.steps
    assert len(steps) == 14 and timeline.side_label == "both"
    assert [s.side for s in steps] == [Side.LEFT] * 7 + [Side.RIGHT] * 7
    assert [s.index for s in steps] == list(range(14))
    kinds = [s.kind.value for s in steps[:7]]
    assert kinds == ["sweep", "hold", "release", "hold", "release", "rest", "sweep"]
    assert [s.kind for s in steps[7:]] == [s.kind for s in steps[:7]]
    assert timeline.duration_s == profile.duration_s("both") == 140.0
    starts = [s.start_s for s in steps]
    assert starts[:4] == [0.0, 10.0, 30.0, 35.0] and starts[7] == 70.0
    assert compile_profile(profile).side_label == "both"  # None = both for bilateral


def test_one_side_and_midline() -> None:
    assert {s.side for s in compile_profile(small_profile(), "right").steps} == {Side.RIGHT}
    midline = small_profile(laterality="midline")
    timeline = compile_profile(midline)
    assert {s.side for s in timeline.steps} == {Side.MIDLINE} and len(timeline.steps) == 7
    with pytest.raises(ProfileError, match="midline"):
        compile_profile(midline, "left")
    with pytest.raises(ProfileError, match="left, right or both"):
        compile_profile(small_profile(), "up")


def test_cycles_and_progression() -> None:
    steps = compile_profile(small_profile(), "left").steps
    holds = [s for s in steps if s.kind is StepKindName.HOLD]
    releases = [s for s in steps if s.kind is StepKindName.RELEASE]
    assert [(h.cycle, h.force_target_n, h.force_tolerance_n) for h in holds] == [
        (1, 15.0, 5.0),
        (2, 20.0, 5.0),
    ]
    assert [r.cycle for r in releases] == [1, 2]
    assert all(not r.has_band and r.freq_hz == 0 and r.band_high_n == 0 for r in releases)
    assert all(h.contact_timed and h.hold_cap_s == 40.0 for h in holds)
    assert holds[1].band_low_n == 15.0 and holds[1].band_high_n == 25.0
    assert steps[0].cycle == 0 and steps[0].source_index == 0 and holds[1].source_index == 1
    assert all(s.force_cap_n == 30.0 for s in steps)


def test_progression_stops_at_its_maximum() -> None:
    profile = small_profile()
    data = profile.model_dump(mode="json")
    data["steps"][1]["cycles"] = 4
    data["steps"][1]["progression"] = {"force_step_n": 5.0, "force_max_n": 22.0}
    data["caps"]["max_work_s"] = 600.0
    targets = [
        s.force_target_n
        for s in compile_profile(type(profile).model_validate(data), "left").steps
        if s.kind is StepKindName.HOLD
    ]
    assert targets == [15.0, 20.0, 22.0, 22.0]


def test_intensity_scales_targets_but_never_past_the_cap() -> None:
    low = compile_profile(small_profile(), "left", Overrides(intensity_pct=50))
    assert [s.force_target_n for s in low.steps if s.has_band][:3] == [5.0, 7.5, 10.0]
    high = compile_profile(small_profile(), "left", Overrides(intensity_pct=120))
    holds = [s for s in high.steps if s.kind is StepKindName.HOLD]
    assert [h.force_target_n for h in holds] == [18.0, 24.0]
    for step in high.steps:
        assert step.force_target_n + step.force_tolerance_n <= step.force_cap_n
        assert step.band_high_n <= 30.0


def test_a_theragun_clamp_reads_in_rounded_numbers() -> None:
    caps = fake_caps(features=0, force_max_n=0.0, freq_min_hz=1750 / 60, freq_max_hz=40.0)
    profile = small_profile(caps={
        "max_force_n": 30.0, "freq_min_hz": 20.0, "freq_max_hz": 40.0,
        "max_hold_s": 60.0, "max_work_s": 300.0, "min_recovery_h": 24.0,
    })  # fmt: skip
    timeline = compile_profile(profile, "left", Overrides(freq_offset_hz=-1.0), caps)
    clamps = [n.text for n in timeline.notes if n.reason == "freq_clamped"]
    assert clamps[0] == "steps[0]: 29 Hz clamped to 29.2 Hz (allowed 29.2\u201340 Hz)"


def test_frequency_offset_is_clamped_and_said() -> None:
    timeline = compile_profile(small_profile(), "left", Overrides(freq_offset_hz=-5.0))
    assert {s.freq_hz for s in timeline.steps} == {0.0, 28.0}
    assert [n.reason for n in timeline.notes] == ["freq_clamped"] * 3  # one per profile step
    assert timeline.notes[0].text == "steps[0]: 25 Hz clamped to 28 Hz (allowed 28\u201340 Hz)"
    assert {
        s.freq_hz
        for s in compile_profile(small_profile(), "left", Overrides(freq_offset_hz=10)).steps
    } == {0.0, 40.0}
    assert not compile_profile(small_profile(), "left", Overrides(freq_offset_hz=2)).notes


def test_device_range_narrows_frequencies_and_force() -> None:
    caps = fake_caps(freq_min_hz=32.0, freq_max_hz=45.0, force_max_n=16.0)
    timeline = compile_profile(small_profile(), "left", capabilities=caps, address="tcp://gun")
    fit = timeline.fit
    assert (fit.freq_min_hz, fit.freq_max_hz, fit.force_cap_n) == (32.0, 40.0, 16.0)
    assert {s.freq_hz for s in timeline.steps} == {0.0, 32.0}
    assert any(n.reason == "freq_clamped" for n in timeline.notes)
    for step in timeline.steps:
        assert step.force_cap_n == 16.0
        assert step.force_target_n + step.force_tolerance_n <= 16.0
        assert step.contact_threshold_n <= 16.0


def test_disjoint_ranges_are_refused_naming_both() -> None:
    caps = fake_caps(freq_min_hz=41.0, freq_max_hz=45.0)
    with pytest.raises(CompatibilityError) as caught:
        compile_profile(small_profile(), "left", capabilities=caps, address="tcp://gun")
    assert str(caught.value) == (
        "test-small on tcp://gun: the profile's 28..40 Hz and the device's 41..45 Hz do not overlap"
    )


def test_missing_sensors_degrade_with_notes() -> None:
    no_force = fake_caps(features=int(Feature.CONTACT_SENSOR))
    timeline = compile_profile(small_profile(), "left", capabilities=no_force)
    assert [n.reason for n in timeline.notes] == ["no_force_sensor"]
    assert not timeline.fit.force_sensing and timeline.fit.contact_sensing
    assert any(s.contact_timed for s in timeline.steps)  # the contact sensor times holds
    blind = compile_profile(small_profile(), "left", capabilities=fake_caps(features=0))
    assert [n.reason for n in blind.notes] == ["contact_as_wall", "no_force_sensor"]
    holds = [s for s in blind.steps if s.kind is StepKindName.HOLD]
    assert all(h.hold_policy is HoldTimerPolicy.WALL and h.hold_cap_s == 20.0 for h in holds)


def test_values_land_on_the_wire_grid_below_the_caps() -> None:
    timeline = compile_profile(small_profile(), "left", Overrides(intensity_pct=107))
    for step in timeline.steps:
        assert round(step.force_target_n * 10) == pytest.approx(step.force_target_n * 10)
        assert round(step.freq_hz * 100) == pytest.approx(step.freq_hz * 100)


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"intensity_pct": 130}, "override intensity_pct=130: Input should be less than"),
        ({"intensity_pct": 10}, "override intensity_pct=10: Input should be greater than"),
        ({"freq_offset_hz": -11}, "override freq_offset_hz=-11:"),
        ({"speed": 1}, "override speed=1: Extra inputs are not permitted"),
        ({"intensity_pct": math.nan}, "override intensity_pct=nan: Input should be greater than"),
        ({"freq_offset_hz": "up"}, "override freq_offset_hz='up': Input should be a valid number"),
    ],
)
def test_bad_overrides_are_one_line_errors(values: dict[str, float], text: str) -> None:
    with pytest.raises(SessionError) as caught:
        Overrides.checked(**values)
    assert str(caught.value).startswith(text) and "\n" not in str(caught.value)
    assert Overrides.checked(intensity_pct=80).intensity_pct == 80


def test_a_gun_that_knows_nothing_of_force_keeps_the_profile_cap() -> None:
    theragun_like = fake_caps(features=0, force_max_n=0.0, freq_min_hz=29.0, freq_max_hz=40.0)
    timeline = compile_profile(small_profile(), "left", capabilities=theragun_like)
    assert timeline.fit.force_cap_n == 30.0 and not timeline.fit.force_sensing
    with pytest.raises(CompatibilityError, match="no usable force range"):
        compile_profile(
            small_profile(), "left", capabilities=fake_caps(features=1, force_max_n=0.0)
        )
