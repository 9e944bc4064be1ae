"""The heartbeat lease: one owner beats a gun at a time; an idle beater yields to a session."""

from __future__ import annotations

import asyncio

import pytest
from engine_helpers import FakeGun, fake_session
from fakes import FakeDevice, connected_client

from tpdevice.device import ConnectionState, run_heartbeat
from tpdevice.device.heartbeat import Heartbeat, HeartbeatBusyError
from tpdevice.protocol import Message, MsgType


class Beats:
    """A Heartbeat whose sends are counted (always answered at once)."""

    def __init__(self) -> None:
        self.sent = 0
        self.heartbeat = Heartbeat("gun", self._send, lambda err: None)

    def _send(self, timeout_s: float) -> asyncio.Future[Message] | None:
        self.sent += 1
        return None  # no link: the beat is not counted, but it was asked for


def test_one_controller_at_a_time() -> None:
    beats = Beats()
    first = beats.heartbeat.acquire("session 1")
    with pytest.raises(HeartbeatBusyError, match=r"^gun: the heartbeat is held by session 1"):
        beats.heartbeat.acquire("session 2")
    first.release()
    second = beats.heartbeat.acquire("session 2")
    assert second.active and not first.active
    first.release()  # a stale release does not end another owner's lease
    assert second.active


def test_the_idle_beater_yields_to_a_session_and_takes_over_after() -> None:
    beats = Beats()
    idle = beats.heartbeat.acquire("daemon", idle=True)
    assert idle.active
    idle.beat()
    assert beats.sent == 1
    with beats.heartbeat.acquire("session 1") as session:
        assert session.active and not idle.active
        assert not idle.beat()  # never two beaters at once
        session.beat()
        assert beats.sent == 2
        assert not beats.heartbeat.beat()  # nor a stray direct beat while a lease is held
    assert idle.active and session.released
    idle.beat()
    assert beats.sent == 3
    with pytest.raises(HeartbeatBusyError, match="held by daemon"):
        beats.heartbeat.acquire("another daemon", idle=True)


async def test_run_heartbeat_as_idle_beater_is_silent_while_a_session_holds_it() -> None:
    client, device = await connected_client(FakeDevice())
    beater = asyncio.create_task(run_heartbeat(client, owner="daemon", idle=True))
    await asyncio.sleep(3 * client.heartbeat.interval_s)
    assert device.requests(MsgType.HEARTBEAT)
    session = client.heartbeat.acquire("session")
    heard = len(device.requests(MsgType.HEARTBEAT))
    await asyncio.sleep(3 * client.heartbeat.interval_s)
    assert len(device.requests(MsgType.HEARTBEAT)) == heard  # the idle beater stood aside
    session.release()
    await asyncio.sleep(3 * client.heartbeat.interval_s)
    assert len(device.requests(MsgType.HEARTBEAT)) > heard  # and took over again
    await client.close()
    await asyncio.wait_for(beater, 1.0)
    assert client.heartbeat.holder is None and client.state is ConnectionState.CLOSED


async def test_a_session_beats_through_its_lease_and_releases_it(gun: FakeGun) -> None:
    gun.hold_steady()
    idle = gun.heartbeat.acquire("daemon", idle=True)
    await fake_session(gun).run()
    assert gun.beats  # the session beat although an idle beater held the gun before it
    assert idle.active  # the session ended: the idle beater has the gun again
    with gun.heartbeat.acquire("other session"), pytest.raises(HeartbeatBusyError):
        await fake_session(gun).run()
