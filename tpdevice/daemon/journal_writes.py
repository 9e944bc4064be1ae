"""How each journaled event changes the tables: one small SQL step per event type."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

__all__ = ["apply_event"]

_ON_REQUEST = frozenset({"user", "host", "cancelled"})
_ENDINGS = {
    "session.completed": "completed",
    "session.aborted": "aborted",
    "session.failed": "failed",
}


def _session_started(conn: sqlite3.Connection, body: dict[str, Any]) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO sessions (session_id, device_id, profile_id, started_wall)"
        " VALUES (?, ?, ?, ?)",
        (body["session_id"], body["device"], body["profile_id"], body["wall_time"]),
    )
    conn.execute(
        "UPDATE sessions SET side = ?, mode = ?, step_count = ?, planned_duration_s = ?"
        " WHERE session_id = ?",
        (
            body["side"],
            body["mode"],
            body["step_count"],
            body["planned_duration_s"],
            body["session_id"],
        ),
    )


def _step_started(conn: sqlite3.Connection, body: dict[str, Any]) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO steps (session_id, step_index, kind, side, cycle, freq_hz,"
        " band_low_n, band_high_n, planned_start_s, actual_start_s, lateness_ms,"
        " planned_duration_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            body["session_id"],
            body["step_index"],
            body["kind"],
            body["side"],
            body["cycle"],
            body["freq_hz"],
            body["band_low_n"],
            body["band_high_n"],
            body["planned_start_s"],
            body["actual_start_s"],
            body["lateness_ms"],
            body["duration_s"],
        ),
    )


def _step_completed(conn: sqlite3.Connection, body: dict[str, Any]) -> None:
    key = (body["session_id"], body["step_index"])
    conn.execute(
        "UPDATE steps SET actual_duration_s = ?, skipped = ?"
        " WHERE session_id = ? AND step_index = ?",
        (body["duration_s"], int(body["skipped"]), *key),
    )
    row = conn.execute(
        "SELECT freq_hz FROM steps WHERE session_id = ? AND step_index = ?", key
    ).fetchone()
    motor_on_s = body["duration_s"] if row is not None and row[0] > 0 else 0.0
    conn.execute(
        "UPDATE sessions SET steps_done = steps_done + 1, motor_on_s = motor_on_s + ?"
        " WHERE session_id = ?",
        (motor_on_s, body["session_id"]),
    )


def _pause_change(outcome: str) -> Callable[[sqlite3.Connection, dict[str, Any]], None]:
    def apply(conn: sqlite3.Connection, body: dict[str, Any]) -> None:
        conn.execute(
            "UPDATE sessions SET outcome = ?"
            " WHERE session_id = ? AND outcome IN ('running', 'paused')",
            (outcome, body["session_id"]),
        )

    return apply


def _session_ended(conn: sqlite3.Connection, body: dict[str, Any]) -> None:
    reason = body.get("reason", "")
    # Stopped on request: the reason is the whole story (the detail only says "stopped").
    detail = "" if reason in _ON_REQUEST else body.get("error") or body.get("detail") or ""
    cause = f"{reason}: {detail}" if reason and detail else reason or detail
    conn.execute(
        "UPDATE sessions SET outcome = ?, cause = ?, ended_wall = ?, summary = ?"
        " WHERE session_id = ?",
        (
            _ENDINGS[body["type"]],
            cause,
            body["wall_time"],
            json.dumps(body.get("summary")),
            body["session_id"],
        ),
    )


_APPLY: dict[str, Callable[[sqlite3.Connection, dict[str, Any]], None]] = {
    "session.started": _session_started,
    "step.started": _step_started,
    "step.completed": _step_completed,
    "session.paused": _pause_change("paused"),
    "session.resumed": _pause_change("running"),
    **dict.fromkeys(_ENDINGS, _session_ended),
}


def apply_event(
    conn: sqlite3.Connection, device_id: str, device_seq: int, body: dict[str, Any]
) -> None:
    """Insert one event and update the session, step and dose rows it affects."""
    conn.execute(
        "INSERT INTO events (device_id, device_seq, session_id, seq, type, wall_time, mono_s, body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            device_id,
            device_seq,
            body["session_id"],
            body["seq"],
            body["type"],
            body["wall_time"],
            body["mono_s"],
            json.dumps(body, separators=(",", ":")),
        ),
    )
    apply = _APPLY.get(body["type"])
    if apply is not None:
        apply(conn, body)
