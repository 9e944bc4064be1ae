"""The session engine against the simulated gun on virtual time, in both execution modes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from engine_helpers import events_of, sim_gun, sim_session, small_profile, types_of, until_event
from repo_paths import shipped_profiles

from tpdevice.protocol import Feature, MotorState
from tpdevice.therapy.compat import CompatibilityError
from tpdevice.therapy.engine import ExecutionMode, Session, SessionOptions, SessionState
from tpdevice.therapy.events import (
    CueEvent,
    DeviceFaultEvent,
    HoldPaused,
    HoldResumed,
    HoldStarted,
    SessionAborted,
    SessionFailed,
    SessionPaused,
    SessionResumed,
    SessionStarted,
    StepStarted,
)
from tpdevice.therapy.loader import load_profile
from tpdevice.therapy.timeline import Overrides
from tpdevice_sim.config import ALL_FEATURES
from tpdevice_sim.physics import ContactScenario

MODES = [ExecutionMode.HOST, ExecutionMode.FIRMWARE]
_CONTACT_EVENTS = {
    "hold.paused",
    "hold.resumed",
    "pressure.low",
    "pressure.high",
    "pressure.in_band",
}


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize("path", shipped_profiles(), ids=lambda p: p.stem)
async def test_shipped_profile_runs_to_completion(path: Path, mode: ExecutionMode) -> None:
    profile = load_profile(path)
    side = profile.passes()[0].value  # one pass; both sides are tested on a shorter profile
    async with sim_gun(tick_s=0.25, telemetry_hz=2, watchdog_ms=4000) as sim:
        session = Session(sim.client, profile, side=side, clock=sim.clock, mode=mode)
        summary = await session.run()
        assert summary.outcome == "completed", summary.reason
        assert summary.steps_completed == len(session.timeline.steps)
        assert summary.mode == mode.value
        assert not sim.gun.violations
        assert sim.firmware.state in (MotorState.IDLE, MotorState.STOPPING)
        starts = [e for e in session.events if isinstance(e, StepStarted)]
        assert [e.step_index for e in starts] == list(range(len(session.timeline.steps)))


async def test_shipped_profiles_exist() -> None:
    assert len(shipped_profiles()) >= 6


async def test_twenty_minute_profile_on_virtual_time() -> None:
    """A 20+ minute session on the simulator; the wall time is printed, not asserted."""
    path = max(shipped_profiles(), key=lambda p: load_profile(p).duration_s())
    profile = load_profile(path)
    async with sim_gun(tick_s=0.1, telemetry_hz=5, watchdog_ms=2000) as sim:
        session = Session(sim.client, profile, clock=sim.clock, mode=ExecutionMode.HOST)
        began = time.perf_counter()
        summary = await session.run()
        wall_s = time.perf_counter() - began
    print(f"\n{profile.id}: {summary.actual_duration_s:.0f} s of session in {wall_s:.2f} s wall")
    assert summary.outcome == "completed"
    assert summary.actual_duration_s >= 20 * 60


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_both_modes_tell_the_same_story(mode: ExecutionMode) -> None:
    """Firmware mode follows STEP_EVENTs into the very events host mode produces."""
    profile = small_profile(hold_policy="wall")
    async with sim_gun(scenario=ContactScenario.STEADY) as sim:
        session = sim_session(sim, mode, profile)
        await session.run()
        story = [t for t in types_of(session.events) if t not in _CONTACT_EVENTS]
        if mode is ExecutionMode.FIRMWARE:
            program = sim.firmware.program
            assert program is not None and len(program.steps) == len(session.timeline.steps)
    expected = ["session.started"]
    for step in session.timeline.steps:
        expected.append("step.started")
        if step.kind.value in ("hold", "release"):
            expected.append(f"{step.kind.value}.started")
        expected.append("step.completed")
    assert story == [*expected, "session.completed"]
    starts = [e for e in session.events if isinstance(e, StepStarted)]
    for event, step in zip(starts, session.timeline.steps, strict=True):
        # A steady hand keeps contact: every step starts on its plan (ms device time).
        assert event.actual_start_s == pytest.approx(step.start_s, abs=0.002)
        assert 0.0 <= event.lateness_ms <= 2.0


async def test_firmware_mode_sends_no_setpoints_while_the_program_runs() -> None:
    async with sim_gun() as sim:
        session = sim_session(sim, ExecutionMode.FIRMWARE)
        await session.run()
        stats = sim.client.stats()
        assert stats["link"]["setpoints_superseded"] == 0
        assert sim.firmware.output.freq_hz == 0.0  # no SET_OUTPUT ever reached the gun
        assert sim.firmware.program is not None


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_lift_off_pauses_a_contact_hold(mode: ExecutionMode) -> None:
    profile = small_profile()
    async with sim_gun(scenario=ContactScenario.STEADY) as sim:
        session = sim_session(sim, mode, profile)
        run = asyncio.create_task(session.run())
        await until_event(session, HoldStarted)
        await sim.clock.sleep(5.0)
        sim.gun.physics.contact.lift_off(4.0)
        summary = await run
    hold = next(s for s in session.timeline.steps if s.contact_timed)
    paused = [e for e in events_of(session, HoldPaused) if e.step_index == hold.index]
    resumed = [e for e in events_of(session, HoldResumed) if e.step_index == hold.index]
    assert paused and resumed
    assert paused[0].reason == "lost_contact"
    assert 13.0 <= paused[0].remaining_s <= 15.5
    step = summary.steps[hold.index]
    # 20 s counted in contact; ~4 s without contact added wall time (under the 40 s cap).
    assert step.actual_duration_s is not None
    assert hold.duration_s + 3.0 <= step.actual_duration_s <= hold.duration_s + 5.5
    assert step.contact_losses >= 1
    assert summary.outcome == "completed"


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_stop_mid_hold_stops_the_motor_within_one_heartbeat(mode: ExecutionMode) -> None:
    async with sim_gun(scenario=ContactScenario.STEADY) as sim:
        session = sim_session(sim, mode)
        run = asyncio.create_task(session.run())
        await until_event(session, HoldStarted)
        await sim.clock.sleep(3.0)
        assert sim.firmware.state is MotorState.RUNNING
        stop_at_s = sim.clock.now_s()
        await session.stop()
        stopped_s = sim.clock.now_s() - stop_at_s
        assert stopped_s <= sim.client.heartbeat.interval_s
        assert sim.firmware.state in (MotorState.STOPPING, MotorState.IDLE)
        assert sim.gun.physics.motor.target_freq_hz == 0.0
        summary = await run
    assert session.state is SessionState.ABORTED
    assert summary.reason == "user"
    assert session.events[-1].type == "session.aborted"


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_over_pressure_stops_and_aborts(mode: ExecutionMode) -> None:
    options = SessionOptions(over_pressure_after_s=0.1)
    async with sim_gun(scenario=ContactScenario.HEAVY_SPIKES, telemetry_hz=20, tick_s=0.01) as sim:
        session = sim_session(sim, mode, options=options)
        summary = await session.run()
        assert sim.firmware.state is not MotorState.RUNNING
        assert sim.gun.physics.motor.target_freq_hz == 0.0
    assert session.state is SessionState.ABORTED
    assert summary.reason == "over_pressure"
    last = session.events[-1]
    assert isinstance(last, SessionAborted)
    assert "cap" in last.detail
    assert summary.peak_force_n > session.timeline.fit.force_cap_n


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_no_force_sensor_degrades_to_cues(mode: ExecutionMode) -> None:
    features = ALL_FEATURES & ~Feature.FORCE_SENSOR
    async with sim_gun(features=features, scenario=ContactScenario.STEADY) as sim:
        session = sim_session(sim, mode)
        summary = await session.run()
    events = session.events
    started = events[0]
    assert isinstance(started, SessionStarted) and not started.force_sensing
    cues = events_of(session, CueEvent)
    assert [c.reason for c in cues] == ["no_force_sensor"]
    assert not [e for e in events if e.type.startswith("pressure.")]
    assert summary.outcome == "completed"


async def test_no_contact_sensing_times_holds_by_wall_clock() -> None:
    features = ALL_FEATURES & ~(Feature.FORCE_SENSOR | Feature.CONTACT_SENSOR)
    async with sim_gun(features=features, scenario=ContactScenario.NONE) as sim:
        session = sim_session(sim, ExecutionMode.FIRMWARE)
        summary = await session.run()
    reasons = [e.reason for e in events_of(session, CueEvent)]
    assert "contact_as_wall" in reasons
    assert summary.outcome == "completed"
    assert summary.actual_duration_s == pytest.approx(session.timeline.duration_s, abs=0.01)


async def test_frequencies_clamped_into_a_narrower_device_range() -> None:
    overrides = Overrides(freq_offset_hz=-5.0)  # 30 Hz -> 25 Hz, below both ranges
    async with sim_gun(spec_changes={"freq_min_hz": 32.0}) as sim:
        session = sim_session(sim, ExecutionMode.HOST, overrides=overrides)
        summary = await session.run()
        assert not sim.gun.violations
    assert {s.freq_hz for s in session.timeline.steps} == {0.0, 32.0}
    cues = events_of(session, CueEvent)
    assert cues and all(c.reason == "freq_clamped" for c in cues)
    assert "32 Hz" in cues[0].cue
    assert summary.outcome == "completed"


async def test_disjoint_device_range_is_refused_in_one_line() -> None:
    spec = {"freq_min_hz": 41.0, "freq_max_hz": 45.0}
    async with sim_gun(spec_changes=spec) as sim:
        with pytest.raises(CompatibilityError) as caught:
            Session(sim.client, small_profile(), side="left", clock=sim.clock)
    text = str(caught.value)
    assert "\n" not in text
    assert "28..40 Hz" in text and "41..45 Hz" in text and "test-small" in text


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_link_loss_pauses_then_resumes_after_reconnect(mode: ExecutionMode) -> None:
    options = SessionOptions(reconnect_grace_s=30.0)
    async with sim_gun(scenario=ContactScenario.STEADY) as sim:
        session = sim_session(sim, mode, options=options)
        run = asyncio.create_task(session.run())
        await until_event(session, HoldStarted)
        await sim.clock.sleep(5.0)
        sim.cut(3.0)
        summary = await run
        assert not sim.gun.violations
    paused = events_of(session, SessionPaused)
    resumed = events_of(session, SessionResumed)
    assert [e.reason for e in paused] == ["link_lost"]
    assert [e.reason for e in resumed] == ["reconnected"]
    assert paused[0].remaining_s == pytest.approx(15.0, abs=0.3)
    assert resumed[0].remaining_s == pytest.approx(paused[0].remaining_s, abs=0.01)
    assert summary.outcome == "completed"
    assert summary.paused_s >= 3.0
    assert paused[0].step_index is not None
    hold = summary.steps[paused[0].step_index]
    assert hold.actual_duration_s == pytest.approx(20.0, abs=0.3)


async def test_link_not_back_within_the_grace_fails() -> None:
    options = SessionOptions(reconnect_grace_s=2.0)
    async with sim_gun() as sim:
        session = sim_session(sim, ExecutionMode.HOST, options=options)
        run = asyncio.create_task(session.run())
        await until_event(session, StepStarted)
        sim.cut(60.0)
        summary = await run
        assert sim.firmware.state is not MotorState.RUNNING  # the watchdog stopped it
    assert session.state is SessionState.FAILED
    last = session.events[-1]
    assert isinstance(last, SessionFailed)
    assert "within 2 s" in last.error
    assert summary.outcome == "failed"


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_pause_resume_on_the_simulator_keeps_the_hold_time(mode: ExecutionMode) -> None:
    async with sim_gun(scenario=ContactScenario.STEADY) as sim:
        session = sim_session(sim, mode, small_profile(hold_policy="wall"))
        run = asyncio.create_task(session.run())
        await until_event(session, HoldStarted)
        await sim.clock.sleep(6.0)
        session.pause()
        paused = await until_event(session, SessionPaused)
        await sim.clock.sleep(1.0)
        assert sim.firmware.state in (MotorState.PAUSED, MotorState.IDLE)  # motor stopped
        assert sim.gun.physics.motor.target_freq_hz == 0.0
        await sim.clock.sleep(9.0)  # long past the watchdog: heartbeats keep coming
        session.resume()
        resumed = await until_event(session, SessionResumed)
        summary = await run
        assert not sim.gun.violations
    assert paused.remaining_s == pytest.approx(14.0, abs=0.01)
    assert resumed.remaining_s == pytest.approx(paused.remaining_s, abs=0.01)
    assert summary.steps[1].actual_duration_s == pytest.approx(20.0, abs=0.01)
    assert summary.paused_s == pytest.approx(10.0, abs=0.01)
    assert summary.outcome == "completed" and not summary.faults


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_device_over_force_fault_aborts_the_session(mode: ExecutionMode) -> None:
    options = SessionOptions(over_pressure_after_s=1.0)  # let the device's own guard trip first
    async with sim_gun(scenario=ContactScenario.HEAVY_SPIKES, telemetry_hz=20, tick_s=0.01) as sim:
        session = sim_session(sim, mode, options=options)
        summary = await session.run()
        assert sim.firmware.state is MotorState.FAULTED
    faults = events_of(session, DeviceFaultEvent)
    assert [(f.code, f.active) for f in faults] == [("over_force", True)]
    last = session.events[-1]
    assert isinstance(last, SessionAborted)
    assert (last.reason, last.detail) == ("device_fault", "over_force")
    assert summary.faults == ["over_force"]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_a_link_lost_while_paused_stays_paused_then_resumes(mode: ExecutionMode) -> None:
    options = SessionOptions(reconnect_grace_s=30.0)
    async with sim_gun(scenario=ContactScenario.STEADY) as sim:
        session = sim_session(sim, mode, small_profile(hold_policy="wall"), options=options)
        run = asyncio.create_task(session.run())
        await until_event(session, HoldStarted)
        await sim.clock.sleep(6.0)
        session.pause()
        await until_event(session, SessionPaused)
        sim.cut(3.0)
        await sim.clock.sleep(8.0)  # the link is back: still paused, the motor off
        assert session.state is SessionState.PAUSED
        assert sim.gun.physics.motor.target_freq_hz == 0.0
        session.resume()
        summary = await run
        assert not sim.gun.violations
    reasons = [(e.type, e.reason) for e in events_of(session, SessionPaused)]
    assert reasons == [("session.paused", "user")]
    assert summary.outcome == "completed", summary.reason
    assert summary.steps[1].actual_duration_s == pytest.approx(20.0, abs=0.3)
    assert summary.paused_s == pytest.approx(8.0, abs=0.3)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_a_pause_shifts_the_steps_and_is_not_lateness(mode: ExecutionMode) -> None:
    """Shift (pauses moved the plan) and scheduling lateness are separate figures."""
    async with sim_gun(scenario=ContactScenario.STEADY) as sim:
        session = sim_session(sim, mode, small_profile(hold_policy="wall"))
        run = asyncio.create_task(session.run())
        await until_event(session, HoldStarted)
        await sim.clock.sleep(5.0)
        session.pause()
        await until_event(session, SessionPaused)
        await sim.clock.sleep(1.6)
        session.resume()
        summary = await run
    assert summary.shift_max_s is not None and summary.shift_max_s >= 1.6 - 1e-6
    assert summary.lateness_max_ms is not None and summary.lateness_max_ms < 50.0
    later = summary.steps[2:]
    assert all(s.shift_s is not None and s.shift_s >= 1.6 - 1e-6 for s in later)
    for step in summary.steps:
        assert step.actual_start_s is not None and step.shift_s is not None
        assert step.lateness_ms is not None
        expected_s = step.planned_start_s + step.shift_s + step.lateness_ms / 1000.0
        assert step.actual_start_s == pytest.approx(expected_s, abs=1e-6)
    started = [e for e in session.events if isinstance(e, StepStarted)]
    assert [e.shift_s for e in started] == [s.shift_s for s in summary.steps]
