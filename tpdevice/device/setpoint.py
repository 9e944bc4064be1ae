"""Newest setpoint wins: one SET_OUTPUT in flight, one pending slot that newer calls replace."""

from __future__ import annotations

import asyncio
import logging

from tpdevice.device.connection import DeviceConnection, PendingRequest
from tpdevice.device.errors import RequestAbandonedError
from tpdevice.device.state import SetpointResult
from tpdevice.protocol import Message, SetOutput

__all__ = ["SetpointChannel"]

_LOGGER = logging.getLogger(__name__)


class SetpointChannel:
    """Sends SET_OUTPUTs so that stale values are dropped on the host, never replayed.

    While one is in flight, a new call takes the single pending slot; the call it displaces
    returns SUPERSEDED, and the in-flight one stops retransmitting (the newer value wins).
    """

    def __init__(self, connection: DeviceConnection) -> None:
        self._connection = connection
        self._in_flight: PendingRequest | None = None
        self._queued: tuple[SetOutput, asyncio.Future[SetpointResult]] | None = None
        self.superseded = 0

    async def submit(self, message: SetOutput) -> SetpointResult:
        """Send now if idle, else wait in the pending slot; NACKs and timeouts raise."""
        if self._in_flight is None:
            return await self._send_now(message)
        if self._queued is not None:
            self._resolve(self._queued[1], self._superseded())
        waiter: asyncio.Future[SetpointResult] = asyncio.get_running_loop().create_future()
        self._queued = (message, waiter)
        self._in_flight.stop_retransmits("superseded by a newer setpoint")
        return await waiter

    async def _send_now(self, message: SetOutput) -> SetpointResult:
        """The fast path: the caller's own task awaits the ACK, no extra hop."""
        pending = self._connection.send_request(message)
        self._in_flight = pending
        try:
            await self._connection.wait(pending)
        except RequestAbandonedError:
            return self._superseded()
        finally:
            self._in_flight = None
            self._launch_queued()
        return SetpointResult.APPLIED

    def _launch_queued(self) -> None:
        """Send the setpoint waiting in the slot, if any; its caller's future gets the result."""
        if self._queued is None:
            return
        message, waiter = self._queued
        self._queued = None
        if waiter.done():  # its caller was cancelled
            return
        try:
            pending: PendingRequest = self._connection.send_request(message)
        except Exception as err:
            waiter.set_exception(err)
            return
        self._in_flight = pending
        pending.future.add_done_callback(lambda done: self._on_queued_done(waiter, done))

    def _on_queued_done(
        self, waiter: asyncio.Future[SetpointResult], done: asyncio.Future[Message]
    ) -> None:
        """Hand a launched setpoint's outcome to its caller, then launch the next one."""
        self._in_flight = None
        if done.cancelled():
            waiter.cancel()
        elif isinstance(done.exception(), RequestAbandonedError):
            self._resolve(waiter, self._superseded())
        elif (error := done.exception()) is not None:
            if not waiter.done():
                waiter.set_exception(error)
        else:
            self._resolve(waiter, SetpointResult.APPLIED)
        self._launch_queued()

    def _superseded(self) -> SetpointResult:
        """Count and return SUPERSEDED."""
        _LOGGER.debug("%s: setpoint superseded by a newer one", self._connection.address)
        self.superseded += 1
        return SetpointResult.SUPERSEDED

    def _resolve(self, waiter: asyncio.Future[SetpointResult], result: SetpointResult) -> None:
        """Complete a waiting caller unless it went away."""
        if not waiter.done():
            waiter.set_result(result)
