"""Session control on a recording fake gun: pause, resume, skip, stop, heartbeats, link, faults."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from engine_helpers import (
    STEADY_N,
    FakeGun,
    events_of,
    fake_caps,
    fake_session,
    run_until,
    small_profile,
    types_of,
    until_event,
)

from tpdevice.device.errors import DeviceRejectedError
from tpdevice.device.state import ConnectionState
from tpdevice.protocol import Fault, FaultCode, Feature, MsgType, ResultCode, StopReason
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.commands import CommandResult, Rejection, SessionCommand
from tpdevice.therapy.compat import SessionError
from tpdevice.therapy.engine import ExecutionMode, Session, SessionOptions, SessionState
from tpdevice.therapy.events import (
    DeviceFaultEvent,
    HoldPaused,
    HoldResumed,
    HoldStarted,
    PressureHigh,
    PressureInBand,
    PressureLow,
    SessionAborted,
    SessionFailed,
    SessionPaused,
    SessionResumed,
    StepCompleted,
    StepStarted,
)


@pytest.fixture
def gun(gun: FakeGun) -> FakeGun:
    """The shared fake gun (conftest), under a steady hand."""
    gun.hold_steady()
    return gun


async def test_pause_resume_keeps_the_remaining_hold_time(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    await gun.clock.sleep(7.25)
    session.pause()
    assert session.paused
    paused = await until_event(session, SessionPaused)
    assert gun.commands[-1].name == "stop" and not gun.running  # paused = motor stopped
    await gun.clock.sleep(33.0)
    assert gun.calls("start")[-1].time_s < paused.mono_s  # no START while paused
    session.resume()
    resumed = await until_event(session, SessionResumed)
    summary = await run
    assert paused.remaining_s == pytest.approx(20.0 - 7.25, abs=0.01)
    assert resumed.remaining_s == pytest.approx(paused.remaining_s, abs=0.01)
    hold = summary.steps[1]
    assert hold.actual_duration_s == pytest.approx(20.0, abs=0.01)
    assert summary.paused_s == pytest.approx(33.0, abs=0.01)
    completed = next(e for e in events_of(session, StepCompleted) if e.step_index == 1)
    assert completed.mono_s == pytest.approx(10.0 + 20.0 + 33.0, abs=0.01)
    # START again after the pause, with the hold's setpoint re-sent first.
    assert gun.commands[gun.commands.index(gun.calls("start")[-1]) - 1].name == "set_output"


async def test_heartbeats_follow_the_session_clock_even_while_paused(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    session.pause()
    await until_event(session, SessionPaused)
    await gun.clock.sleep(5.0)
    session.resume()
    await run
    interval_s = gun.heartbeat.interval_s
    gaps = [b - a for a, b in zip(gun.beats, gun.beats[1:], strict=False)]
    assert gaps and max(gaps) <= interval_s + 1e-9
    assert len(gun.beats) >= session.summary().actual_duration_s / interval_s


async def test_skip_ends_the_step_now(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    await gun.clock.sleep(4.0)
    session.skip()
    started = await until_event(session, StepStarted, step_index=2)
    summary = await run
    assert summary.steps[1].skipped and summary.steps[1].actual_duration_s == pytest.approx(4.0)
    assert started.mono_s == pytest.approx(14.0)
    assert started.lateness_ms == 0.0
    assert summary.steps_skipped == 1 and summary.outcome == "completed"
    assert summary.actual_duration_s == pytest.approx(70.0 - 16.0)


async def test_skip_while_paused_waits_for_resume(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    session.pause()
    session.skip()
    await until_event(session, SessionPaused)
    await gun.clock.sleep(2.0)
    assert not events_of(session, StepCompleted)[1:]  # the hold is still the current step
    session.resume()
    summary = await run
    assert summary.steps[1].skipped


async def test_stop_sends_stop_at_once_and_aborts(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    await gun.clock.sleep(3.0)
    asked_s = gun.clock.now_s()
    await session.stop()
    stops = gun.calls("stop")
    assert stops[0].time_s == asked_s and stops[0].args["reason"] is StopReason.USER
    summary = await run
    assert session.state is SessionState.ABORTED and summary.reason == "user"
    assert summary.steps[1].actual_duration_s == pytest.approx(3.0)
    assert not summary.steps[1].completed
    refused = CommandResult.refused(SessionCommand.PAUSE, Rejection.ENDED)
    assert session.pause() == refused and not session.paused  # refused once ended


async def test_stop_before_run(gun: FakeGun) -> None:
    session = fake_session(gun)
    await session.stop()
    assert session.state is SessionState.ABORTED
    assert types_of(session.events) == ["session.aborted"]
    summary = await session.run()
    assert summary.outcome == "aborted" and not gun.commands


async def test_run_twice_is_refused(gun: FakeGun) -> None:
    session, run = await run_until(gun, StepStarted)
    with pytest.raises(SessionError, match="already running"):
        await session.run()
    await session.stop()
    await run


async def test_cancelling_run_stops_the_motor(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert gun.commands[-1].name == "stop" and not gun.running
    assert session.state is SessionState.ABORTED
    last = session.events[-1]
    assert isinstance(last, SessionAborted) and last.reason == "cancelled"


async def test_a_refused_command_fails_the_session_with_the_motor_stopped(gun: FakeGun) -> None:
    gun.fail_next["start"] = DeviceRejectedError("fake", MsgType.START, ResultCode.OVERHEAT)
    session = fake_session(gun)
    summary = await session.run()
    assert session.state is SessionState.FAILED
    assert summary.reason == "device_error"
    last = session.events[-1]
    assert isinstance(last, SessionFailed) and "overheat" in last.error
    assert gun.commands[-1].name == "stop"


async def test_a_bug_fails_the_session_stops_the_motor_and_raises(gun: FakeGun) -> None:
    gun.fail_next["set_output"] = ZeroDivisionError("boom")
    session = fake_session(gun)
    with pytest.raises(ZeroDivisionError):
        await session.run()
    assert session.state is SessionState.FAILED
    assert gun.commands[-1].name == "stop"


async def test_active_fault_aborts_with_device_fault(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    gun.emit(Fault(5000, FaultCode.OVERHEAT, True))
    summary = await run
    faults = events_of(session, DeviceFaultEvent)
    assert [(f.code, f.active, f.step_index) for f in faults] == [("overheat", True, 1)]
    assert session.state is SessionState.ABORTED and summary.reason == "device_fault"
    assert summary.faults == ["overheat"] and summary.steps[1].faults == ["overheat"]
    assert gun.calls("stop")[-1].args["reason"] is StopReason.FAULT


async def test_cleared_fault_is_reported_without_ending(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    gun.emit(Fault(5000, FaultCode.LOW_BATTERY, False))
    summary = await run
    assert [f.active for f in events_of(session, DeviceFaultEvent)] == [False]
    assert summary.outcome == "completed" and not summary.faults


async def test_link_loss_and_reconnect_on_a_fake(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted, options=SessionOptions(reconnect_grace_s=10.0))
    await gun.clock.sleep(5.0)
    gun.set_state(ConnectionState.DISCONNECTED)
    paused = await until_event(session, SessionPaused)
    beats = len(gun.beats)
    await gun.clock.sleep(4.0)
    assert len(gun.beats) == beats  # beat() reports no link; nothing sent
    gun.set_state(ConnectionState.READY)
    resumed = await until_event(session, SessionResumed)
    summary = await run
    assert paused.reason == "link_lost" and resumed.reason == "reconnected"
    restart = [c.name for c in gun.commands if c.time_s == resumed.mono_s]
    assert restart == ["set_output", "start"]
    assert summary.steps[1].actual_duration_s == pytest.approx(20.0, abs=0.01)
    assert summary.outcome == "completed"


async def test_link_lost_for_good_fails_after_the_grace(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted, options=SessionOptions(reconnect_grace_s=3.0))
    lost_s = gun.clock.now_s()
    gun.set_state(ConnectionState.DISCONNECTED)
    summary = await run
    last = session.events[-1]
    assert last.type == "session.failed" and last.mono_s == pytest.approx(lost_s + 3.0)
    assert summary.reason == "link_lost"


async def test_client_failed_fails_at_once(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    gun.set_state(ConnectionState.FAILED)
    summary = await run
    last = session.events[-1]
    assert summary.outcome == "failed" and isinstance(last, SessionFailed)
    assert "failed" in last.error


async def _first_sweep(force: Callable[[float], float], coach_after_s: float) -> Session:
    """Run the first sweep on a fake fed force(now_s) every 0.1 s, then stop; the session."""
    gun = FakeGun(VirtualClock())
    gun.feed_every(0.1, force)
    session, run = await run_until(
        gun, StepCompleted, options=SessionOptions(coach_after_s=coach_after_s)
    )
    await session.stop()
    await run
    gun.shutdown()
    return session


async def test_pressure_coaching_low_and_high() -> None:
    # The first sweep (band 5..15 N): 2 s at 12 N, 4 s at 2 N, 3 s at 18 N.
    session = await _first_sweep(
        lambda now_s: 12.0 if now_s < 2 else 2.0 if now_s < 6 else 18.0, coach_after_s=1.0
    )
    low, high = events_of(session, PressureLow), events_of(session, PressureHigh)
    assert len(low) == 1 and low[0].mono_s == pytest.approx(3.0, abs=0.25)
    assert len(high) == 1 and high[0].mono_s == pytest.approx(7.0, abs=0.25)
    assert low[0].band_low_n == 5.0 and high[0].band_high_n == 15.0
    sweep = session.summary().steps[0]
    assert (sweep.pressure_low, sweep.pressure_high) == (1, 1)
    assert sweep.time_in_band_s == pytest.approx(2.0, abs=0.15)
    assert sweep.peak_force_n == 18.0


async def test_a_pressure_cue_clears_when_the_pressure_is_back_in_band() -> None:
    # The first sweep (band 5..15 N): 12 N, then 2 N from 1 s to 4 s, then 12 N again.
    session = await _first_sweep(lambda now_s: 2.0 if 1 <= now_s < 4 else 12.0, coach_after_s=1.0)
    low, back = events_of(session, PressureLow), events_of(session, PressureInBand)
    assert len(low) == 1 and low[0].mono_s == pytest.approx(2.0, abs=0.25)
    assert len(back) == 1 and back[0].mono_s == pytest.approx(4.0, abs=0.25)
    assert back[0].after == "low" and back[0].force_n == 12.0
    assert session.summary().steps[0].pressure_low == 1  # one cue, cleared once


async def test_an_excursion_too_short_to_cue_clears_silently() -> None:
    session = await _first_sweep(lambda now_s: 2.0 if 1 <= now_s < 1.5 else 12.0, coach_after_s=1.0)
    assert not events_of(session, PressureLow)
    assert not events_of(session, PressureInBand)


async def test_ramp_delays_the_low_pressure_cue() -> None:
    # reaches the band at 1.25 s
    session = await _first_sweep(lambda now_s: min(10.0, 4.0 * now_s), coach_after_s=0.5)
    assert not events_of(session, PressureLow)  # the 10 N/s ramp excuses the slow start


async def test_contact_policy_hold_on_a_fake(gun: FakeGun) -> None:
    lifted = (15.0, 18.0)  # the hold runs 10..: 5 s in, the gun is lifted for 3 s
    gun.shutdown()
    gun.feed_every(0.1, lambda now_s: 0.0 if lifted[0] <= now_s < lifted[1] else STEADY_N)
    session = fake_session(gun)
    summary = await session.run()
    paused = [e for e in events_of(session, HoldPaused) if e.step_index == 1]
    resumed = [e for e in events_of(session, HoldResumed) if e.step_index == 1]
    debounce_s = 0.1  # a contact change counts once it has held this long
    assert [e.mono_s for e in paused] == [pytest.approx(15.0 + debounce_s, abs=0.11)]
    assert [e.mono_s for e in resumed] == [pytest.approx(18.0 + debounce_s, abs=0.11)]
    assert paused[0].remaining_s == pytest.approx(15.0 - debounce_s, abs=0.11)
    assert summary.steps[1].actual_duration_s == pytest.approx(23.0, abs=0.11)


async def test_contact_hold_never_exceeds_its_wall_cap(gun: FakeGun) -> None:
    gun.shutdown()
    gun.feed_every(0.1, lambda now_s: 0.0 if now_s >= 12.0 else STEADY_N)  # lifted for good
    session = fake_session(gun)
    run = asyncio.create_task(session.run())
    done = await until_event(session, StepCompleted, step_index=1)
    await session.stop()
    await run
    assert done.duration_s == pytest.approx(40.0)


async def test_firmware_mode_is_refused_without_programs(gun: FakeGun) -> None:
    with pytest.raises(SessionError, match="runs no programs"):
        fake_session(gun, mode=ExecutionMode.FIRMWARE)
    assert fake_session(gun, mode=ExecutionMode.AUTO).mode is ExecutionMode.HOST


async def test_auto_mode_picks_firmware_when_the_device_runs_programs() -> None:
    caps = fake_caps(features=int(Feature.FORCE_SENSOR | Feature.PROGRAM), max_program_steps=64)
    gun = FakeGun(VirtualClock(), caps)
    session = Session(gun, small_profile(), side="both", clock=gun.clock)
    assert session.mode is ExecutionMode.FIRMWARE
    summary = await session.run()
    assert summary.outcome == "completed" and summary.steps_completed == 14
    assert gun.calls("upload_program")[0].args["count"] == 14
    assert not gun.calls("set_output")
    small = fake_caps(features=int(Feature.PROGRAM), max_program_steps=8)
    assert Session(FakeGun(VirtualClock(), small), small_profile()).mode is ExecutionMode.HOST


async def test_firmware_skip_and_pause_reupload_the_rest() -> None:
    caps = fake_caps(features=int(Feature.FORCE_SENSOR | Feature.PROGRAM))
    gun = FakeGun(VirtualClock(), caps)
    session = Session(gun, small_profile(), side="left", clock=gun.clock)
    run = asyncio.create_task(session.run())
    await until_event(session, HoldStarted)
    await gun.clock.sleep(4.0)
    session.skip()
    await until_event(session, StepStarted, step_index=2)
    summary = await run
    uploads = [c.args["count"] for c in gun.calls("upload_program")]
    assert uploads == [7, 5]  # everything, then steps 2.. after the skip
    assert summary.steps[1].skipped and summary.outcome == "completed"
    assert summary.actual_duration_s == pytest.approx(70.0 - 16.0, abs=0.01)


async def test_link_lost_under_a_setpoint_starts_that_step_after_reconnect(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    gun.drop_on.add("set_output")  # the hold's end sends the release: the link drops then
    paused = await until_event(session, SessionPaused)
    assert paused.mono_s == pytest.approx(30.0)
    await gun.clock.sleep(2.0)
    gun.set_state(ConnectionState.READY)
    release = await until_event(session, StepStarted, step_index=2)
    summary = await run
    assert release.mono_s == pytest.approx(32.0)
    assert [e.reason for e in events_of(session, SessionResumed)] == ["reconnected"]
    assert summary.outcome == "completed" and summary.steps_completed == 7
    assert summary.actual_duration_s == pytest.approx(72.0)


async def test_progress_says_what_the_summary_says_at_every_point(gun: FakeGun) -> None:
    def agree() -> None:
        progress, summary = session.progress(), session.summary()
        assert (progress.side, progress.steps_completed, progress.steps_planned) == (
            summary.side, summary.steps_completed, summary.steps_planned,
        )  # fmt: skip
        assert (progress.elapsed_s, progress.planned_duration_s, progress.cause) == (
            summary.actual_duration_s, summary.planned_duration_s, summary.cause,
        )  # fmt: skip

    session = fake_session(gun)
    agree()
    run = asyncio.create_task(session.run())
    await until_event(session, StepCompleted)
    agree()
    assert session.progress().steps_completed == 1 and session.progress().elapsed_s > 0
    await session.stop()
    await run
    agree()
    assert session.progress().cause != ""
