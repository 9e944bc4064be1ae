"""LinkSupervisor: a gun's life cycle (first connect, reconnect with backoff, close), any driver.

A driver's client supplies only its connect-and-handshake step (LinkDriver.establish) and what
to do at close; the supervisor owns the connection state, the reconnect logic and last_error.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from tpdevice.device.errors import DeviceConnectionError
from tpdevice.device.heartbeat import Heartbeat
from tpdevice.device.reconnect import Backoff, ReconnectLogic, Sleep
from tpdevice.device.state import ConnectionState, ReconnectState, StateHolder
from tpdevice.errors import TpDeviceError

__all__ = ["LinkDriver", "LinkSupervisor", "StateListener"]

_LOGGER = logging.getLogger(__name__)

StateListener = Callable[[ConnectionState, ConnectionState], None]
_IDLE = (ConnectionState.DISCONNECTED, ConnectionState.FAILED)


class LinkDriver(Protocol):
    """What a driver's client gives its supervisor."""

    async def establish(self) -> None:
        """Open a new link and handshake; adopt it with supervisor.link_ready(), or raise."""
        ...

    async def stop_on_close(self) -> None:
        """Stop a motor that may run (best effort, never raises) before the link closes."""
        ...

    async def release(self) -> None:
        """Close every link made and end the streams (the client is closing)."""
        ...


class LinkSupervisor:
    """Owns state, first connect, reconnect with backoff, close and teardown of one gun.

    `connect()` makes the first connection and raises its error; `start()` instead begins
    connecting in the background, so a client may exist before its gun is reachable.
    """

    def __init__(
        self,
        address: str,
        driver: LinkDriver,
        *,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.address = address
        self.reconnect_enabled = reconnect
        self.last_error: TpDeviceError | None = None  # why the last link was lost or not made
        self.state_holder = StateHolder(
            address, ConnectionState.DISCONNECTED, log_level=logging.INFO
        )
        self.reconnect = ReconnectLogic(
            address, self._attempt, backoff=backoff, sleep=sleep, rng=rng
        )
        self.reconnect.subscribe_state(self._on_reconnect_state)
        self._driver = driver
        self._on_close = on_close
        self._closing: asyncio.Event | None = None

    @property
    def state(self) -> ConnectionState:
        """What the client can do now."""
        return self.state_holder.value

    @property
    def closing(self) -> bool:
        """True once close() began."""
        return self._closing is not None

    @property
    def adopting(self) -> bool:
        """True while a link that just handshook may still be adopted (not closed meanwhile)."""
        return self._closing is None and self.state is ConnectionState.CONNECTING

    def stats(
        self, driver: str, heartbeat: Heartbeat, motor_may_run: bool, link: dict[str, Any]
    ) -> dict[str, Any]:
        """A client's counters in the one shape every driver shares; `link` is driver-specific."""
        return {
            "driver": driver,
            "state": self.state.value,
            "last_error": None if self.last_error is None else str(self.last_error),
            "reconnect_attempts": self.reconnect.attempts,
            "heartbeat": {"sent": heartbeat.sent, "acked": heartbeat.acked,
                          "missed": heartbeat.missed},
            "motor_may_run": motor_may_run,
            "link": link,
        }  # fmt: skip

    def subscribe_state(self, listener: StateListener) -> Callable[[], None]:
        """Call listener(old, new) on every state change; returns the unsubscribe function."""
        return self.state_holder.subscribe(listener)

    async def wait_for_state(self, *states: ConnectionState) -> ConnectionState:
        """Wait until the state is one of `states`; return it."""
        return await self.state_holder.wait_for(*states)

    async def connect(self) -> None:
        """Connect now unless connected or reconnecting; raise why it failed."""
        if self._closing is not None:
            raise DeviceConnectionError(f"{self.address}: client is closed")
        if self.state in _IDLE and not self.reconnect.running:
            await self._attempt()

    def start(self) -> None:
        """Connect in the background (with backoff) until a link is up; never raises."""
        if self._closing is None and self.state in _IDLE:
            self.reconnect.start()

    def link_ready(self) -> None:
        """The driver adopted a handshaken link: READY."""
        self.reconnect.link_up()
        self.state_holder.set(ConnectionState.READY)

    def link_lost(self, error: TpDeviceError) -> None:
        """The live link died: DISCONNECTED, then reconnect if enabled (not while closing)."""
        self.last_error = error
        if self._closing is not None or self.state is ConnectionState.CLOSED:
            return
        self.state_holder.set(ConnectionState.DISCONNECTED)
        if self.reconnect_enabled:
            self.reconnect.start()

    async def close(self) -> None:
        """Stop a motor that may run, close every link, end the streams; idempotent."""
        if self._closing is not None:
            await self._closing.wait()
            return
        self._closing = asyncio.Event()
        try:
            await self.reconnect.stop()
            await self._driver.stop_on_close()
        finally:
            self.state_holder.set(ConnectionState.CLOSED)
            await self._driver.release()
            await self.reconnect.stop()
            if self._on_close is not None:
                await self._on_close()
            self._closing.set()

    async def _attempt(self) -> None:
        """One attempt: CONNECTING, the driver's step, READY; DISCONNECTED again on failure."""
        if self._closing is not None:
            return
        self.state_holder.set(ConnectionState.CONNECTING)
        try:
            await self._driver.establish()
        except BaseException as err:
            if isinstance(err, TpDeviceError):
                self.last_error = err
            if self.state is ConnectionState.CONNECTING:
                self.state_holder.set(ConnectionState.DISCONNECTED)
            raise

    def _on_reconnect_state(self, old: ReconnectState, new: ReconnectState) -> None:
        """Reconnecting gave up on a permanent error: FAILED, the error in last_error."""
        if new is ReconnectState.GAVE_UP and self._closing is None:
            self.last_error = self.reconnect.last_error or self.last_error
            self.state_holder.set(ConnectionState.FAILED)
