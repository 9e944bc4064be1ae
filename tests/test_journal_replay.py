"""Event replay for a resumed stream: read by index from each device's cursor, not the table."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tpdevice.daemon import core
from tpdevice.daemon.journal import Journal
from tpdevice.daemon.journal_queries import EVENTS_AFTER_SQL, JournalReader
from tpdevice.therapy.events import CueEvent

_DEVICES = ("gun-1", "gun-2", "gun-3")
_PER_DEVICE = 3000


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A journal of 9000 events, the three guns' events interleaved as they happen."""
    path = tmp_path / "journal.sqlite3"
    Journal.open(path, now_wall=time.time()).close()
    rows = [
        (device, seq, "s-1", seq, "cue", "2026-01-01T00:00:00.000Z", float(seq),
         json.dumps({"type": "cue", "device": device, "n": seq}))
        for seq in range(1, _PER_DEVICE + 1)
        for device in _DEVICES
    ]  # fmt: skip
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return path


def test_replay_returns_only_the_events_after_each_cursor(db: Path) -> None:
    after = {"gun-1": _PER_DEVICE - 3, "gun-2": _PER_DEVICE}  # gun-3: from the start
    replay = core._journaled(db, after, list(_DEVICES))
    by_device = {d: [seq for dev, seq, _ in replay if dev == d] for d in _DEVICES}
    assert by_device == {
        "gun-1": [_PER_DEVICE - 2, _PER_DEVICE - 1, _PER_DEVICE],
        "gun-2": [],
        "gun-3": list(range(1, _PER_DEVICE + 1)),
    }
    assert all(body["n"] == seq and body["device"] == dev for dev, seq, body in replay)
    tail = [(dev, seq) for dev, seq, _ in replay][-4:]  # journal order, devices interleaved
    assert tail == [
        ("gun-1", _PER_DEVICE - 1), ("gun-3", _PER_DEVICE - 1),
        ("gun-1", _PER_DEVICE), ("gun-3", _PER_DEVICE),
    ]  # fmt: skip


def test_replay_searches_the_primary_key_and_scans_no_table(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []

    class TracedReader(JournalReader):
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            self._conn.set_trace_callback(statements.append)

    monkeypatch.setattr(core, "JournalReader", TracedReader)
    core._journaled(db, {"gun-1": _PER_DEVICE - 1}, ["gun-1"])
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects
    with sqlite3.connect(db) as conn:
        for statement in selects:
            plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}"))
            assert "SCAN" not in plan, (statement, plan)
            assert "USING INDEX sqlite_autoindex_events_1 (device_id=? AND device_seq>?)" in plan


def test_the_replay_query_plan_uses_the_index(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {EVENTS_AFTER_SQL}", ("gun-1", 5, -1)).fetchall()
    (detail,) = [row[-1] for row in plan]
    assert detail.startswith("SEARCH events USING INDEX"), detail


def test_each_committed_event_reports_its_journal_lag(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal.sqlite3", now_wall=time.time())
    lags_s: list[float] = []
    journal.on_event_lag = lags_s.append
    try:
        for seq in range(1, 6):
            journal.record(CueEvent(
                session_id="s-1", seq=seq, mono_s=float(seq), wall_time="2026-01-01T00:00:00Z",
                profile_id="p", device="gun-1", reason="bench", cue="cue",
            ))  # fmt: skip
        journal.set_cursor("mqtt", "gun-1", 3)  # not an event: no lag
        journal.flush()
    finally:
        journal.close()
    assert len(lags_s) == 5 and all(0 <= lag < 60 for lag in lags_s)
