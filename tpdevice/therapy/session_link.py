"""A session's link: pause when it drops, fail after the grace, recover when it is back."""

from __future__ import annotations

from tpdevice.device.state import ConnectionState
from tpdevice.protocol import StopReason
from tpdevice.therapy.commands import EndReason
from tpdevice.therapy.session_ending import LINKED
from tpdevice.therapy.session_parts import SessionParts, enter_pause, leave_pause
from tpdevice.therapy.session_state import Ending, SessionState
from tpdevice.therapy.timesync import sync_time

__all__ = ["SessionLink"]

_GONE = frozenset({ConnectionState.FAILED, ConnectionState.CLOSED})


class SessionLink:
    """Follows the client's link for the control loop (parts.link holds the state)."""

    def __init__(self, parts: SessionParts, reconnect_grace_s: float) -> None:
        self._parts = parts
        self._grace_s = reconnect_grace_s

    async def check(self, now_s: float) -> Ending | None:
        """Pause on a lost link, fail after the grace, recover when it is back."""
        parts, link = self._parts, self._parts.link
        state, address = parts.client.state, parts.client.address
        if link.watchdog_outages > link.outages_taken and state in LINKED:
            link.outages_taken = link.watchdog_outages  # a watchdog trip: as a lost link
            self.lost(now_s)
        if state in _GONE:
            return Ending(SessionState.FAILED, EndReason.LINK_LOST, f"{address}: {state.value}")
        if state not in LINKED:
            if not link.lost:
                self.lost(now_s)
            elif now_s >= link.grace_end_s:
                return Ending(SessionState.FAILED, EndReason.LINK_LOST, self._grace_text())
            return None
        if link.lost:
            await self._back()
        return None

    def _grace_text(self) -> str:
        """Why the session gives up on the link: never back, or back but lost each time."""
        parts, grace = self._parts, f"{self._grace_s:g} s"
        address, returns = parts.client.address, parts.link.returns
        if returns:  # back, but lost again before the session resumed
            times = f"{returns} time" if returns == 1 else f"{returns} times"
            return (
                f"{address}: the session could not resume within {grace}:"
                f" the link came back {times}, lost each time"
            )
        text = f"{address}: the link did not come back within {grace}"
        if parts.client.last_error is not None:  # what the last attempt met
            text += f" ({parts.client.last_error})"
        return text

    def came_back(self) -> None:
        """A new link is up (the loop recovers on its next pass)."""
        if self._parts.link.lost:
            self._parts.link.returns += 1

    def lost(self, now_s: float) -> None:
        """The link dropped: freeze the step and pause (unless the user's pause is in force)."""
        parts = self._parts
        parts.link.lost = True
        parts.link.returns = 0
        parts.link.grace_end_s = now_s + self._grace_s
        parts.runner.link_lost(now_s)
        if not parts.pause.taken:
            enter_pause(parts, now_s, "link_lost")

    async def _back(self) -> None:
        """Sync device time again; go on, unless a pause is in force or asked (then STOP).

        Lost again meanwhile: the DeviceConnectionError leaves the link lost, same grace.
        """
        parts = self._parts
        await sync_time(parts.ctx)
        pause = parts.pause
        asked = pause.asked
        if pause.taken:
            await parts.runner.halt(StopReason.USER)
        elif not asked:  # else the queued pause comes next: it STOPs, nothing STARTs
            await parts.runner.recover(parts.clock.now_s())
        parts.link.lost = False
        parts.link.back_s = parts.clock.now_s()
        if not pause.taken and not asked:
            leave_pause(parts, parts.link.back_s, "reconnected")
