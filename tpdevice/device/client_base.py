"""DeviceClientBase: the native client's links, its step under the LinkSupervisor."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable

from tpdevice.device.connection import DeviceConnection
from tpdevice.device.errors import DeviceConnectionError, DeviceError
from tpdevice.device.feed import DeviceFeed
from tpdevice.device.heartbeat import Heartbeat
from tpdevice.device.motor import MotorGuard
from tpdevice.device.options import ClientOptions
from tpdevice.device.reconnect import Sleep
from tpdevice.device.setpoint import SetpointChannel
from tpdevice.device.state import ConnectionState, LinkState
from tpdevice.device.supervised import SupervisedClient
from tpdevice.device.supervisor import LinkSupervisor
from tpdevice.protocol import Capabilities, Hello, Message, Stop, StopReason
from tpdevice.protocol import Heartbeat as HeartbeatMessage
from tpdevice.transport import Transport

__all__ = ["DeviceClientBase", "StateListener"]

_LOGGER = logging.getLogger(__name__)

StateListener = Callable[[ConnectionState, ConnectionState], None]
_SEQ_MAX = 0xFFFF


class DeviceClientBase(SupervisedClient):
    """The native handshake step and links of one device; DeviceClient adds the commands.

    Its LinkSupervisor (`link`) owns the state, connect, reconnects and close.

    `device_id` names the gun in sessions (default: the address). `rng` draws the first
    sequence number (random in 1..65535, continued across reconnects) and
    the reconnect jitter; inject a seeded one in tests.
    """

    DRIVER = "native"

    def __init__(
        self,
        address: str,
        transport_factory: Callable[[], Transport],
        options: ClientOptions | None = None,
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
        reconnect_sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        device_id: str | None = None,
    ) -> None:
        self.address = address
        self.device_id = device_id or address
        self.options = opts = options or ClientOptions()
        rng = rng or random.Random()
        self.heartbeat = Heartbeat(
            address, self._send_heartbeat, self._on_link_trouble,
            max_misses=opts.heartbeat_max_misses,
        )  # fmt: skip
        self.link = LinkSupervisor(
            address, self, reconnect=opts.reconnect, backoff=opts.backoff,
            sleep=reconnect_sleep, rng=rng, on_close=on_close,
        )  # fmt: skip
        self.reconnect = self.link.reconnect
        self._factory = transport_factory
        self._state = self.link.state_holder
        self._connection: DeviceConnection | None = None
        self._lost: list[DeviceConnection] = []  # lost links whose transports close() awaits
        self._setpoints: SetpointChannel | None = None
        self._capabilities: Capabilities | None = None
        self._next_seq = rng.randint(1, _SEQ_MAX)
        self._motor = MotorGuard()
        self._feed = DeviceFeed(
            address, self._state, telemetry_queue_size=opts.telemetry_queue_size,
            event_queue_size=opts.event_queue_size, on_motor_state=self._motor.observe,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"<DeviceClient {self.address} {self.state.value}>"

    # --- state -------------------------------------------------------------------------

    @property
    def connection(self) -> DeviceConnection | None:
        """The live link, if any (for statistics and tests)."""
        return self._connection

    @property
    def motor_may_run(self) -> bool:
        """True from a START / run / resume until an ACKed STOP or idle telemetry says not."""
        return self._motor.may_run

    # --- the driver's step (LinkDriver) -------------------------------------------------------

    async def establish(self) -> None:
        """Build a transport and a connection, open and handshake, then adopt it."""
        await self._reap_lost()
        connection = DeviceConnection(
            self._factory(), self.options.connection_options(), first_seq=self._next_seq
        )
        connection.on_lost = functools.partial(self._on_connection_lost, connection)
        hello = Hello(watchdog_ms=self.options.watchdog_ms, telemetry_hz=self.options.telemetry_hz)
        try:
            await connection.open()
            capabilities = await connection.handshake(hello)
        except BaseException:
            self._next_seq = connection.next_seq
            await connection.close()
            raise
        if not self.link.adopting:
            self._next_seq = connection.next_seq
            await connection.close()  # closed meanwhile
            return
        self._attach(connection, capabilities)

    def _attach(self, connection: DeviceConnection, capabilities: Capabilities) -> None:
        """Adopt a handshaken connection: listeners, setpoint channel, heartbeat, READY."""
        self._connection = connection
        self._capabilities = capabilities
        self._setpoints = SetpointChannel(connection)
        self._feed.attach(connection)
        self._motor.new_link()
        self.heartbeat.configure(capabilities.watchdog_ms)
        _LOGGER.info(
            "%s: %s %s (firmware %s), watchdog %d ms, telemetry %d Hz",
            self.address, capabilities.model, capabilities.serial, capabilities.firmware,
            capabilities.watchdog_ms, capabilities.telemetry_hz,
        )  # fmt: skip
        self.link.link_ready()

    def _on_connection_lost(
        self, connection: DeviceConnection, error: DeviceConnectionError
    ) -> None:
        """The live link died: keep its sequence, close it later, tell the supervisor."""
        if connection is not self._connection:
            return
        self._next_seq = connection.next_seq
        self._connection = self._setpoints = None
        self._lost.append(connection)
        self.link.link_lost(error)

    def _on_stop_acked(self, reply: Message) -> None:
        """STOP / abort acknowledged: the motor is stopping (a latched fault stays)."""
        if self.state is ConnectionState.RUNNING:
            self._feed.set_linked_state(ConnectionState.READY)

    async def stop_on_close(self) -> None:
        """STOP(host) if the motor may run and a link is up; the watchdog is the backstop."""
        connection = self._connection
        if connection is None or connection.state is not LinkState.READY:
            return
        if not self._motor.may_run:
            return
        try:
            pending = self._motor.send_halt(
                connection, Stop(StopReason.HOST), self._on_stop_acked, stops_motor=True,
                timeout_s=self.options.stop_timeout_s, retries=1,
            )  # fmt: skip
            await connection.wait(pending)
        except DeviceError as err:
            _LOGGER.info("%s: STOP on close failed (the watchdog will stop it): %s",
                         self.address, err)  # fmt: skip

    async def release(self) -> None:
        """Close every connection made and end the streams."""
        if self._connection is not None:
            self._lost.append(self._connection)
        self._connection = self._setpoints = None
        await self._reap_lost()
        self._feed.close()

    async def _reap_lost(self) -> None:
        """Close the connections that were lost (awaits their transports' close)."""
        while self._lost:
            await self._lost.pop().close()

    # --- internals: sending ----------------------------------------------------------------

    def _on_link_trouble(self, error: DeviceConnectionError) -> None:
        """Heartbeats went unanswered: treat the link as lost."""
        if self._connection is not None:
            self._connection.fail(error)

    def _send_heartbeat(self, timeout_s: float) -> asyncio.Future[Message] | None:
        """One HEARTBEAT without retransmission (the next beat is the retry)."""
        connection = self._connection
        if connection is None or connection.state is not LinkState.READY:
            return None
        host_time_ms = (time.monotonic_ns() // 1_000_000) & 0xFFFF_FFFF
        try:
            message = HeartbeatMessage(host_time_ms)
            return connection.send_request(message, timeout_s=timeout_s, retries=0).future
        except DeviceConnectionError:
            return None

    def _require_connection(self) -> DeviceConnection:
        """The live connection, or DeviceConnectionError."""
        if self._connection is None:
            raise self._not_connected()
        return self._connection

    def _not_connected(self) -> DeviceConnectionError:
        """The error for a command issued without a link."""
        return DeviceConnectionError(f"{self.address}: not connected ({self.state.value})")
