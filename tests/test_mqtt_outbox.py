"""Events journaled, then published to a real broker: in order, none lost across outages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from engine_helpers import sim_gun, small_profile
from mqtt_broker import Broker, Subscriber

from tpdevice.daemon.journal import Journal
from tpdevice.mqtt.link import MqttLink
from tpdevice.mqtt.outbox import EventOutbox
from tpdevice.mqtt.settings import MqttSettings
from tpdevice.mqtt.topics import Topics
from tpdevice.therapy.engine import Session
from tpdevice.therapy.events import Event
from tpdevice_sim.physics import ContactScenario

EVENTS = "tpdevice/+/+/events"


async def _session_events() -> list[Event]:
    async with sim_gun(scenario=ContactScenario.STEADY) as sim:
        session = Session(sim.client, small_profile(hold_policy="wall"), clock=sim.clock)
        await session.run()
    return list(session.events)


@contextlib.asynccontextmanager
async def _daemon_side(
    broker: Broker, db: Path, *, memory_limit: int = 10_000
) -> AsyncIterator[tuple[Journal, EventOutbox, MqttLink]]:
    """A journal, a link to the broker and an outbox, running; closed after."""
    journal = Journal.open(db, now_wall=time.time())
    link = MqttLink(MqttSettings.from_url(broker.url()), Topics("node-a"), backoff_s=(1.5, 1.5))
    outbox = EventOutbox(link, journal, memory_limit=memory_limit)
    tasks = [asyncio.create_task(link.run()), asyncio.create_task(outbox.run())]
    try:
        yield journal, outbox, link
    finally:
        await link.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        journal.close()


def _record(journal: Journal, outbox: EventOutbox, event: Event) -> None:
    """What the daemon's bus sink does: journal first, then offer to the outbox."""
    seq = journal.record(event)
    outbox.offer(event.device, seq, event.model_dump(mode="json"))


def _delivered(subscriber: Subscriber) -> list[tuple[str, int, str]]:
    """(device, device_seq, type) of every event message, duplicates included."""
    found = []
    for topic, payload, _ in subscriber.messages:
        if topic.endswith("/events"):
            body = json.loads(payload)
            found.append((topic.split("/")[2], body["device_seq"], body["type"]))
    return found


async def test_every_event_arrives_once_in_order(broker: Broker, tmp_path: Path) -> None:
    events = await _session_events()
    subscriber = Subscriber(broker, EVENTS, "tpdevice/+/bridge/state")
    await subscriber.start()
    async with _daemon_side(broker, tmp_path / "j.sqlite3") as (journal, outbox, link):
        await asyncio.wait_for(link.connected.wait(), 10)
        for event in events:
            _record(journal, outbox, event)
        await subscriber.wait_for(len(events), "/events")
    await subscriber.stop()
    delivered = _delivered(subscriber)
    assert delivered == [("sim", i + 1, e.type) for i, e in enumerate(events)]
    assert b'{"state": "online"}' in [p for t, p, _ in subscriber.messages if "bridge" in t]


@pytest.mark.parametrize("memory_limit", [10_000, 3], ids=["in-memory", "replayed-from-journal"])
async def test_a_broker_outage_delays_events_and_loses_none(
    broker: Broker, tmp_path: Path, memory_limit: int
) -> None:
    events = await _session_events()
    half = len(events) // 2
    subscriber = Subscriber(broker, EVENTS)
    await subscriber.start()
    async with _daemon_side(broker, tmp_path / "j.sqlite3", memory_limit=memory_limit) as (
        journal, outbox, link,
    ):  # fmt: skip
        await asyncio.wait_for(link.connected.wait(), 10)
        for event in events[:half]:
            _record(journal, outbox, event)
        await subscriber.wait_for(half, "/events")
        broker.kill()
        await subscriber.stop()
        for event in events[half:]:  # the session goes on while the broker is away
            _record(journal, outbox, event)
        broker.start()
        await subscriber.start()  # before the link's backoff (0.75-1.5 s) brings it back
        await subscriber.wait_for(len(events), "/events", timeout_s=15)
        assert link.reconnects == 1
    unique = list(dict.fromkeys(seq for _, seq, _ in _delivered(subscriber)))
    assert unique == list(range(1, len(events) + 1))


async def test_events_journaled_while_offline_are_sent_after_a_restart(
    broker: Broker, tmp_path: Path
) -> None:
    events = await _session_events()
    db = tmp_path / "j.sqlite3"
    first = Journal.open(db, now_wall=time.time())
    for event in events[:5]:
        first.record(event)  # the daemon died before its outbox could publish these
    first.close()
    subscriber = Subscriber(broker, EVENTS)
    await subscriber.start()
    async with _daemon_side(broker, db) as (journal, outbox, link):
        await asyncio.wait_for(link.connected.wait(), 10)
        await subscriber.wait_for(5, "/events")
        for event in events[5:]:
            _record(journal, outbox, event)
        await subscriber.wait_for(len(events), "/events")
        assert outbox.replayed == 5
    async with _daemon_side(broker, db) as (journal, outbox, link):
        await asyncio.wait_for(link.connected.wait(), 10)
        await asyncio.sleep(0.2)  # a restart with everything delivered publishes nothing
        assert outbox.published == 0
    await subscriber.stop()
    assert [seq for _, seq, _ in _delivered(subscriber)] == list(range(1, len(events) + 1))
