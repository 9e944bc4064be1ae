"""The end of a session: the ending asked for, its STOP, the terminal event, then done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tpdevice.device.api import GunClient
from tpdevice.device.state import ConnectionState
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.clock import SessionClock
from tpdevice.therapy.commands import device_stop_reason
from tpdevice.therapy.events import SessionAborted, SessionCompleted, SessionFailed
from tpdevice.therapy.modes import RunContext
from tpdevice.therapy.session_events import SessionEvents
from tpdevice.therapy.session_pause import PauseState
from tpdevice.therapy.session_state import Ending, SessionState
from tpdevice.therapy.summary import Summary

__all__ = ["LINKED", "SessionEnd"]

_LOGGER = logging.getLogger(__name__)

LINKED = frozenset({ConnectionState.READY, ConnectionState.RUNNING, ConnectionState.FAULTED})


class SessionEnd:
    """Owns how the session ends: `asked` once an ending is under way, `final` once it ended."""

    def __init__(
        self,
        client: GunClient,
        clock: SessionClock,
        ctx: RunContext,
        events: SessionEvents,
        pause: PauseState,
    ) -> None:
        self._client = client
        self._clock = clock
        self._ctx = ctx
        self._events = events
        self._pause = pause
        self.asked: Ending | None = None
        self.final: Ending | None = None
        self.end_s: float | None = None
        self.done = asyncio.Event()
        self.tasks: set[asyncio.Future[Any]] = set()  # STOPs and endings under way

    def request(self, ending: Ending, wake: Callable[[], None]) -> None:
        """End as soon as the loop runs; STOP goes out now, not at the next deadline."""
        if self.asked is not None or self.final is not None:
            return
        self.asked = ending
        self._ctx.halting = True
        self.keep(asyncio.get_running_loop().create_task(self.send_stop(ending)))
        wake()

    def keep(self, task: asyncio.Future[Any]) -> None:
        """Hold a STOP / ending task until it is done (stop() waits for these)."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def send_stop(self, ending: Ending) -> None:
        """STOP if the link is up (best effort: the device watchdog covers a dead link)."""
        if self._client.state not in LINKED:
            return
        try:
            await self._client.stop(device_stop_reason(ending.reason))
        except TpDeviceError as err:
            _LOGGER.warning("%s: STOP at the session end failed: %s", self._client.address, err)

    async def finish(self, ending: Ending, summary: Callable[[], Summary]) -> Summary:
        """Motor stopped, final state, terminal event with the summary, bus closed."""
        if self.final is not None:
            return summary()
        ending = self.asked = self.asked or ending
        self._ctx.halting = True
        await self.send_stop(ending)
        self.finish_quietly(ending, summary)
        return summary()

    async def finish_shielded(self, ending: Ending, summary: Callable[[], Summary]) -> Summary:
        """finish(); cancelled meanwhile, the session still ends (its STOP goes on), re-raised."""
        finishing = asyncio.ensure_future(self.finish(ending, summary))
        self.keep(finishing)
        try:
            return await asyncio.shield(finishing)
        except asyncio.CancelledError:
            self.finish_quietly(ending, summary)
            raise

    def finish_quietly(self, ending: Ending, summary: Callable[[], Summary]) -> None:
        """The terminal state and event (no device I/O); the bus closes even if that fails."""
        if self.final is not None:
            return
        ending = self.asked = self.asked or ending
        now_s = self.end_s = self._clock.now_s()
        self._pause.stop_counting(now_s)
        self.final = ending
        try:
            if ending.state is not SessionState.COMPLETED:
                self._ctx.progress.interrupt(now_s)
            self._emit_ending(ending, summary())
        finally:
            self._events.bus.close()
            self.done.set()

    def _emit_ending(self, ending: Ending, summary: Summary) -> None:
        """session.completed / aborted / failed with the summary."""
        emit = self._events.emit
        if ending.state is SessionState.COMPLETED:
            emit(SessionCompleted, summary=summary)
        elif ending.state is SessionState.ABORTED:
            emit(SessionAborted, reason=ending.reason.value, detail=ending.detail, summary=summary)
        else:
            emit(SessionFailed, reason=ending.reason.value, error=ending.detail, summary=summary)
