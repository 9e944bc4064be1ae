"""The session journal on a real SQLite file: what a session leaves, restarts, bad files."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import sim_gun, small_profile

from tpdevice.daemon.journal import Journal, JournalError, SessionMeta
from tpdevice.daemon.journal_queries import JournalReader
from tpdevice.daemon.journal_schema import MIGRATIONS, SCHEMA_VERSION
from tpdevice.therapy.engine import Session
from tpdevice.therapy.events import Event, StepStarted, iso_utc
from tpdevice_sim.physics import ContactScenario


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"


@pytest.fixture
def journal(db: Path) -> Iterator[Journal]:
    journal = Journal.open(db, now_wall=time.time())
    yield journal
    journal.close()


def _meta(session_id: str, client: str | None = "c-17", region: str = "shoulder") -> SessionMeta:
    return SessionMeta(session_id, "sim", "test-profile", region, iso_utc(time.time()), client)


async def _run_session() -> list[Event]:
    async with sim_gun(scenario=ContactScenario.STEADY) as sim:
        session = Session(sim.client, small_profile(hold_policy="wall"), clock=sim.clock)
        await session.run()
    return list(session.events)


async def test_a_completed_session_is_kept_whole(journal: Journal, db: Path) -> None:
    events = await _run_session()
    journal.begin_session(_meta(events[0].session_id))
    seqs = [journal.record(event) for event in events]
    journal.flush()
    assert seqs == list(range(1, len(events) + 1))
    reader = JournalReader(db)
    record = reader.session(events[0].session_id)
    assert record is not None
    assert (record.outcome, record.cause, record.client) == ("completed", "", "c-17")
    starts = [e for e in events if isinstance(e, StepStarted)]
    steps = reader.steps(events[0].session_id)
    assert [s.step_index for s in steps] == [e.step_index for e in starts]
    assert [s.lateness_ms for s in steps] == [e.lateness_ms for e in starts]
    assert all(s.actual_duration_s is not None for s in steps)
    assert record.steps_done == record.step_count == len(steps)
    motor_steps = [s for s in steps if s.freq_hz > 0]
    assert record.motor_on_s == pytest.approx(sum(s.actual_duration_s or 0 for s in motor_steps))
    replay = reader.events(session_id=events[0].session_id)
    assert [body["seq"] for _, _, body in replay] == [e.seq for e in events]
    assert [body for _, _, body in replay] == [e.model_dump(mode="json") for e in events]


async def test_device_sequence_continues_after_a_restart(db: Path) -> None:
    events = await _run_session()
    first = Journal.open(db, now_wall=time.time())
    assert [first.record(e) for e in events[:3]] == [1, 2, 3]
    first.close()
    second = Journal.open(db, now_wall=time.time())
    assert second.record(events[3]) == 4
    second.close()
    after = JournalReader(db).events(device_id="sim", after_device_seq=2)
    assert [seq for _, seq, _ in after] == [3, 4]


async def test_a_session_running_when_the_process_died_is_interrupted(db: Path) -> None:
    events = await _run_session()
    first_step_done = next(i for i, e in enumerate(events) if e.type == "step.completed")
    journal = Journal.open(db, now_wall=time.time())
    journal.begin_session(_meta(events[0].session_id))
    for event in events[: first_step_done + 1]:
        journal.record(event)
    journal.close()  # no session.completed: the process "died"
    reopened = Journal.open(db, now_wall=time.time())
    reopened.close()
    assert reopened.interrupted == [events[0].session_id]
    record = JournalReader(db).session(events[0].session_id)
    assert record is not None
    assert (record.outcome, record.steps_done) == ("interrupted", 1)
    assert record.ended_wall is not None


def test_telemetry_is_kept_at_five_hertz(journal: Journal, db: Path) -> None:
    kept = [journal.record_telemetry("s1", i / 20, 33.0, 12.0, True) for i in range(40)]
    journal.flush()
    assert sum(kept) == 10
    samples = JournalReader(db).telemetry("s1")
    assert [round(s.t_s, 2) for s in samples] == [round(i * 0.2, 2) for i in range(10)]
    assert samples[0].contact is True


def test_one_failing_write_costs_no_other(journal: Journal, db: Path) -> None:
    journal.begin_session(_meta("dup"))
    journal.begin_session(_meta("dup"))  # the same id twice: a primary-key conflict
    journal.begin_session(_meta("other"))
    with pytest.raises(JournalError, match="write failed"):
        journal.flush()
    ids = {r.session_id for r in JournalReader(db).history()}
    assert ids == {"dup", "other"}


def test_history_filters_by_client_region_and_time(journal: Journal, db: Path) -> None:
    journal.begin_session(_meta("a", client="c-1", region="neck"))
    journal.begin_session(_meta("b", client="c-2", region="neck"))
    journal.begin_session(_meta("c", client="c-1", region="calf"))
    journal.flush()
    reader = JournalReader(db)
    assert [r.session_id for r in reader.history(client="c-1")] == ["c", "a"]
    assert [r.session_id for r in reader.history(region="neck", client="c-2")] == ["b"]
    assert reader.history(since_wall=iso_utc(time.time() + 60)) == []


def test_a_journal_from_a_newer_version_is_refused(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(JournalError, match=r"journal\.sqlite3: written by a newer tpdevice"):
        Journal.open(db, now_wall=time.time())


def test_a_corrupt_file_is_refused_and_left_as_it_was(db: Path) -> None:
    garbage = b"this is not sqlite" * 100
    db.write_bytes(garbage)
    with pytest.raises(JournalError, match="not a usable journal"):
        Journal.open(db, now_wall=time.time())
    assert db.read_bytes() == garbage


def test_a_locked_journal_is_named(db: Path) -> None:
    Journal.open(db, now_wall=time.time()).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(JournalError, match="locked by another process"):
            Journal.open(db, now_wall=time.time(), busy_s=0.05)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_the_journal_is_in_wal_mode_and_versioned(journal: Journal, db: Path) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_writes_after_close_are_refused(db: Path) -> None:
    journal = Journal.open(db, now_wall=time.time())
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.begin_session(_meta("late"))


def test_delivery_cursors_only_move_forward(journal: Journal, db: Path) -> None:
    journal.set_cursor("mqtt", "gun-1", 5)
    journal.set_cursor("mqtt", "gun-1", 3)  # a late, older acknowledgement
    journal.set_cursor("mqtt", "gun-2", 1)
    journal.set_cursor("other", "gun-1", 9)
    journal.flush()
    assert JournalReader(db).cursors("mqtt") == {"gun-1": 5, "gun-2": 1}


def test_a_version_one_journal_is_migrated_in_place(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    Journal.open(db, now_wall=time.time()).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT COUNT(*) FROM outbox_cursor").fetchone() == (0,)
