"""Session commands racing the link and the device on the recording fake gun (host mode).

A pause kept when the link drops under its STOP, a resume cut by a lost link, a pause asked
during an outage, heartbeats while a command awaits its ACK, cancelling during the final STOP,
a pause racing a setpoint's START, and session.resumed before the hold events it causes.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from engine_helpers import (
    STEADY_N,
    FakeGun,
    fake_session,
    run_until,
    until_event,
)

from tpdevice.device.state import ConnectionState, SetpointResult
from tpdevice.protocol import StopReason
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.engine import Session, SessionOptions, SessionState
from tpdevice.therapy.events import (
    HoldResumed,
    HoldStarted,
    SessionPaused,
    SessionResumed,
    StepStarted,
)


def _types(session: Session, *wanted: str) -> list[str]:
    return [e.type for e in session.events if e.type in wanted]


async def test_pause_is_kept_when_the_link_drops_under_its_stop(gun: FakeGun) -> None:
    """pause(); the link drops while the STOP is sent; it comes back: the motor stays off."""
    gun.hold_steady()
    session, run = await run_until(gun, HoldStarted, options=SessionOptions(reconnect_grace_s=10.0))
    await gun.clock.sleep(3.0)
    gun.drop_on.add("stop")
    session.pause()
    asked_s = gun.clock.now_s()
    paused = await until_event(session, SessionPaused)
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
    assert paused.reason == "user"
    assert len(stopped_after) == 1  # STOP again once the link was back, to be sure


async def test_a_resume_cut_by_a_lost_link_resumes_on_reconnect(gun: FakeGun) -> None:
    """resume(); the link drops under its START: paused(link_lost), the hold frozen, and the
    reconnect resumes it (the bug: stuck paused for ever, the hold timer running)."""
    gun.hold_steady()
    session, run = await run_until(gun, HoldStarted, options=SessionOptions(reconnect_grace_s=10.0))
    await gun.clock.sleep(4.0)
    session.pause()
    paused = await until_event(session, SessionPaused)
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
    session, run = await run_until(gun, HoldStarted, options=SessionOptions(reconnect_grace_s=10.0))
    gun.set_state(ConnectionState.DISCONNECTED)
    await until_event(session, SessionPaused)
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
    session, run = await run_until(gun, HoldStarted)
    await gun.clock.sleep(1.1)  # off the beat grid
    await gun.clock.sleep_until(gun.beats[-1] + 0.2)
    session.skip()
    await until_event(session, StepStarted, step_index=2)
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
    session, run = await run_until(gun, HoldStarted)
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


async def _returns_within(clock: VirtualClock, task: asyncio.Task[Any], limit_s: float) -> bool:
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
    await until_event(session, SessionResumed)
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
    session, run = await run_until(gun, HoldStarted)
    await gun.clock.sleep(5.0)
    session.pause()
    paused = await until_event(session, SessionPaused)
    force[0] = 0.0
    gun.feed_every(0.1, lambda now_s: force[0])  # the fake's STOP ended its feed
    await gun.clock.sleep(3.0)
    session.resume()
    await until_event(session, SessionResumed)
    await gun.clock.sleep(4.0)  # lifted: the contact hold does not count
    force[0] = STEADY_N
    await until_event(session, HoldResumed)
    await session.stop()
    await run
    after = session.events[session.events.index(paused) :]
    assert [e.type for e in after if e.type.startswith(("session.", "hold."))][:4] == [
        "session.paused", "session.resumed", "hold.paused", "hold.resumed",
    ]  # fmt: skip
    hold_paused = next(e for e in after if e.type == "hold.paused")
    assert hold_paused.remaining_s == pytest.approx(15.0, abs=0.11)  # type: ignore[attr-defined]
