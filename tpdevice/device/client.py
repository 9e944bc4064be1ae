"""DeviceClient: one gun, connected: state, commands, telemetry, events, reconnects."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tpdevice.device.connection import ConnectionOptions, DeviceConnection
from tpdevice.device.errors import DeviceConnectionError, DeviceError, DeviceRangeError
from tpdevice.device.feed import DeviceEvent, DeviceFeed, EventListener
from tpdevice.device.heartbeat import Heartbeat
from tpdevice.device.program import indexed_steps, upload_program
from tpdevice.device.reconnect import Backoff, ReconnectLogic, Sleep
from tpdevice.device.setpoint import SetpointChannel
from tpdevice.device.state import ConnectionState, LinkState, SetpointResult, StateHolder
from tpdevice.device.stream import LatestStream
from tpdevice.device.validate import check_feature, check_output, check_program
from tpdevice.protocol import (
    Capabilities,
    Feature,
    Hello,
    Message,
    MessageError,
    ProgramAction,
    ProgramControl,
    ProgramStep,
    SetOutput,
    Start,
    Stop,
    StopReason,
    Telemetry,
    TimeSync,
    TimeSyncReply,
)
from tpdevice.protocol import Heartbeat as HeartbeatMessage
from tpdevice.transport import Transport

__all__ = ["ClientOptions", "DeviceClient", "DeviceEvent", "EventListener"]

_LOGGER = logging.getLogger(__name__)

StateListener = Callable[[ConnectionState, ConnectionState], None]


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Everything tunable about a client; times in seconds unless the name says ms."""

    watchdog_ms: int = 1000  # asked for in HELLO; the device clamps it
    telemetry_hz: int = 20
    request_timeout_s: float = 0.25
    retries: int = 3
    handshake_timeout_s: float = 0.5
    handshake_retries: int = 2
    heartbeat_max_misses: int = 3
    stop_timeout_s: float = 0.1  # for the best-effort STOP sent by close()
    program_pull_timeout_s: float = 3.0
    telemetry_queue_size: int = 64
    event_queue_size: int = 1024
    reconnect: bool = True
    backoff: Backoff = field(default_factory=Backoff)

    def connection_options(self) -> ConnectionOptions:
        """The subset a DeviceConnection uses."""
        return ConnectionOptions(
            self.request_timeout_s, self.retries, self.handshake_timeout_s, self.handshake_retries
        )


class DeviceClient:
    """The front object for one device; build it with `open_client()` or connect() it."""

    def __init__(
        self,
        address: str,
        transport_factory: Callable[[], Transport],
        options: ClientOptions | None = None,
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
        reconnect_sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.address = address
        self.options = opts = options or ClientOptions()
        self.heartbeat = Heartbeat(
            address,
            self._send_heartbeat,
            self._on_link_trouble,
            max_misses=opts.heartbeat_max_misses,
        )
        self.reconnect = ReconnectLogic(
            address, self._connect_once, backoff=opts.backoff, sleep=reconnect_sleep, rng=rng
        )
        self._factory = transport_factory
        self._on_close = on_close
        self._state = StateHolder(address, ConnectionState.DISCONNECTED, log_level=logging.INFO)
        self._connection: DeviceConnection | None = None
        self._setpoints: SetpointChannel | None = None
        self._capabilities: Capabilities | None = None
        self._next_seq = 1
        self.last_error: DeviceConnectionError | None = None  # why the last link was lost
        self._feed = DeviceFeed(
            address,
            self._state,
            telemetry_queue_size=opts.telemetry_queue_size,
            event_queue_size=opts.event_queue_size,
        )

    def __repr__(self) -> str:
        return f"<DeviceClient {self.address} {self.state.value}>"

    # --- state -------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """What the client can do now."""
        return self._state.value

    @property
    def capabilities(self) -> Capabilities:
        """What the device reported in the last handshake; DeviceConnectionError before one."""
        if self._capabilities is None:
            raise DeviceConnectionError(f"{self.address}: not connected yet")
        return self._capabilities

    @property
    def connection(self) -> DeviceConnection | None:
        """The live link, if any (for statistics and tests)."""
        return self._connection

    def subscribe_state(self, listener: StateListener) -> Callable[[], None]:
        """Call listener(old, new) on every state change; returns the unsubscribe function."""
        return self._state.subscribe(listener)

    async def wait_for_state(self, *states: ConnectionState) -> ConnectionState:
        """Wait until the state is one of `states`; return it."""
        if self.state in states:
            return self.state
        reached: asyncio.Future[ConnectionState] = asyncio.get_running_loop().create_future()

        def listener(old: ConnectionState, new: ConnectionState) -> None:
            if new in states and not reached.done():
                reached.set_result(new)

        unsubscribe = self._state.subscribe(listener)
        try:
            return await reached
        finally:
            unsubscribe()

    # --- life cycle --------------------------------------------------------------------

    async def connect(self) -> Capabilities:
        """Open the transport and handshake; TransportOpenError/HandshakeError on failure."""
        if self.state is ConnectionState.CLOSED:
            raise DeviceConnectionError(f"{self.address}: client is closed")
        if self.state is ConnectionState.DISCONNECTED and not self.reconnect.running:
            await self._connect_once()
        return self.capabilities

    async def close(self) -> None:
        """Stop a running motor (best effort), close the link and end all streams; idempotent."""
        if self.state is ConnectionState.CLOSED:
            return
        await self.reconnect.stop()
        connection = self._connection
        if connection is not None and self.state is ConnectionState.RUNNING:
            await self._stop_best_effort(connection)
        self._state.set(ConnectionState.CLOSED)
        self._connection = self._setpoints = None
        if connection is not None:
            await connection.close()
        self._feed.close()
        if self._on_close is not None:
            await self._on_close()

    async def __aenter__(self) -> DeviceClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- commands ----------------------------------------------------------------------

    async def set_output(
        self,
        freq_hz: float,
        *,
        force_target_n: float = 0.0,
        force_tolerance_n: float = 0.0,
        force_cap_n: float = 0.0,
        force_ramp_n_per_s: float = 0.0,
        freq_ramp_hz_per_s: float = 0.0,
    ) -> SetpointResult:
        """Send a setpoint (newest wins); DeviceRangeError without sending if out of range."""
        output = SetOutput(
            freq_hz, force_target_n, force_tolerance_n, force_cap_n, force_ramp_n_per_s,
            freq_ramp_hz_per_s,
        )  # fmt: skip
        check_output(self.address, self.capabilities, output)
        channel = self._setpoints
        if channel is None:
            raise self._not_connected()
        try:
            return await channel.submit(output)
        except MessageError as err:
            raise DeviceRangeError(f"{self.address}: {err}") from None

    async def start(self) -> None:
        """Run the motor at the current output (arms the watchdog; clears a stopped fault)."""
        await self._request(Start())
        self._feed.faults_cleared()
        self._feed.set_linked_state(ConnectionState.RUNNING)

    async def stop(self, reason: StopReason = StopReason.USER) -> None:
        """Ramp the motor to zero (also aborts a running program)."""
        await self._request(Stop(reason))
        if self.state is ConnectionState.RUNNING:
            self._feed.set_linked_state(ConnectionState.READY)

    async def time_sync(self) -> tuple[float, float]:
        """(offset_s, rtt_s): device clock minus host time.monotonic(), and the round trip."""
        check_feature(self.address, self.capabilities, Feature.TIME_SYNC, "time sync")
        sent_us = time.monotonic_ns() // 1000
        reply = await self._request(TimeSync(sent_us))
        received_us = time.monotonic_ns() // 1000
        if not isinstance(reply, TimeSyncReply):
            raise DeviceError(f"{self.address}: TIME_SYNC answered by {reply.TYPE.name}")
        midpoint_us = (reply.host_time_us + received_us) / 2
        return (reply.device_time_us - midpoint_us) / 1e6, (received_us - reply.host_time_us) / 1e6

    async def upload_program(self, steps: Sequence[ProgramStep]) -> int:
        """Upload and commit a flat program (indexes set by position); return its hash."""
        indexed = indexed_steps(steps)
        check_program(self.address, self.capabilities, indexed)
        connection = self._require_connection()
        return await upload_program(
            connection, indexed, pull_timeout_s=self.options.program_pull_timeout_s
        )

    async def program_control(self, action: ProgramAction) -> None:
        """Run, pause, resume or abort the committed program."""
        await self._request(ProgramControl(action))
        if action is ProgramAction.RUN:
            self._feed.faults_cleared()
            self._feed.set_linked_state(ConnectionState.RUNNING)
        elif action is ProgramAction.ABORT and self.state is ConnectionState.RUNNING:
            self._feed.set_linked_state(ConnectionState.READY)

    # --- telemetry and events ----------------------------------------------------------

    @property
    def last_telemetry(self) -> Telemetry | None:
        """The most recent TELEMETRY, if any arrived."""
        return self._feed.last_telemetry

    def telemetry(self) -> LatestStream[Telemetry]:
        """A new async iterator of TELEMETRY (newest kept if you fall behind); close() it."""
        return self._feed.telemetry()

    def events(self) -> LatestStream[DeviceEvent]:
        """A new async iterator of FAULT and STEP_EVENT messages (deduplicated); close() it."""
        return self._feed.events()

    def add_event_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call listener(event) for every FAULT and STEP_EVENT; returns the unsubscribe function."""
        return self._feed.add_event_listener(listener)

    def stats(self) -> dict[str, Any]:
        """Counters of the link, the decoder, heartbeats and setpoints, for logs and benches."""
        result: dict[str, Any] = {
            "heartbeat": {"sent": self.heartbeat.sent, "acked": self.heartbeat.acked,
                          "missed": self.heartbeat.missed},
            "reconnect_attempts": self.reconnect.attempts,
        }  # fmt: skip
        if self._connection is not None:
            result["connection"] = self._connection.stats.as_dict()
            result["frames"] = self._connection.helper.stats.as_dict()
            result["decoder"] = self._connection.helper.decoder_stats()
        if self._setpoints is not None:
            result["setpoints_superseded"] = self._setpoints.superseded
        return result

    # --- internals: connecting -----------------------------------------------------------

    async def _connect_once(self) -> None:
        """One attempt: CONNECTING, open, handshake, READY; back to DISCONNECTED on failure."""
        if self.state is ConnectionState.CLOSED:
            return
        self._state.set(ConnectionState.CONNECTING)
        try:
            await self._establish()
        except BaseException:
            if self.state is ConnectionState.CONNECTING:
                self._state.set(ConnectionState.DISCONNECTED)
            raise

    async def _establish(self) -> None:
        """Build a transport and a connection, open and handshake, then adopt it."""
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
        if self.state is not ConnectionState.CONNECTING:  # closed meanwhile
            await connection.close()
            return
        self._attach(connection, capabilities)

    def _attach(self, connection: DeviceConnection, capabilities: Capabilities) -> None:
        """Adopt a handshaken connection: listeners, setpoint channel, heartbeat, READY."""
        self._connection = connection
        self._capabilities = capabilities
        self._setpoints = SetpointChannel(connection)
        self._feed.attach(connection)
        self.heartbeat.configure(capabilities.watchdog_ms)
        _LOGGER.info(
            "%s: %s %s (firmware %s), watchdog %d ms, telemetry %d Hz",
            self.address, capabilities.model, capabilities.serial, capabilities.firmware,
            capabilities.watchdog_ms, capabilities.telemetry_hz,
        )  # fmt: skip
        self._state.set(ConnectionState.READY)

    def _on_connection_lost(
        self, connection: DeviceConnection, error: DeviceConnectionError
    ) -> None:
        """The live link died: DISCONNECTED, then reconnect if enabled."""
        if connection is not self._connection:
            return
        self.last_error = error
        self._next_seq = connection.next_seq
        self._connection = self._setpoints = None
        if self.state is ConnectionState.CLOSED:
            return
        self._state.set(ConnectionState.DISCONNECTED)
        if self.options.reconnect:
            self.reconnect.start()

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

    async def _stop_best_effort(self, connection: DeviceConnection) -> None:
        """STOP(host) before closing; failures are logged, the watchdog is the backstop."""
        try:
            await connection.request(
                Stop(StopReason.HOST), timeout_s=self.options.stop_timeout_s, retries=1
            )
        except DeviceError as err:
            _LOGGER.warning("%s: STOP on close failed: %s", self.address, err)

    def _require_connection(self) -> DeviceConnection:
        """The live connection, or DeviceConnectionError."""
        if self._connection is None:
            raise self._not_connected()
        return self._connection

    def _not_connected(self) -> DeviceConnectionError:
        """The error for a command issued without a link."""
        return DeviceConnectionError(f"{self.address}: not connected ({self.state.value})")

    async def _request(self, message: Message) -> Message:
        """Send a request on the live connection and return its response."""
        return await self._require_connection().request(message)
