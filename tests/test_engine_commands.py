"""Sessions answer commands: a CommandResult for pause/resume/skip/stop, typed stop reasons,
and the device id every event and the summary carry."""

from __future__ import annotations

import asyncio

import pytest
from engine_helpers import FakeGun, fake_session, run_until, until_event

from tpdevice.protocol import StopReason
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.commands import (
    CommandResult,
    EndReason,
    Rejection,
    SessionCommand,
    device_stop_reason,
)
from tpdevice.therapy.compat import SessionError
from tpdevice.therapy.events import HoldStarted, SessionPaused, SessionResumed
from tpdevice.therapy.session_state import SessionState

PAUSE, RESUME, SKIP, STOP = SessionCommand


@pytest.fixture
def gun(gun: FakeGun) -> FakeGun:
    """The shared fake gun (conftest), under a steady hand."""
    gun.hold_steady()
    return gun


async def test_commands_before_run_are_refused_as_not_started(gun: FakeGun) -> None:
    session = fake_session(gun)
    assert session.pause() == CommandResult.refused(PAUSE, Rejection.NOT_STARTED)
    assert session.resume() == CommandResult.refused(RESUME, Rejection.NOT_STARTED)
    assert session.skip() == CommandResult.refused(SKIP, Rejection.NOT_STARTED)
    assert not session.paused and session.state is SessionState.CREATED


async def test_a_running_session_answers_each_command(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    assert session.resume() == CommandResult.refused(RESUME, Rejection.NOT_PAUSED)
    assert session.pause() == CommandResult.ok(PAUSE)
    assert session.pause() == CommandResult.refused(PAUSE, Rejection.ALREADY_PAUSED)
    await until_event(session, SessionPaused)
    assert session.state is SessionState.PAUSED
    assert session.resume() == CommandResult.ok(RESUME)
    await until_event(session, SessionResumed)
    assert session.skip() == CommandResult.ok(SKIP)
    assert await session.stop() == CommandResult.ok(STOP)
    summary = await run
    assert (summary.outcome, summary.reason) == ("aborted", "user")
    for answer in (session.pause(), session.resume(), session.skip(), await session.stop()):
        assert (answer.accepted, answer.reason) == (False, Rejection.ENDED)


async def test_a_stop_before_run_ends_the_session_and_a_second_is_refused(gun: FakeGun) -> None:
    session = fake_session(gun)
    assert await session.stop(EndReason.HOST) == CommandResult.ok(STOP)
    assert session.state is SessionState.ABORTED and session.summary().reason == "host"
    assert await session.stop() == CommandResult.refused(STOP, Rejection.ENDED)


async def test_an_unknown_stop_reason_is_refused_not_turned_into_another(gun: FakeGun) -> None:
    session, run = await run_until(gun, HoldStarted)
    with pytest.raises(SessionError, match="stop reason 'oops' is not one of user, host"):
        await session.stop("oops")  # type: ignore[arg-type]
    assert session.state is SessionState.RUNNING and not gun.calls("stop")
    await session.stop(EndReason.OVER_PRESSURE)
    assert gun.calls("stop")[0].args["reason"] is StopReason.OVER_PRESSURE
    assert (await run).reason == "over_pressure"


async def test_a_stop_while_another_ending_is_under_way_is_refused_once_ended(
    gun: FakeGun,
) -> None:
    session, run = await run_until(gun, HoldStarted)
    first = asyncio.create_task(session.stop(EndReason.USER))
    await asyncio.sleep(0)  # the first stop has asked for the end
    assert await session.stop(EndReason.HOST) == CommandResult.refused(STOP, Rejection.ENDED)
    assert session.state is SessionState.ABORTED  # returned only once the session ended
    assert await first == CommandResult.ok(STOP)
    assert (await run).reason == "user"
    assert {call.args["reason"] for call in gun.calls("stop")} == {StopReason.USER}


def test_every_end_reason_has_its_device_stop_reason() -> None:
    assert {reason: device_stop_reason(reason) for reason in EndReason} == {
        EndReason.NONE: StopReason.SESSION_END,
        EndReason.USER: StopReason.USER,
        EndReason.HOST: StopReason.HOST,
        EndReason.OVER_PRESSURE: StopReason.OVER_PRESSURE,
        EndReason.DEVICE_FAULT: StopReason.FAULT,
        EndReason.CANCELLED: StopReason.HOST,
        EndReason.LINK_LOST: StopReason.HOST,
        EndReason.DEVICE_ERROR: StopReason.HOST,
        EndReason.INTERNAL_ERROR: StopReason.HOST,
    }


async def test_the_device_id_names_the_gun_in_events_and_summary() -> None:
    first, second = FakeGun(VirtualClock()), FakeGun(VirtualClock())
    named = fake_session(first, device_id="sim-2")
    default = fake_session(second)
    assert (named.device_id, default.device_id) == ("sim-2", "fake")
    for gun, session in ((first, named), (second, default)):
        gun.hold_steady()
        summary = await session.run()
        gun.shutdown()
        assert summary.outcome == "completed"
        assert {event.device for event in session.events} == {session.device_id}
        assert summary.device == session.device_id
