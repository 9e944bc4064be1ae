"""Profile models: field bounds, cross-field caps, helpers the engine relies on, the schema."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from repo_paths import ROOT

from tpdevice.therapy.profile import (
    DEFER_CHECKS,
    ForceBand,
    HoldStep,
    HoldTimerPolicy,
    Laterality,
    Profile,
    ReleaseStep,
    RestStep,
    Side,
    SweepStep,
)
from tpdevice.therapy.profile_errors import ProfileError
from tpdevice.therapy.schema import profile_json_schema, profile_schema_text


def base() -> dict[str, Any]:
    """A valid profile as the YAML loader would hand it over."""
    return {
        "id": "t-one",
        "title": "Test",
        "region": "test",
        "muscles": ["m"],
        "laterality": "bilateral",
        "attachment": "ball",
        "avoid_zones": ["bone"],
        "contraindications": ["injury"],
        "caps": {
            "max_force_n": 30,
            "freq_min_hz": 28,
            "freq_max_hz": 40,
            "max_hold_s": 90,
            "max_work_s": 360,
            "min_recovery_h": 24,
        },
        "steps": [
            {"kind": "sweep", "freq_hz": 29, "force_target_n": 10, "force_tolerance_n": 5,
             "duration_s": 30},
            {"kind": "hold", "freq_hz": 29, "force_target_n": 15, "force_tolerance_n": 5,
             "hold_s": 45, "release_s": 15, "cycles": 3,
             "progression": {"force_step_n": 5, "force_max_n": 25},
             "hold_timer": {"policy": "contact", "cap_s": 60}},
            {"kind": "rest", "duration_s": 10},
            {"kind": "sweep", "freq_hz": 29, "force_target_n": 8, "force_tolerance_n": 4,
             "duration_s": 20},
        ],
    }  # fmt: skip


def make(data: dict[str, Any]) -> Profile:
    return Profile.model_validate(data)


def hold_of(profile: Profile) -> HoldStep:
    step = profile.steps[1]
    assert isinstance(step, HoldStep)
    return step


def test_valid_profile_parses_into_typed_steps() -> None:
    profile = make(base())
    assert [type(step) for step in profile.steps] == [SweepStep, HoldStep, RestStep, SweepStep]
    assert profile.laterality is Laterality.BILATERAL
    assert hold_of(profile).hold_timer.policy is HoldTimerPolicy.CONTACT
    assert profile.contact_threshold_n == 3
    assert profile.problems() == []
    assert profile.advice() == []


def test_progression_raises_target_per_cycle_up_to_its_cap() -> None:
    hold = hold_of(make(base()))
    assert [hold.force_target_for_cycle(k) for k in range(4)] == [15, 20, 25, 25]
    assert hold.band(2) == ForceBand(25, 20, 30)


def test_without_progression_every_cycle_has_the_same_target() -> None:
    data = base()
    del data["steps"][1]["progression"]
    hold = hold_of(make(data))
    assert {hold.force_target_for_cycle(k) for k in range(3)} == {15}


def test_band_low_edge_never_below_zero() -> None:
    data = base()
    data["steps"][0].update(force_target_n=3, force_tolerance_n=5)
    assert make(data).steps[0].band() == ForceBand(3, 0, 8)


def test_durations_and_motor_on_time() -> None:
    profile = make(base())
    # one pass: 30 + 3 * (45 + 15) + 10 + 20
    assert profile.pass_duration_s() == 240
    assert profile.duration_s() == 480
    assert profile.duration_s("left") == 240
    # motor-on at worst: contact holds may run to their 60 s cap; releases at 0 Hz are off
    assert profile.motor_on_s_per_side() == 30 + 3 * 60 + 20


def test_motor_on_counts_release_frequency_and_not_motor_off_holds() -> None:
    data = base()
    data["steps"][1].update(freq_hz=0, release_freq_hz=30, hold_timer={"policy": "wall"})
    assert make(data).motor_on_s_per_side() == 30 + 3 * 15 + 20


def test_passes_by_laterality() -> None:
    profile = make(base())
    assert profile.passes() == (Side.LEFT, Side.RIGHT)
    assert profile.passes("both") == (Side.LEFT, Side.RIGHT)
    assert profile.passes("right") == (Side.RIGHT,)
    with pytest.raises(ProfileError, match="bilateral"):
        profile.passes("midline")
    midline = make({**base(), "laterality": "midline"})
    assert midline.passes() == (Side.MIDLINE,)
    assert midline.duration_s() == midline.pass_duration_s()
    with pytest.raises(ProfileError, match="midline"):
        midline.passes("left")


def test_release_step_band_is_optional() -> None:
    data = base()
    data["steps"].insert(2, {"kind": "release", "duration_s": 10})
    data["steps"].insert(3, {"kind": "release", "duration_s": 10, "force_target_n": 5})
    steps = make(data).steps
    assert isinstance(steps[2], ReleaseStep)
    assert steps[2].band() is None
    assert steps[2].motor_on_s() == 0
    assert steps[3].band() == ForceBand(5, 5, 5)


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (("steps", 0, "freq_hz"), 45, "steps[0].freq_hz = 45 is outside the caps range"),
        (("steps", 1, "hold_s"), 120, "steps[1].hold_s = 120 is above caps.max_hold_s"),
        (("steps", 1, "force_tolerance_n"), 6, "cycle 3 band top 25 + 6 = 31 N"),
        (("caps", "max_work_s"), 100, "motor-on time per side = 230 s"),
        (("contact_threshold_n",), 31, "contact_threshold_n = 31 is above caps.max_force_n"),
    ],
)
def test_code_built_profiles_get_the_cross_checks_too(
    path: tuple[str | int, ...], value: object, fragment: str
) -> None:
    data = copy.deepcopy(base())
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ValidationError, match=re.escape(fragment)):
        make(data)
    deferred = Profile.model_validate(data, context={DEFER_CHECKS: True})
    assert any(fragment in problem.message for problem in deferred.problems())


@pytest.mark.parametrize(
    ("field", "value"),
    [("duration_s", "30"), ("duration_s", True), ("freq_hz", None), ("freq_hz", 5)],
)
def test_numbers_are_strict(field: str, value: object) -> None:
    data = base()
    data["steps"][0][field] = value
    with pytest.raises(ValidationError):
        make(data)


@pytest.mark.parametrize("where", ["top", "caps", "step", "progression", "hold_timer"])
def test_unknown_keys_are_errors_at_every_level(where: str) -> None:
    data = base()
    target = {
        "top": data,
        "caps": data["caps"],
        "step": data["steps"][0],
        "progression": data["steps"][1]["progression"],
        "hold_timer": data["steps"][1]["hold_timer"],
    }[where]
    target["surprise"] = 1
    with pytest.raises(ValidationError, match=r"unexpected_keyword_argument"):
        make(data)


def test_models_are_frozen() -> None:
    profile = make(base())
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.caps.max_force_n = 100  # type: ignore[misc]


def test_json_round_trip() -> None:
    profile = make(base())
    again = Profile.model_validate(json.loads(profile.model_dump_json()))
    assert again == profile


def test_advice_when_the_last_step_is_not_a_light_sweep() -> None:
    data = base()
    data["steps"].pop()
    (advice,) = make(data).advice()
    assert advice.message.startswith("steps[2]: the last step is a rest")
    data["steps"].append(
        {"kind": "sweep", "freq_hz": 29, "force_target_n": 20, "force_tolerance_n": 5,
         "duration_s": 20}
    )  # fmt: skip
    assert "not a low-force sweep" in make(data).advice()[0].message


hold_params = st.fixed_dictionaries(
    {
        "target": st.integers(0, 32),
        "tolerance": st.integers(0, 10),
        "step": st.integers(0, 10),
        "max": st.integers(0, 36),
        "cycles": st.integers(1, 6),
        "hold_s": st.integers(1, 100),
        "cap_s": st.integers(1, 100),
        "policy": st.sampled_from(["wall", "contact"]),
        "freq_hz": st.sampled_from([0, 20, 29, 35, 45]),
    }
)


@settings(max_examples=300, deadline=None)
@given(hold_params)
def test_no_accepted_hold_exceeds_a_cap(params: dict[str, Any]) -> None:
    """Whatever the numbers, a profile that validates keeps every cycle inside the caps."""
    data = base()
    data["steps"][1] = {
        "kind": "hold", "freq_hz": params["freq_hz"], "force_target_n": params["target"],
        "force_tolerance_n": params["tolerance"], "hold_s": params["hold_s"], "release_s": 10,
        "cycles": params["cycles"],
        "progression": {"force_step_n": params["step"], "force_max_n": params["max"]},
        "hold_timer": {"policy": params["policy"], "cap_s": params["cap_s"]},
    }  # fmt: skip
    try:
        profile = make(data)
    except ValidationError:
        return
    caps, hold = profile.caps, hold_of(profile)
    for cycle in range(hold.cycles):
        target = min(params["target"] + cycle * params["step"], params["max"])
        assert target + params["tolerance"] <= caps.max_force_n
    assert params["freq_hz"] == 0 or caps.freq_min_hz <= params["freq_hz"] <= caps.freq_max_hz
    assert params["hold_s"] <= params["cap_s"] <= caps.max_hold_s
    worst_hold = params["cap_s"] if params["policy"] == "contact" else params["hold_s"]
    motor_hold = worst_hold if params["freq_hz"] else 0
    assert 30 + hold.cycles * motor_hold + 20 <= caps.max_work_s


def test_schema_file_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "profile.schema.json").read_text(encoding="utf-8")
    assert committed == profile_schema_text(), (
        "run: tpdevice profiles schema > docs/profile.schema.json"
    )


def test_schema_describes_the_contract() -> None:
    schema = profile_json_schema()
    assert schema["additionalProperties"] is False
    assert "caps" in schema["required"]
    hold = schema["$defs"]["HoldStep"]
    assert hold["properties"]["cycles"]["maximum"] == 6
    assert hold["properties"]["freq_hz"]["maximum"] == 60
    assert set(schema["properties"]) == set(Profile.field_names())
