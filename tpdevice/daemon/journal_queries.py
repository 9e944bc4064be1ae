"""Reading the journal: history, one session's steps, events and telemetry, recent dose."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tpdevice.daemon.journal import connect

__all__ = ["EVENTS_AFTER_SQL", "JournalReader", "SessionRecord", "StepRecord", "TelemetryRecord"]


@dataclasses.dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session as the journal knows it."""

    session_id: str
    device_id: str
    profile_id: str
    region: str
    side: str
    mode: str
    client: str | None
    started_wall: str
    ended_wall: str | None
    planned_duration_s: float
    step_count: int
    steps_done: int
    motor_on_s: float
    outcome: str
    cause: str
    override_reason: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class StepRecord:
    """One step with its planned and actual timing."""

    step_index: int
    kind: str
    side: str
    cycle: int
    freq_hz: float
    band_low_n: float
    band_high_n: float
    planned_start_s: float
    actual_start_s: float
    lateness_ms: float
    planned_duration_s: float
    actual_duration_s: float | None
    skipped: bool


@dataclasses.dataclass(frozen=True, slots=True)
class TelemetryRecord:
    """One kept telemetry sample (5 Hz)."""

    t_s: float
    freq_hz: float
    force_n: float | None
    contact: bool
    battery_pct: float | None
    motor_temp_c: float | None


# One device's events past a cursor: a range search on the (device_id, device_seq) primary key.
EVENTS_AFTER_SQL = (
    "SELECT rowid, device_id, device_seq, body FROM events"
    " WHERE device_id = ? AND device_seq > ? ORDER BY device_seq LIMIT ?"
)
_SESSION_COLUMNS = ", ".join(f.name for f in dataclasses.fields(SessionRecord))
_STEP_FIELDS = [f.name for f in dataclasses.fields(StepRecord)]
_STEP_COLUMNS = ", ".join(_STEP_FIELDS)


class JournalReader:
    """Read-only queries on a journal file; WAL lets it read while the writer writes."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path, read_only=True)

    def close(self) -> None:
        """Release the connection."""
        self._conn.close()

    def history(
        self,
        *,
        client: str | None = None,
        region: str | None = None,
        since_wall: str | None = None,
        limit: int = 1000,
    ) -> list[SessionRecord]:
        """Sessions, newest first, filtered by client pseudonym, region and start time."""
        clauses, args = _filters(client=client, region=region, since_wall=since_wall)
        rows = self._conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions {clauses}"
            " ORDER BY started_wall DESC, rowid DESC LIMIT ?",
            (*args, limit),
        )
        return [SessionRecord(*row) for row in rows]

    def session(self, session_id: str) -> SessionRecord | None:
        """One session, or None when the journal has no such id."""
        row = self._conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return None if row is None else SessionRecord(*row)

    def steps(self, session_id: str) -> list[StepRecord]:
        """The session's steps in order."""
        rows = self._conn.execute(
            f"SELECT {_STEP_COLUMNS} FROM steps WHERE session_id = ? ORDER BY step_index",
            (session_id,),
        )
        return [_step(row) for row in rows]

    def telemetry(self, session_id: str) -> list[TelemetryRecord]:
        """The session's kept telemetry in time order."""
        rows = self._conn.execute(
            "SELECT t_s, freq_hz, force_n, contact, battery_pct, motor_temp_c FROM telemetry"
            " WHERE session_id = ? ORDER BY t_s",
            (session_id,),
        )
        return [TelemetryRecord(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]

    def events(
        self,
        *,
        session_id: str | None = None,
        device_id: str | None = None,
        after_device_seq: int = 0,
        limit: int = 10_000,
    ) -> list[tuple[str, int, dict[str, Any]]]:
        """(device_id, device_seq, event body) in journal order, for replay after a reconnect."""
        clauses, args = _filters(session_id=session_id, device_id=device_id)
        clauses += (" AND" if clauses else "WHERE") + " device_seq > ?"
        rows = self._conn.execute(
            f"SELECT device_id, device_seq, body FROM events {clauses} ORDER BY rowid LIMIT ?",
            (*args, after_device_seq, limit),
        )
        return [(row[0], row[1], json.loads(row[2])) for row in rows]

    def recent_events(self, limit: int) -> list[tuple[str, int, dict[str, Any]]]:
        """The last `limit` events journaled, oldest first."""
        rows = self._conn.execute(
            "SELECT device_id, device_seq, body FROM events ORDER BY rowid DESC LIMIT ?", (limit,)
        ).fetchall()
        return [(row[0], row[1], json.loads(row[2])) for row in reversed(rows)]

    def events_after(
        self, cursors: dict[str, int], devices: list[str], limit: int | None = 1000
    ) -> list[tuple[str, int, dict[str, Any]]]:
        """Each device's events past its cursor (at most `limit` a device and in all, None: no
        limit), in journal order; each device is read from its cursor on the primary key."""
        found: list[tuple[int, str, int, str]] = []
        for device_id in devices:
            found += self._conn.execute(
                EVENTS_AFTER_SQL,
                (device_id, cursors.get(device_id, 0), -1 if limit is None else limit),
            ).fetchall()
        found.sort()
        kept = found if limit is None else found[:limit]
        return [(device, seq, json.loads(body)) for _, device, seq, body in kept]

    def dose_sessions(
        self, *, client: str | None, region: str, since_wall: str, device_id: str | None = None
    ) -> list[SessionRecord]:
        """Sessions of this client and region, oldest first; without a client pseudonym, the
        sessions without one on `device_id` (a gun without a named client is one person's)."""
        device_clause = " AND device_id = ?" if client is None and device_id else ""
        args = (client, region, since_wall, *((device_id,) if device_clause else ()))
        rows = self._conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE client IS ? AND region = ?"
            f" AND COALESCE(ended_wall, started_wall) >= ?{device_clause} ORDER BY started_wall",
            args,
        )
        return [SessionRecord(*row) for row in rows]

    def cursors(self, consumer: str) -> dict[str, int]:
        """Per device, the last sequence number `consumer` has delivered."""
        rows = self._conn.execute(
            "SELECT device_id, acked_seq FROM outbox_cursor WHERE consumer = ?", (consumer,)
        )
        return {str(device): int(seq) for device, seq in rows}

    def motor_on_s(self, *, client: str | None, region: str, since_wall: str) -> float:
        """Motor-on seconds of (client, region) in sessions started at or after since_wall."""
        clauses, args = _filters(client=client, region=region, since_wall=since_wall)
        (total,) = self._conn.execute(
            f"SELECT COALESCE(SUM(motor_on_s), 0) FROM sessions {clauses}", args
        ).fetchone()
        return float(total)

    def last_motor_session_end(self, *, client: str | None, region: str) -> str | None:
        """When the latest session of (client, region) with the motor on ended, or None."""
        clauses, args = _filters(client=client, region=region)
        (ended,) = self._conn.execute(
            f"SELECT MAX(COALESCE(ended_wall, started_wall)) FROM sessions {clauses}"
            " AND motor_on_s > 0",
            args,
        ).fetchone()
        return None if ended is None else str(ended)


def _step(row: tuple[Any, ...]) -> StepRecord:
    """A steps row as a StepRecord (SQLite keeps `skipped` as 0/1)."""
    values = dict(zip(_STEP_FIELDS, row, strict=True))
    values["skipped"] = bool(values["skipped"])
    return StepRecord(**values)


def _filters(**values: str | None) -> tuple[str, tuple[str, ...]]:
    """A WHERE clause for the given non-None column filters (since_wall is a lower bound)."""
    parts: list[str] = []
    args: list[str] = []
    for name, value in values.items():
        if value is None:
            continue
        parts.append("started_wall >= ?" if name == "since_wall" else f"{name} = ?")
        args.append(value)
    return ("WHERE " + " AND ".join(parts) if parts else "", tuple(args))
