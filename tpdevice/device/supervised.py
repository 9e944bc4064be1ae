"""SupervisedClient: what every driver's client delegates to its LinkSupervisor."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Self

from tpdevice.device.api import Identity
from tpdevice.device.errors import DeviceConnectionError
from tpdevice.device.state import ConnectionState
from tpdevice.device.supervisor import LinkSupervisor, StateListener
from tpdevice.errors import TpDeviceError
from tpdevice.protocol import Capabilities

__all__ = ["SupervisedClient"]


class SupervisedClient:
    """State, connect, close and identity of a client, for any driver (an async context).

    A driver's client sets `address`, `device_id`, `link` (its LinkSupervisor) and, after
    each handshake, `_capabilities`; it implements only the LinkDriver steps and its commands.
    """

    DRIVER: ClassVar[str]
    address: str
    device_id: str
    link: LinkSupervisor
    _capabilities: Capabilities | None

    @property
    def state(self) -> ConnectionState:
        """What the client can do now."""
        return self.link.state

    @property
    def last_error(self) -> TpDeviceError | None:
        """Why the last link was lost or could not be made (None before any trouble)."""
        return self.link.last_error

    @property
    def capabilities(self) -> Capabilities:
        """What the gun reported (or its driver knows) at the last handshake."""
        if self._capabilities is None:
            raise DeviceConnectionError(f"{self.address}: not connected yet")
        return self._capabilities

    @property
    def identity(self) -> Identity:
        """Device id and driver; model, serial and firmware from the last handshake."""
        caps = self._capabilities
        if caps is None:
            return Identity(self.device_id, self.DRIVER, "", "", "")
        return Identity(self.device_id, self.DRIVER, caps.model, caps.serial, caps.firmware)

    def subscribe_state(self, listener: StateListener) -> Callable[[], None]:
        """Call listener(old, new) on every state change; returns the unsubscribe function."""
        return self.link.subscribe_state(listener)

    async def wait_for_state(self, *states: ConnectionState) -> ConnectionState:
        """Wait until the state is one of `states`; return it."""
        return await self.link.wait_for_state(*states)

    async def connect(self) -> Capabilities:
        """Connect now unless connected or reconnecting; TransportOpenError/HandshakeError."""
        await self.link.connect()
        return self.capabilities

    def connect_in_background(self) -> None:
        """Connect in the background, retrying with backoff (a client created disconnected)."""
        self.link.start()

    async def close(self) -> None:
        """Stop a motor that may run, close every link and stream; idempotent."""
        await self.link.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
