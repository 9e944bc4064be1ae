"""Session events: typed, numbered, timestamped, fanned out in order and never dropped."""

from __future__ import annotations

import asyncio
import datetime
import itertools
from collections.abc import AsyncIterable

import pytest
from engine_helpers import FakeGun, fake_session

from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.eventbus import EventBus
from tpdevice.therapy.events import (
    CueEvent,
    Event,
    EventStamper,
    SessionCompleted,
    SessionStarted,
    StepStarted,
    parse_event,
)


def _stamper(clock: VirtualClock) -> EventStamper:
    return EventStamper("s1", "p1", "sim", clock.now_s, clock.wall_time)


def _cue(stamper: EventStamper, text: str) -> CueEvent:
    return stamper.make(CueEvent, reason="test", cue=text)


async def _cue_texts(events: AsyncIterable[Event]) -> list[str]:
    """The texts of a stream that holds only cue events."""
    texts: list[str] = []
    async for event in events:
        assert isinstance(event, CueEvent)
        texts.append(event.cue)
    return texts


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus, stamper = EventBus(), _stamper(VirtualClock())
    fast, slow = bus.subscribe(), bus.subscribe()
    for i in range(5000):  # far more than any bounded queue would hold
        bus.publish(_cue(stamper, str(i)))
    bus.close()
    fast_seqs = [event.seq async for event in fast]
    await asyncio.sleep(0)
    slow_seqs = [event.seq async for event in slow]
    assert fast_seqs == slow_seqs == list(range(1, 5001))


async def test_replay_late_subscribers_and_close() -> None:
    bus, stamper = EventBus(), _stamper(VirtualClock())
    bus.publish(_cue(stamper, "a"))
    late = bus.subscribe()
    replayed = bus.subscribe(replay=True)
    bus.publish(_cue(stamper, "b"))
    bus.close()
    assert await _cue_texts(late) == ["b"]
    assert await _cue_texts(replayed) == ["a", "b"]
    after = bus.subscribe(replay=True)
    assert [e.seq async for e in after] == [1, 2]
    assert [e async for e in bus.subscribe()] == []
    with pytest.raises(RuntimeError, match="out of order"):
        bus.publish(_cue(stamper, "c"))


async def test_out_of_order_and_a_closed_subscription() -> None:
    bus, stamper = EventBus(), _stamper(VirtualClock())
    first = _cue(stamper, "1")
    with pytest.raises(RuntimeError, match="seq 2 out of order"):
        bus.publish(_cue(stamper, "2"))
    bus.publish(first)
    gone = bus.subscribe()
    gone.close()
    stamper2 = _stamper(VirtualClock())
    _cue(stamper2, "x")
    bus.publish(_cue(stamper2, "second"))
    assert gone.pending == 0
    assert [e async for e in gone] == []


async def test_sinks_run_in_order_before_any_subscriber_sees_the_event() -> None:
    bus, stamper = EventBus(), _stamper(VirtualClock())
    seen: list[str] = []
    subscription = bus.subscribe()
    pending_when_sunk: list[int] = []

    def journal(event: Event) -> None:
        seen.append(f"journal {event.seq}")
        pending_when_sunk.append(subscription.pending)

    bus.add_sink(journal)
    remove_audit = bus.add_sink(lambda event: seen.append(f"audit {event.seq}"))
    bus.publish(_cue(stamper, "a"))
    remove_audit()
    bus.publish(_cue(stamper, "b"))
    assert seen == ["journal 1", "audit 1", "journal 2"]
    assert pending_when_sunk == [0, 1]  # the subscriber had not got the event yet
    bus.close()
    assert [e.seq async for e in subscription] == [1, 2]


async def test_a_failing_sink_stops_neither_the_event_nor_the_other_sinks() -> None:
    bus, stamper = EventBus(), _stamper(VirtualClock())
    later: list[int] = []

    def broken(event: Event) -> None:
        raise OSError("disk full")

    bus.add_sink(broken)
    bus.add_sink(lambda event: later.append(event.seq))
    subscription = bus.subscribe()
    bus.publish(_cue(stamper, "a"))
    bus.close()
    assert later == [1]
    assert [e.seq async for e in subscription] == [1]


async def test_a_session_sink_records_every_event_before_its_subscribers() -> None:
    gun = FakeGun(VirtualClock())
    gun.feed_every(0.1, lambda now_s: 12.0)
    session = fake_session(gun)
    subscription = session.subscribe()
    journal: list[tuple[int, int]] = []  # (seq, events the subscriber held at that moment)
    session.add_sink(lambda event: journal.append((event.seq, subscription.pending)))
    await session.run()
    gun.shutdown()
    seqs = [event.seq for event in session.events]
    assert journal == [(seq, seq - 1) for seq in seqs]
    assert [event.seq async for event in subscription] == seqs


async def test_one_consumer_per_subscription() -> None:
    subscription = EventBus().subscribe()
    waiting = asyncio.ensure_future(subscription.__anext__())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one consumer"):
        await subscription.__anext__()
    waiting.cancel()


def test_events_carry_session_sequence_and_both_times() -> None:
    clock = VirtualClock(start_s=12.5, wall_start_s=1_700_000_000.0)
    event = _stamper(clock).make(
        SessionStarted, side="left", mode="host", step_count=3, planned_duration_s=60.0,
        force_cap_n=30.0, freq_min_hz=28.0, freq_max_hz=40.0, force_sensing=True,
    )  # fmt: skip
    assert (event.type, event.session_id, event.seq, event.mono_s) == (
        "session.started", "s1", 1, 12.5,
    )  # fmt: skip
    assert event.wall_time == "2023-11-14T22:13:20.000Z"
    assert datetime.datetime.fromisoformat(event.wall_time).tzinfo is not None
    assert (event.profile_id, event.device) == ("p1", "sim")


async def test_a_whole_session_round_trips_through_json() -> None:
    gun = FakeGun(VirtualClock())
    gun.feed_every(0.1, lambda now_s: 0.5 if now_s < 8 or 35 <= now_s < 37 else 12.0)
    session = fake_session(gun)
    subscription = session.subscribe()
    summary = await session.run()
    gun.shutdown()
    received = [event async for event in subscription]
    assert received == session.events
    assert [e.seq for e in received] == list(range(1, len(received) + 1))
    assert all(a.mono_s <= b.mono_s for a, b in itertools.pairwise(received))
    assert {"session.started", "step.started", "hold.started", "release.started",
            "step.completed", "pressure.low", "hold.paused", "hold.resumed",
            "session.completed"} <= {e.type for e in received}  # fmt: skip
    for event in received:
        assert parse_event(event.model_dump_json()) == event
        assert parse_event(event.model_dump(mode="json")) == event
    last = received[-1]
    assert isinstance(last, SessionCompleted) and last.summary == summary
    first_step = next(e for e in received if isinstance(e, StepStarted))
    assert (first_step.kind, first_step.side, first_step.cycle, first_step.cue) == (
        "sweep", "left", 0, "Glide.",
    )  # fmt: skip
    with pytest.raises(ValueError, match="type"):
        parse_event({"type": "no.such"})
