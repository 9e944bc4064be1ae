"""The parts a session is composed of, handed to the components that work on them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tpdevice.device.api import GunClient
from tpdevice.therapy.clock import SessionClock
from tpdevice.therapy.events import SessionPaused, SessionResumed
from tpdevice.therapy.modes import ModeRunner, RunContext
from tpdevice.therapy.session_ending import SessionEnd
from tpdevice.therapy.session_events import SessionEvents
from tpdevice.therapy.session_pause import PauseState
from tpdevice.therapy.timeline import Timeline

__all__ = ["LinkWatch", "SessionParts", "enter_pause", "leave_pause"]


@dataclass(slots=True)
class LinkWatch:
    """Whether the link is lost, when it may come back by, and when it last came back."""

    lost: bool = False
    back_s: float = -math.inf
    grace_end_s: float = math.inf
    returns: int = 0  # times the link came back during this outage, lost again before resuming
    watchdog_outages: int = 0  # watchdog trips on a live link, taken as short outages
    outages_taken: int = 0  # of those, how many the loop has recovered from


@dataclass(slots=True)
class SessionParts:
    """Each part owns its own state; `wake` makes the control loop run now."""

    client: GunClient
    clock: SessionClock
    timeline: Timeline
    ctx: RunContext
    runner: ModeRunner
    events: SessionEvents
    pause: PauseState
    end: SessionEnd
    wake: Callable[[], None]
    begun: bool = False  # the control loop started the session (session.started is out)
    link: LinkWatch = field(default_factory=LinkWatch)
    faults: list[str] = field(default_factory=list)


def enter_pause(parts: SessionParts, now_s: float, reason: str) -> None:
    """session.paused(reason), unless already paused for that reason."""
    if parts.pause.enter(now_s, reason):
        parts.events.emit(SessionPaused, reason=reason, **_where(parts, now_s))


def leave_pause(parts: SessionParts, now_s: float, reason: str) -> None:
    """session.resumed, then the hold events of contact changed meanwhile."""
    parts.pause.leave(now_s)
    parts.events.emit(SessionResumed, reason=reason, **_where(parts, now_s))
    parts.ctx.progress.tell_contact(now_s, parts.ctx.contact.force_n)
    if parts.runner.on_contact(now_s):
        parts.wake()


def _where(parts: SessionParts, now_s: float) -> dict[str, Any]:
    timer = parts.ctx.progress.timer
    if timer is None:
        return {}
    return {"step_index": timer.step.index, "remaining_s": timer.remaining_s(now_s)}
