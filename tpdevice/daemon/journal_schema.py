"""The journal's SQLite schema, versioned by `PRAGMA user_version`, and its migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SchemaTooNewError", "migrate"]

# Each entry takes the database from version i to i + 1; entries are never edited once shipped.
MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        region TEXT NOT NULL DEFAULT '',
        side TEXT NOT NULL DEFAULT '',
        mode TEXT NOT NULL DEFAULT '',
        client TEXT,
        started_wall TEXT NOT NULL,
        ended_wall TEXT,
        planned_duration_s REAL NOT NULL DEFAULT 0,
        step_count INTEGER NOT NULL DEFAULT 0,
        steps_done INTEGER NOT NULL DEFAULT 0,
        motor_on_s REAL NOT NULL DEFAULT 0,
        outcome TEXT NOT NULL DEFAULT 'running',
        cause TEXT NOT NULL DEFAULT '',
        override_reason TEXT,
        summary TEXT
    );
    CREATE INDEX sessions_by_client_region ON sessions (client, region, started_wall);
    CREATE TABLE events (
        device_id TEXT NOT NULL,
        device_seq INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        wall_time TEXT NOT NULL,
        mono_s REAL NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (device_id, device_seq)
    );
    CREATE INDEX events_by_session ON events (session_id, seq);
    CREATE TABLE steps (
        session_id TEXT NOT NULL,
        step_index INTEGER NOT NULL,
        kind TEXT NOT NULL,
        side TEXT NOT NULL,
        cycle INTEGER NOT NULL,
        freq_hz REAL NOT NULL,
        band_low_n REAL NOT NULL,
        band_high_n REAL NOT NULL,
        planned_start_s REAL NOT NULL,
        actual_start_s REAL NOT NULL,
        lateness_ms REAL NOT NULL,
        planned_duration_s REAL NOT NULL,
        actual_duration_s REAL,
        skipped INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, step_index)
    );
    CREATE TABLE telemetry (
        session_id TEXT NOT NULL,
        t_s REAL NOT NULL,
        freq_hz REAL NOT NULL,
        force_n REAL,
        contact INTEGER NOT NULL,
        battery_pct REAL,
        motor_temp_c REAL
    );
    CREATE INDEX telemetry_by_session ON telemetry (session_id, t_s);
    """,
    """
    CREATE TABLE outbox_cursor (
        consumer TEXT NOT NULL,
        device_id TEXT NOT NULL,
        acked_seq INTEGER NOT NULL,
        PRIMARY KEY (consumer, device_id)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNewError(Exception):
    """The file was written by a newer tpdevice (its user_version is above SCHEMA_VERSION)."""

    def __init__(self, found: int) -> None:
        super().__init__(found)
        self.found = found


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION, one transaction a step; return the old version."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(version)
    for index in range(version, SCHEMA_VERSION):
        # executescript commits first; BEGIN makes the DDL and the version bump one unit.
        conn.executescript(f"BEGIN; {MIGRATIONS[index]} PRAGMA user_version = {index + 1}; COMMIT;")
    return int(version)
