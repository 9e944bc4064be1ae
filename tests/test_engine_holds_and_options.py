"""Holds, step timing, guns without force fields and session options on the fake gun.

A contact hold lifted at its end still ends on time, hold.started shows a cap only for contact
holds, step start times are offsets from the session start, a gun that takes no force fields
runs with the band as a cue, and session options are bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from engine_helpers import (
    STEADY_N,
    FakeGun,
    fake_caps,
    fake_session,
    small_profile,
    until_event,
)

from tpdevice.device.state import SetpointResult
from tpdevice.device.validate import check_output
from tpdevice.protocol import Feature, ProgramStep, SetOutput
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.compat import SessionError
from tpdevice.therapy.engine import ExecutionMode, Session, SessionOptions
from tpdevice.therapy.events import (
    HoldStarted,
    StepCompleted,
)
from tpdevice.therapy.timeline import compile_profile


def _types(session: Session, *wanted: str) -> list[str]:
    return [e.type for e in session.events if e.type in wanted]


async def test_contact_hold_lifted_at_its_end_still_ends_on_time(gun: FakeGun) -> None:
    """Hold 1 (contact policy, 20 s) counts 10..30 s; the therapist lifts the gun at 30 s.

    A sample handled at the deadline, before the loop's on_time, moved the end to the wall
    cap (10 + 40 s): the hold, with the motor on, ran on for 20 s after its time was up.
    """
    gun.feed_every(0.1, lambda now_s: STEADY_N if now_s < 29.95 else 0.0)
    gun.clock.call_at(30.0, gun.feed, 0.0)  # lifted exactly as the hold's count runs out
    session = fake_session(gun)
    run = asyncio.create_task(session.run())
    done = await until_event(session, StepCompleted, step_index=1)
    await session.stop()
    await run
    assert done.mono_s == pytest.approx(30.0, abs=0.11)
    assert session.summary().steps[1].actual_duration_s == pytest.approx(20.0, abs=0.11)


@pytest.mark.parametrize("policy", ["wall", "contact"])
async def test_hold_started_shows_a_cap_only_for_contact_holds(policy: str) -> None:
    gun = FakeGun(VirtualClock())
    gun.hold_steady()
    session = fake_session(gun, small_profile(hold_policy=policy))
    run = asyncio.create_task(session.run())
    hold = await until_event(session, HoldStarted)
    await session.stop()
    await run
    gun.shutdown()
    assert hold.cap_s == (40.0 if policy == "contact" else None)


async def test_step_start_times_are_offsets_from_the_session_start() -> None:
    """step.started gave actual_start_s on the session clock, planned_start_s as an offset."""
    gun = FakeGun(VirtualClock(start_s=1000.0))
    gun.hold_steady()
    session = fake_session(gun)
    summary = await session.run()
    gun.shutdown()
    starts = [e for e in session.events if e.type == "step.started"]
    actual = [e.actual_start_s for e in starts]  # type: ignore[attr-defined]
    assert actual == pytest.approx([s.actual_start_s for s in summary.steps])
    assert actual == pytest.approx([e.planned_start_s for e in starts])  # type: ignore[attr-defined]
    assert actual[:3] == pytest.approx([0.0, 10.0, 30.0])


# --- a gun that takes no force fields -----------------------------------------------------


def test_force_cap_sent_to_a_native_gun_without_force_range_is_within_its_range() -> None:
    """compat: a gun with no FORCE_SENSOR and force_max_n 0 'knows nothing of force'.

    The engine sent force_cap_n = the profile cap (30 N) > the device range (0 N);
    DeviceClient.check_output refused it, so no session could run on such a native gun.
    """
    caps = fake_caps(features=int(Feature.CONTACT_SENSOR), force_max_n=0.0)
    timeline = compile_profile(small_profile(), "left", None, caps, address="fake")
    step = timeline.steps[0]
    output = SetOutput(
        step.freq_hz, step.force_target_n, step.force_tolerance_n, step.force_cap_n,
        step.force_ramp_n_per_s, 0.0,
    )  # fmt: skip
    check_output("fake", caps, output)  # raised DeviceRangeError: force_cap_n=30 > 0
    assert (step.band_low_n, step.band_high_n) == (5.0, 15.0)  # the band stays, as a cue


class _CheckingGun(FakeGun):
    """Refuses what the device's range refuses, as DeviceClient does."""

    async def set_output(self, freq_hz: float, **fields: float) -> SetpointResult:
        get = fields.get
        output = SetOutput(
            freq_hz, get("force_target_n", 0.0), get("force_tolerance_n", 0.0),
            get("force_cap_n", 0.0), get("force_ramp_n_per_s", 0.0), 0.0,
        )  # fmt: skip
        check_output(self.address, self.capabilities, output)
        return await super().set_output(freq_hz, **fields)

    async def upload_program(self, steps: Sequence[ProgramStep]) -> int:
        for step in steps:
            check_output(self.address, self.capabilities, step)
        return await super().upload_program(steps)


@pytest.mark.parametrize("mode", [ExecutionMode.HOST, ExecutionMode.FIRMWARE])
async def test_a_gun_without_force_fields_runs_with_the_band_as_a_cue(mode: ExecutionMode) -> None:
    features = Feature.CONTACT_SENSOR | Feature.PROGRAM
    gun = _CheckingGun(VirtualClock(), fake_caps(features=int(features), force_max_n=0.0))
    gun.feed_every(0.1, lambda now_s: 0.0)
    session = fake_session(gun, mode=mode)
    summary = await session.run()
    gun.shutdown()
    assert summary.outcome == "completed", summary.reason
    hold = next(e for e in session.events if e.type == "hold.started")
    assert (hold.band_low_n, hold.band_high_n) == (10.0, 20.0)  # type: ignore[attr-defined]
    assert [c.reason for c in session.events if c.type == "cue"] == ["no_force_sensor"]  # type: ignore[attr-defined]


# --- options --------------------------------------------------------------------------------


def test_the_over_pressure_delay_cannot_switch_the_cap_off() -> None:
    """SessionOptions took any delay >= 0: over_pressure_after_s=3600 disabled the STOP."""
    with pytest.raises(SessionError):
        SessionOptions(over_pressure_after_s=3600.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("over_pressure_after_s", 1.5), ("over_pressure_after_s", -0.1),
        ("coach_after_s", 3600.0), ("coach_after_s", float("nan")),
        ("reconnect_grace_s", float("inf")), ("reconnect_grace_s", 86400.0),
    ],
)  # fmt: skip
def test_session_options_out_of_range_are_one_line_errors(name: str, value: float) -> None:
    with pytest.raises(SessionError) as caught:
        SessionOptions(**{name: value})
    text = str(caught.value)
    assert name in text and "\n" not in text and "outside" in text


def test_session_options_at_their_bounds_are_taken() -> None:
    options = SessionOptions(coach_after_s=30.0, over_pressure_after_s=1.0, reconnect_grace_s=0.0)
    assert (options.coach_after_s, options.over_pressure_after_s) == (30.0, 1.0)
