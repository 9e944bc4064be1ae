"""The control loop of a session: deadlines, the link, commands and heartbeats, one task."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from tpdevice.device.errors import DeviceConnectionError
from tpdevice.therapy.commands import EndReason
from tpdevice.therapy.session_ending import LINKED
from tpdevice.therapy.session_heartbeat import SessionHeartbeat
from tpdevice.therapy.session_link import SessionLink
from tpdevice.therapy.session_parts import SessionParts
from tpdevice.therapy.session_state import Ending, SessionState

__all__ = ["SessionLoop"]

RunCommands = Callable[[], Awaitable[None]]


class SessionLoop:
    """Starts the run, then loops: what is due, a heartbeat, sleep until the next deadline."""

    def __init__(self, parts: SessionParts, heartbeat: SessionHeartbeat, link: SessionLink) -> None:
        self._parts = parts
        self._heartbeat = heartbeat
        self._link = link
        self._wake_future: asyncio.Future[None] | None = None
        self.t0_s: float | None = None

    def arm(self) -> None:
        """Make the loop wakeable (call in the running event loop, before drive())."""
        self._wake_future = asyncio.get_running_loop().create_future()

    def wake(self) -> None:
        """Make the loop run now (no-op before arm() or when already woken)."""
        wake = self._wake_future
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def drive(self, mode: str, run_commands: RunCommands) -> Ending:
        """Start, then loop until an ending.

        A step due at a beat goes first: its setpoint is written, and while its ACK is awaited
        the helper beats (the beat is late by that one write, never by the ACK).
        """
        parts, clock = self._parts, self._parts.clock
        parts.events.started(parts.timeline, mode)
        parts.begun = True
        self.t0_s = parts.ctx.progress.t0_s = clock.now_s()
        self._heartbeat.start(self.t0_s)
        try:
            self.t0_s = await self._heartbeat.beating(parts.runner.begin())
        except DeviceConnectionError:
            if parts.client.state in LINKED:
                raise  # else the loop sees the link lost and recovers
        while True:
            ending = await self._tick(clock.now_s(), run_commands)
            if ending is not None:
                return ending
            self._heartbeat.beat_if_due()
            await self._wait(min(self._heartbeat.next_beat_s, self._next_deadline_s()))

    async def _tick(self, now_s: float, run_commands: RunCommands) -> Ending | None:
        """Handle what is due: an end, the link, commands, step deadlines."""
        try:
            return await self._heartbeat.beating(self._tick_once(now_s, run_commands))
        except DeviceConnectionError:
            if self._parts.client.state in LINKED:
                raise
            if not self._parts.link.lost:  # the link dropped under a command: freeze right now
                self._link.lost(self._parts.clock.now_s())
            return None

    async def _tick_once(self, now_s: float, run_commands: RunCommands) -> Ending | None:
        parts = self._parts
        runner, end = parts.runner, parts.end
        if end.asked is not None:
            return end.asked
        if runner.device_abort is not None:
            return Ending(SessionState.ABORTED, EndReason.DEVICE_FAULT, runner.device_abort)
        ending = await self._link.check(now_s)
        if ending is not None or parts.link.lost:
            return ending
        await run_commands()
        if end.asked is None and not parts.pause.taken:
            await runner.on_time(parts.clock.now_s())
        if end.asked is None and runner.done:
            return Ending(SessionState.COMPLETED, EndReason.NONE, "")
        return end.asked

    def _next_deadline_s(self) -> float:
        parts = self._parts
        if parts.link.lost:
            return parts.link.grace_end_s
        return math.inf if parts.pause.taken else parts.runner.next_deadline_s()

    async def _wait(self, deadline_s: float) -> None:
        """Sleep on the session clock until deadline_s, or until something wakes the loop.

        The sleeper resolves the wake future itself: at a deadline the loop runs one hop
        after the clock wakes, not two (asyncio.wait's callback would add one).
        """
        wake = self._wake_future
        assert wake is not None
        if not wake.done():
            if math.isinf(deadline_s):
                await wake
            else:
                alarm = asyncio.ensure_future(self._alarm(deadline_s, wake))
                try:
                    await wake
                finally:
                    alarm.cancel()
        self._wake_future = asyncio.get_running_loop().create_future()

    async def _alarm(self, deadline_s: float, wake: asyncio.Future[None]) -> None:
        """Resolve `wake` at deadline_s on the session clock (unless something did first)."""
        await self._parts.clock.sleep_until(deadline_s)
        if not wake.done():
            wake.set_result(None)
