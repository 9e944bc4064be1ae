"""Dose and recovery from a real journal: refused with the time left, allowed when rested."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tpdevice.daemon.dose import DoseCheck, check_dose
from tpdevice.daemon.journal import Journal
from tpdevice.daemon.journal_queries import JournalReader
from tpdevice.therapy.events import iso_utc

NOW = 1_800_000_000.0
HOUR = 3600.0
CHECK = DoseCheck("c-17", "calf", "left", 120.0, max_work_s=300.0, min_recovery_h=24.0)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "journal.sqlite3"
    Journal.open(path, now_wall=time.time()).close()
    yield path


def _session(
    db: Path, ended_h_ago: float, *, outcome: str = "completed", side: str = "left",
    motor_on_s: float = 120.0, client: str | None = "c-17", region: str = "calf",
) -> None:  # fmt: skip
    ended = NOW - ended_h_ago * HOUR
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO sessions (session_id, device_id, profile_id, region, side, client,"
            " started_wall, ended_wall, motor_on_s, outcome)"
            " VALUES (?, 'g', 'p', ?, ?, ?, ?, ?, ?, ?)",
            (f"s{ended}{side}{client}", region, side, client, iso_utc(ended - 600),
             iso_utc(ended), motor_on_s, outcome),
        )  # fmt: skip


def _check(db: Path, check: DoseCheck = CHECK) -> str | None:
    refusal = check_dose(JournalReader(db), check, NOW)
    return None if refusal is None else str(refusal)


def test_a_first_session_is_allowed(db: Path) -> None:
    assert _check(db) is None


def test_a_completed_session_needs_its_recovery_time(db: Path) -> None:
    _session(db, ended_h_ago=10)
    refusal = _check(db)
    assert refusal is not None
    assert "calf (left) had a full session 10 h 00 min ago; it needs 24 h to recover" in refusal
    assert refusal.endswith("allowed again in 14 h 00 min")


def test_recovery_is_per_side_client_and_region(db: Path) -> None:
    _session(db, ended_h_ago=10, side="right")
    _session(db, ended_h_ago=10, client="c-99")
    _session(db, ended_h_ago=10, region="neck")
    _session(db, ended_h_ago=10, client=None)
    assert _check(db) is None


def test_a_both_sides_session_rests_each_side(db: Path) -> None:
    _session(db, ended_h_ago=2, side="both", motor_on_s=240.0)
    assert _check(db) is not None
    assert _check(db, DoseCheck("c-17", "calf", "right", 120.0, 300.0, 24.0)) is not None


def test_an_early_stop_counts_toward_the_daily_cap_only(db: Path) -> None:
    _session(db, ended_h_ago=3, outcome="aborted", motor_on_s=150.0)
    assert _check(db) is None  # 150 + 120 <= 300: the session may be finished today
    _session(db, ended_h_ago=2, outcome="aborted", motor_on_s=100.0)
    refusal = _check(db)
    assert refusal is not None
    assert (
        "250 s of motor time in the past 24 h plus 120 s planned exceeds the 300 s cap" in refusal
    )
    assert refusal.endswith("allowed again in 21 h 00 min")  # when the 150 s session ages out


def test_after_the_recovery_time_it_is_allowed_again(db: Path) -> None:
    _session(db, ended_h_ago=25)
    assert _check(db) is None


def test_without_a_client_pseudonym_each_gun_stands_for_its_person(db: Path) -> None:
    _session(db, ended_h_ago=2, client=None)  # on gun "g"
    anonymous = DoseCheck(None, "calf", "left", 120.0, 300.0, 24.0, device_id="g")
    assert _check(db, anonymous) is not None
    assert _check(db, DoseCheck(None, "calf", "left", 120.0, 300.0, 24.0, device_id="h")) is None
