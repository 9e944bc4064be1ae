"""Property: no profile, override and device combination sends a setpoint above any cap."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from engine_helpers import FakeGun, fake_caps, profile_from
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tpdevice.protocol import Capabilities, Feature, HoldPolicy, ProgramStep
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.compat import CompatibilityError
from tpdevice.therapy.engine import ExecutionMode, Session
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.timeline import Overrides, Timeline, compile_profile

_EPS = 1e-9
_FEATURES = [0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x3F]


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    """Profile data drawn near and at its caps (validation may still refuse some)."""
    max_force = draw(st.floats(4.0, 150.0))
    freq_min = draw(st.floats(10.0, 50.0))
    freq_max = draw(st.floats(freq_min, 60.0))
    max_hold = draw(st.floats(2.0, 8.0))
    caps = {
        "max_force_n": max_force, "freq_min_hz": freq_min, "freq_max_hz": freq_max,
        "max_hold_s": max_hold, "max_work_s": 3600.0, "min_recovery_h": 24.0,
    }  # fmt: skip

    def freq() -> float:
        return draw(st.one_of(st.just(0.0), st.floats(freq_min, freq_max)))

    def band() -> dict[str, float]:
        tolerance = draw(st.floats(0.0, max_force / 2))
        target = draw(st.floats(0.0, max_force - tolerance))
        return {"force_target_n": target, "force_tolerance_n": tolerance,
                "force_ramp_n_per_s": draw(st.floats(0.0, 30.0))}  # fmt: skip

    steps: list[dict[str, Any]] = []
    for kind in draw(
        st.lists(st.sampled_from(["sweep", "hold", "release", "rest"]), min_size=1, max_size=3)
    ):
        if kind == "rest":
            steps.append({"kind": "rest", "duration_s": draw(st.floats(1.0, 3.0))})
        elif kind in ("sweep", "release"):
            steps.append({"kind": kind, "freq_hz": freq(), "duration_s": 1.0, **band()})
        else:
            hold_s = draw(st.floats(1.0, max_hold))
            step: dict[str, Any] = {
                "kind": "hold", "freq_hz": freq(), "hold_s": hold_s, "release_s": 1.0,
                "release_freq_hz": freq(), "cycles": draw(st.integers(1, 3)), **band(),
                "hold_timer": {"policy": draw(st.sampled_from(["wall", "contact"])),
                               "cap_s": draw(st.floats(hold_s, max_hold))},
            }  # fmt: skip
            if draw(st.booleans()):
                top = max_force - step["force_tolerance_n"]
                step["progression"] = {
                    "force_step_n": draw(st.floats(0.0, 10.0)),
                    "force_max_n": draw(st.floats(0.0, max(0.0, top))),
                }
            steps.append(step)
    return {
        "id": "prop", "title": "Prop", "region": "r", "muscles": ["m"],
        "laterality": draw(st.sampled_from(["bilateral", "midline"])), "attachment": "ball",
        "avoid_zones": ["z"], "contraindications": ["c"], "caps": caps, "steps": steps,
        "contact_threshold_n": draw(st.floats(0.5, 10.0)),
    }  # fmt: skip


@st.composite
def devices(draw: st.DrawFn) -> Capabilities:
    """Any plausible device range and feature set."""
    freq_min = draw(st.floats(10.0, 42.0))
    return fake_caps(
        freq_min_hz=freq_min, freq_max_hz=draw(st.floats(freq_min, 60.0)),
        force_max_n=draw(st.floats(2.0, 200.0)), features=draw(st.sampled_from(_FEATURES)),
    )  # fmt: skip


overrides = st.builds(
    Overrides, intensity_pct=st.floats(50, 120), freq_offset_hz=st.floats(-10, 10)
)


def _valid(data: dict[str, Any]) -> Profile:
    try:
        return profile_from(data)
    except ValidationError:
        assume(False)
        raise AssertionError("unreachable") from None


def _limits(profile: Profile, caps: Capabilities) -> tuple[float, float, float]:
    """The strictest frequency range and force cap of profile and device."""
    low = max(profile.caps.freq_min_hz, caps.freq_min_hz)
    high = min(profile.caps.freq_max_hz, caps.freq_max_hz)
    return low, high, min(profile.caps.max_force_n, caps.force_max_n)


def _check_output(
    freq_hz: float, target_n: float, tolerance_n: float, cap_n: float, limits: tuple[float, ...]
) -> None:
    low, high, force_cap = limits
    assert freq_hz == 0 or low - _EPS <= freq_hz <= high + _EPS, (freq_hz, low, high)
    assert 0 < cap_n <= force_cap + _EPS  # never 0: 0 would mean "the device maximum"
    assert target_n >= 0 and target_n + tolerance_n <= cap_n + _EPS


def _check_timeline(profile: Profile, timeline: Timeline, limits: tuple[float, ...]) -> None:
    for step in timeline.steps:
        _check_output(
            step.freq_hz, step.force_target_n, step.force_tolerance_n, step.force_cap_n, limits
        )
        assert step.contact_threshold_n <= step.force_cap_n + _EPS
        if step.contact_timed:
            assert step.duration_s <= step.hold_cap_s <= profile.caps.max_hold_s + _EPS
        elif step.kind.value == "hold":
            assert step.duration_s <= profile.caps.max_hold_s + _EPS


def _check_received(gun: FakeGun, limits: tuple[float, ...], profile: Profile) -> None:
    for command in gun.calls("set_output"):
        args = command.args
        _check_output(
            args["freq_hz"], args["force_target_n"], args["force_tolerance_n"],
            args["force_cap_n"], limits,
        )  # fmt: skip
    for command in gun.calls("upload_program"):
        steps: list[ProgramStep] = command.args["steps"]
        for step in steps:
            _check_output(
                step.freq_hz, step.force_target_n, step.force_tolerance_n, step.force_cap_n,
                limits,
            )  # fmt: skip
            assert step.duration_ms <= profile.caps.max_hold_s * 1000 + 1 or step.kind != 1
            if step.hold_policy is HoldPolicy.CONTACT:
                assert step.hold_cap_ms <= profile.caps.max_hold_s * 1000 + 1


async def _run(profile: Profile, caps: Capabilities, extra: Overrides, mode: ExecutionMode) -> None:
    gun = FakeGun(VirtualClock(), caps)
    try:
        session = Session(gun, profile, clock=gun.clock, mode=mode, overrides=extra)
        summary = await session.run()
        assert summary.outcome == "completed", summary.reason
        _check_received(gun, _limits(profile, caps), profile)
    finally:
        gun.shutdown()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=profiles(), caps=devices(), extra=overrides)
def test_no_setpoint_above_a_cap(
    data: dict[str, Any], caps: Capabilities, extra: Overrides
) -> None:
    profile = _valid(data)
    limits = _limits(profile, caps)
    try:
        timeline = compile_profile(profile, None, extra, caps)
    except CompatibilityError:
        event("ranges do not overlap")
        assert math.ceil(limits[0] * 100 - 1e-9) > math.floor(limits[1] * 100 + 1e-9)
        return
    _check_timeline(profile, timeline, limits)
    for mode in (ExecutionMode.HOST, ExecutionMode.FIRMWARE):
        if mode is ExecutionMode.FIRMWARE and not caps.features & Feature.PROGRAM:
            continue
        event(f"ran in {mode.value} mode")
        asyncio.run(_run(profile, caps, extra, mode))
