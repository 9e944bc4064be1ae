"""Review regressions of the session engine on the recording fake gun (host mode, control).

Each test failed on the engine as reviewed: pauses lost under a dropped link, a contact hold
outliving its count, heartbeats starved by a slow ACK, cancellation mid-STOP, a START racing
a pause, hold events before session.resumed, a cap-less gun, unbounded option delays.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import pytest
from engine_helpers import (
    STEADY_N,
    FakeGun,
    fake_caps,
    fake_session,
    run_until,
    small_profile,
    until_event,
)

from tpdevice.device.state import ConnectionState, SetpointResult
from tpdevice.device.validate import check_output
from tpdevice.protocol import Feature, ProgramStep, SetOutput, StopReason
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.compat import SessionError
from tpdevice.therapy.engine import ExecutionMode, Session, SessionOptions, SessionState
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
    done = await until_event(session, "step.completed", step_index=1)
    await session.stop()
    await run
    assert done.mono_s == pytest.approx(30.0, abs=0.11)
    assert session.summary().steps[1].actual_duration_s == pytest.approx(20.0, abs=0.11)


async def test_pause_is_kept_when_the_link_drops_under_its_stop(gun: FakeGun) -> None:
    """pause(); the link drops while the STOP is sent; it comes back: the motor stays off."""
    gun.hold_steady()
    session, run = await run_until(
        gun, "hold.started", options=SessionOptions(reconnect_grace_s=10.0)
    )
    await gun.clock.sleep(3.0)
    gun.drop_on.add("stop")
    session.pause()
    asked_s = gun.clock.now_s()
    paused = await until_event(session, "session.paused")
    await gun.clock.sleep(1.0)
    gun.set_state(ConnectionState.READY)
    await gun.clock.sleep(2.0)
    started_after = [c for c in gun.calls("start") if c.time_s > asked_s]
    stopped_after = [c for c in gun.calls("stop") if c.time_s > asked_s]
    running, state = gun.running, session.state
    await session.stop()
    await run
    assert session.paused and state is SessionState.PAUSED
    assert not started_after and not running  # the bug: START on reconnect, motor running
    assert paused.reason == "user"  # type: ignore[attr-defined]
    assert len(stopped_after) == 1  # STOP again once the link was back, to be sure


async def test_a_resume_cut_by_a_lost_link_resumes_on_reconnect(gun: FakeGun) -> None:
    """resume(); the link drops under its START: paused(link_lost), the hold frozen, and the
    reconnect resumes it (the bug: stuck paused for ever, the hold timer running)."""
    gun.hold_steady()
    session, run = await run_until(
        gun, "hold.started", options=SessionOptions(reconnect_grace_s=10.0)
    )
    await gun.clock.sleep(4.0)
    session.pause()
    paused = await until_event(session, "session.paused")
    await gun.clock.sleep(2.0)
    gun.drop_on.add("start")
    session.resume()
    await gun.clock.sleep(3.0)
    lost = [e.reason for e in session.events if e.type == "session.paused"]  # type: ignore[attr-defined]
    gun.set_state(ConnectionState.READY)
    await gun.clock.sleep(0.5)
    state = session.state
    await session.stop()
    await run
    resumed = [e for e in session.events if e.type == "session.resumed"]
    assert lost == ["user", "link_lost"] and state is SessionState.RUNNING
    assert [e.reason for e in resumed] == ["reconnected"]  # type: ignore[attr-defined]
    assert resumed[0].remaining_s == pytest.approx(paused.remaining_s)  # type: ignore[attr-defined]


async def test_pause_asked_during_an_outage_sends_no_start_on_reconnect(gun: FakeGun) -> None:
    """pause() while the link is down; on reconnect the engine STARTed first, then STOPped."""
    gun.hold_steady()
    session, run = await run_until(
        gun, "hold.started", options=SessionOptions(reconnect_grace_s=10.0)
    )
    gun.set_state(ConnectionState.DISCONNECTED)
    await until_event(session, "session.paused")
    await gun.clock.sleep(1.0)
    session.pause()
    asked_s = gun.clock.now_s()
    await gun.clock.sleep(1.0)
    gun.set_state(ConnectionState.READY)
    await gun.clock.sleep(2.0)
    started_after = [c.time_s for c in gun.calls("start") if c.time_s > asked_s]
    await session.stop()
    await run
    assert not started_after  # START sent although the user had paused
    reasons = [e.reason for e in session.events if e.type == "session.paused"]  # type: ignore[attr-defined]
    assert reasons == ["link_lost", "user"]
    assert not [e for e in session.events if e.type == "session.resumed"]


class _SlowAckGun(FakeGun):
    """After the first, each SET_OUTPUT is ACKed 0.85 s late: the 4th try (sent at 0.75 s,
    within DeviceClient's 4 x 0.25 s horizon) answered after a 0.1 s BLE round trip."""

    async def set_output(self, freq_hz: float, **fields: float) -> SetpointResult:
        result = await super().set_output(freq_hz, **fields)
        if len(self.calls("set_output")) > 1:
            await self.clock.sleep(0.85)
        return result


async def test_heartbeats_go_on_while_a_command_awaits_its_ack() -> None:
    """The control loop awaited each ACK and sent no HEARTBEAT meanwhile, motor running.

    A skip 0.2 s after a beat, whose SET_OUTPUT is ACKed 0.85 s later, left the running
    motor unfed for 1.05 s: longer than the 1 s watchdog (the device stops it: a fault).
    """
    gun = _SlowAckGun(VirtualClock())
    gun.hold_steady()
    session, run = await run_until(gun, "hold.started")
    await gun.clock.sleep(1.1)  # off the beat grid
    await gun.clock.sleep_until(gun.beats[-1] + 0.2)
    session.skip()
    await until_event(session, "step.started", step_index=2)
    await session.stop()
    await run
    gun.shutdown()
    running = (gun.calls("start")[0].time_s, gun.calls("stop")[0].time_s)  # motor on between
    beats = [b for b in gun.beats if running[0] <= b <= running[1]]
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert len(gun.calls("start")) == 1 and len(beats) > 40
    assert max(gaps) < gun.heartbeat.watchdog_ms / 1000.0  # was 1.05 s: the watchdog trips
    assert max(gaps) <= gun.heartbeat.interval_s + 1e-9


class _SlowStopGun(FakeGun):
    """STOP is sent at once; its ACK takes 0.2 s (a real client awaits it)."""

    stop_sent: asyncio.Event | None = None

    async def stop(self, reason: StopReason = StopReason.USER) -> None:
        await super().stop(reason)
        if self.stop_sent is not None:
            self.stop_sent.set()
        await self.clock.sleep(0.2)


async def test_cancelling_run_while_the_final_stop_awaits_its_ack_still_ends_the_session() -> None:
    """Ctrl-C (run cancelled) while the session-end STOP awaits its ACK: there was no
    terminal state, no terminal event, and stop() then waited for ever."""
    gun = _SlowStopGun(VirtualClock())
    gun.stop_sent = asyncio.Event()
    gun.hold_steady()
    session, run = await run_until(gun, "hold.started")
    stopping = asyncio.create_task(session.stop())
    await gun.stop_sent.wait()
    await asyncio.sleep(0)  # the loop ends; run() is in _finish, awaiting the 2nd STOP's ACK
    await gun.clock.sleep(0.1)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    ended = session.state in (SessionState.ABORTED, SessionState.FAILED)
    stop_returned = await _returns_within(gun.clock, stopping, 5.0)
    gun.shutdown()
    assert ended and session.events[-1].type == "session.aborted" and stop_returned
    assert [e.type for e in session.events].count("session.aborted") == 1


async def _returns_within(clock: VirtualClock, task: asyncio.Task[None], limit_s: float) -> bool:
    await clock.sleep(limit_s)
    if task.done():
        return True
    task.cancel()
    return False


class _SlowSetpointGun(FakeGun):
    """Every SET_OUTPUT takes 0.2 s to be ACKed."""

    async def set_output(self, freq_hz: float, **fields: float) -> SetpointResult:
        result = await super().set_output(freq_hz, **fields)
        await self.clock.sleep(0.2)
        return result


async def test_a_pause_asked_while_a_setpoint_is_in_flight_wins_over_its_start() -> None:
    """pause() while step 0's SET_OUTPUT awaits its ACK: START went out after it anyway."""
    gun = _SlowSetpointGun(VirtualClock())
    gun.hold_steady()
    session = fake_session(gun)
    gun.clock.call_at(0.1, session.pause)
    gun.clock.call_at(5.0, session.resume)
    run = asyncio.create_task(session.run())
    await until_event(session, "session.resumed")
    await session.stop()
    await run
    gun.shutdown()
    assert gun.calls("start") and all(c.time_s >= 5.0 for c in gun.calls("start"))
    assert _types(session, "session.paused", "session.resumed") == [
        "session.paused", "session.resumed",
    ]  # fmt: skip


async def test_session_resumed_comes_before_the_hold_events_it_causes(gun: FakeGun) -> None:
    """Lifted during a pause: host resume told hold.paused before session.resumed."""
    force = [STEADY_N]
    gun.feed_every(0.1, lambda now_s: force[0])
    session, run = await run_until(gun, "hold.started")
    await gun.clock.sleep(5.0)
    session.pause()
    paused = await until_event(session, "session.paused")
    force[0] = 0.0
    gun.feed_every(0.1, lambda now_s: force[0])  # the fake's STOP ended its feed
    await gun.clock.sleep(3.0)
    session.resume()
    await until_event(session, "session.resumed")
    await gun.clock.sleep(4.0)  # lifted: the contact hold does not count
    force[0] = STEADY_N
    await until_event(session, "hold.resumed")
    await session.stop()
    await run
    after = session.events[session.events.index(paused) :]
    assert [e.type for e in after if e.type.startswith(("session.", "hold."))][:4] == [
        "session.paused", "session.resumed", "hold.paused", "hold.resumed",
    ]  # fmt: skip
    hold_paused = next(e for e in after if e.type == "hold.paused")
    assert hold_paused.remaining_s == pytest.approx(15.0, abs=0.11)  # type: ignore[attr-defined]


@pytest.mark.parametrize("policy", ["wall", "contact"])
async def test_hold_started_shows_a_cap_only_for_contact_holds(policy: str) -> None:
    gun = FakeGun(VirtualClock())
    gun.hold_steady()
    session = fake_session(gun, small_profile(hold_policy=policy))
    run = asyncio.create_task(session.run())
    hold = await until_event(session, "hold.started")
    await session.stop()
    await run
    gun.shutdown()
    assert hold.cap_s == (40.0 if policy == "contact" else None)  # type: ignore[attr-defined]


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
        names = ("force_target_n", "force_tolerance_n", "force_cap_n", "force_ramp_n_per_s")
        values = [fields.get(name, 0.0) for name in names]
        check_output(self.address, self.capabilities, SetOutput(freq_hz, *values, 0.0))
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
