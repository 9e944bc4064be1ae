"""Dose and recovery per (client, region, side), from the journal: may this profile start now?

Two rules, per side the session would work:
- recovery: after a completed session, the side rests `min_recovery_h` before the next one;
- daily cap: motor-on seconds in the past 24 h plus this session's plan stay within the
  profile's `max_work_s` for one side (so an early-stopped session can still be finished).
"""

from __future__ import annotations

import dataclasses
import datetime

from tpdevice.daemon.journal_queries import JournalReader, SessionRecord
from tpdevice.therapy.events import iso_utc

__all__ = ["DoseCheck", "DoseRefusal", "check_dose"]

DAY_S = 24 * 3600.0
_SIDES = {"both": ("left", "right"), "left": ("left",), "right": ("right",)}


@dataclasses.dataclass(frozen=True, slots=True)
class DoseCheck:
    """What is asked: this client's region side(s), this profile's caps and plan."""

    client: str | None
    region: str
    side: str  # left | right | both | midline
    motor_on_s_per_side: float
    max_work_s: float
    min_recovery_h: float
    device_id: str | None = None  # without a client pseudonym: the gun stands for the person


@dataclasses.dataclass(frozen=True, slots=True)
class DoseRefusal:
    """Why not now, and how long until it would be allowed."""

    reason: str
    wait_s: float

    def __str__(self) -> str:
        return f"{self.reason}; allowed again in {_duration_text(self.wait_s)}"


def check_dose(reader: JournalReader, check: DoseCheck, now_wall: float) -> DoseRefusal | None:
    """None when the session may start; else the refusal with the time left."""
    window_s = max(DAY_S, check.min_recovery_h * 3600.0)
    since = iso_utc(now_wall - window_s)
    history = reader.dose_sessions(
        client=check.client, region=check.region, since_wall=since, device_id=check.device_id
    )
    refusals = [
        refusal
        for side in _SIDES.get(check.side, (check.side,))
        for refusal in (
            _recovery(history, side, check, now_wall),
            _cap(history, side, check, now_wall),
        )
        if refusal is not None
    ]
    return max(refusals, key=lambda r: r.wait_s, default=None)


def _recovery(
    history: list[SessionRecord], side: str, check: DoseCheck, now_wall: float
) -> DoseRefusal | None:
    ends = [_epoch(r.ended_wall) for r in history if r.outcome == "completed" and _works(r, side)]
    if not ends:
        return None
    wait_s = max(ends) + check.min_recovery_h * 3600.0 - now_wall
    if wait_s <= 0:
        return None
    return DoseRefusal(
        f"{check.region} ({side}) had a full session {_duration_text(now_wall - max(ends))} ago;"
        f" it needs {check.min_recovery_h:g} h to recover",
        wait_s,
    )


def _cap(
    history: list[SessionRecord], side: str, check: DoseCheck, now_wall: float
) -> DoseRefusal | None:
    recent = [
        (_epoch(r.ended_wall or r.started_wall), _per_side(r))
        for r in history
        if _works(r, side) and _epoch(r.ended_wall or r.started_wall) > now_wall - DAY_S
    ]
    used_s = sum(work for _, work in recent)
    excess_s = used_s + check.motor_on_s_per_side - check.max_work_s
    if excess_s <= 1e-6:
        return None
    wait_s = 0.0
    for ended, work in sorted(recent):  # the oldest work ages out of the 24 h window first
        excess_s -= work
        wait_s = ended + DAY_S - now_wall
        if excess_s <= 1e-6:
            break
    return DoseRefusal(
        f"{check.region} ({side}): {used_s:.0f} s of motor time in the past 24 h plus"
        f" {check.motor_on_s_per_side:.0f} s planned exceeds the {check.max_work_s:.0f} s cap",
        max(wait_s, 0.0),
    )


def _works(record: SessionRecord, side: str) -> bool:
    return record.motor_on_s > 0 and side in _SIDES.get(record.side, (record.side,))


def _per_side(record: SessionRecord) -> float:
    return record.motor_on_s / len(_SIDES.get(record.side, (record.side,)))


def _epoch(iso: str | None) -> float:
    assert iso is not None
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _duration_text(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
