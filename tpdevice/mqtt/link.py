"""One daemon's connection to the broker: connect, last will, reconnect with backoff, publish."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import random
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import aiomqtt
from paho.mqtt.properties import Properties

from tpdevice.errors import TpDeviceError
from tpdevice.mqtt.settings import MqttSettings
from tpdevice.mqtt.topics import Topics

__all__ = ["LinkState", "MqttLink", "MqttUnavailableError"]

_LOGGER = logging.getLogger(__name__)
ONLINE = json.dumps({"state": "online"}).encode()
OFFLINE = json.dumps({"state": "offline"}).encode()
MAX_INFLIGHT = 64  # our outbox keeps a window of this many QoS 1 publishes
OnConnected = Callable[[], Awaitable[None]]
OnMessage = Callable[[aiomqtt.Message], Awaitable[None]]


class MqttUnavailableError(TpDeviceError):
    """The broker is not connected now; the caller keeps what it wanted to send."""


class LinkState(enum.Enum):
    """Where the link is in its life."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


class MqttLink:
    """Keeps one aiomqtt client connected (aiomqtt does not reconnect by itself)."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        *,
        on_connected: OnConnected | None = None,
        on_message: OnMessage | None = None,
        subscriptions: Sequence[str] = (),
        backoff_s: tuple[float, float] = (0.2, 10.0),
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.state = LinkState.DISCONNECTED
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.last_error = ""
        self._on_connected = on_connected
        self._on_message = on_message
        self._subscriptions = list(subscriptions)
        self._backoff_s = backoff_s
        self._client: aiomqtt.Client | None = None
        self._lost_future: asyncio.Future[None] | None = None  # done once this link drops
        self._closing = asyncio.Event()
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        """Stay connected until close(): connect, announce, subscribe, serve, back off, repeat."""
        self._stopped.clear()
        delay_s = self._backoff_s[0]
        try:
            while self.state is not LinkState.CLOSED:
                self.state = LinkState.CONNECTING
                try:
                    await self._session()
                    delay_s = self._backoff_s[0]
                except aiomqtt.MqttError as err:
                    self._lost(str(err))
                except OSError as err:  # paho can surface a dead socket as a plain OSError
                    self._lost(f"connection lost ({err.strerror or err})")
                # Jitter spreads the reconnects of many daemons after a broker restart.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay_s * random.uniform(0.5, 1))
                delay_s = min(delay_s * 2, self._backoff_s[1])
        finally:
            self._stopped.set()

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        retain: bool = False,
        timeout_s: float = 10.0,
        properties: Properties | None = None,
    ) -> None:
        """Publish now (QoS 1 returns once the broker acknowledged); raise if not connected.

        A QoS 1 publish whose connection drops fails at once: aiomqtt would wait out its timeout.
        """
        client, lost = self._client, self._lost_future
        if client is None or lost is None or lost.done() or not self.connected.is_set():
            raise MqttUnavailableError(f"{self.settings.safe_url}: not connected")
        # Awaited in this task, not a task of its own: the packet is queued for the socket now,
        # not after every other callback the loop has ready (a stall of ms under load).
        with _cancelled_when(lost) as dropped:
            try:
                await client.publish(topic, payload, qos=qos, retain=retain,
                                     properties=properties, timeout=timeout_s)  # fmt: skip
            except asyncio.CancelledError:
                if not dropped():
                    raise
                raise MqttUnavailableError(f"{self.settings.safe_url}: connection lost") from None
            except (aiomqtt.MqttError, OSError) as err:  # paho may surface a dead socket so
                raise MqttUnavailableError(f"{self.settings.safe_url}: {err}") from None

    async def close(self) -> None:
        """Say offline (retained), disconnect cleanly and wait until run() has returned."""
        if self.state is LinkState.CLOSED:
            return
        with contextlib.suppress(MqttUnavailableError):
            await self.publish(self.topics.bridge("state"), OFFLINE, qos=1, retain=True,
                               timeout_s=2.0)  # fmt: skip
        self.state = LinkState.CLOSED
        self._closing.set()
        if self._lost_future is not None or self.connected.is_set():
            await self._stopped.wait()

    async def _session(self) -> None:
        """One connection's life: from CONNACK to the error (or close) that ends it."""
        client = self._new_client()
        async with client:
            self._client = client
            await client.publish(self.topics.bridge("state"), ONLINE, qos=1, retain=True)
            for topic_filter in self._subscriptions:
                await client.subscribe(topic_filter, qos=1)
            self._lost_future = asyncio.get_running_loop().create_future()
            self.state = LinkState.CONNECTED
            self.connected.set()
            _LOGGER.info("connected to %s", self.settings.safe_url)
            await self._serve(client)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Receive while on_connected runs beside it, until the link drops or close() is called."""
        receiving = asyncio.create_task(self._receive(client))
        closing = asyncio.create_task(self._closing.wait())
        tasks: list[asyncio.Task[Any]] = [receiving, closing]
        if self._on_connected is not None:
            announcing = asyncio.ensure_future(self._on_connected())
            announcing.add_done_callback(_log_failure)
            tasks.append(announcing)
        try:
            await asyncio.wait((receiving, closing), return_when=asyncio.FIRST_COMPLETED)
            if receiving.done():
                receiving.result()  # the MqttError of a lost connection goes to run()
        finally:
            self.connected.clear()
            if self._lost_future is not None and not self._lost_future.done():
                self._lost_future.set_result(None)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if self._on_message is not None:
                await self._on_message(message)

    def _lost(self, why: str) -> None:
        if self._lost_future is not None:
            self.reconnects += 1
        self._lost_future = None
        self.connected.clear()
        self._client = None
        if self.state is not LinkState.CLOSED:
            self.state = LinkState.DISCONNECTED
        self.last_error = why
        _LOGGER.warning("%s: %s; reconnecting", self.settings.safe_url, why)

    def _new_client(self) -> aiomqtt.Client:
        settings = self.settings
        client = aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username,
            password=settings.password,
            identifier=settings.client_id or None,
            protocol=aiomqtt.ProtocolVersion.V5
            if settings.protocol == 5
            else (aiomqtt.ProtocolVersion.V311),
            will=aiomqtt.Will(self.topics.bridge("state"), OFFLINE, qos=1, retain=True),
            keepalive=settings.keepalive_s,
            tls_context=settings.tls_context(),
            max_inflight_messages=MAX_INFLIGHT,
            max_queued_outgoing_messages=0,  # unbounded in paho: our outbox bounds itself
            # Nagle + delayed ACK stall small publishes by ~40 ms after an idle gap.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        # A full outbox window is normal here, not the warning aiomqtt logs above 10 by default.
        client.pending_calls_threshold = MAX_INFLIGHT + 16
        _write_in_the_publishing_call(client)
        return client


def _write_in_the_publishing_call(client: aiomqtt.Client) -> None:
    """Let paho write a queued packet at once, on the loop's thread, as it does without a loop.

    aiomqtt registers a socket writer for every packet, through call_soon_threadsafe: the
    packet leaves two loop turns later (and costs a wake-up and two epoll changes), so under
    load a publish waits behind every callback of those turns. Writing at once is what paho
    itself does when no loop drives it; only a packet the socket cannot take now waits for
    the writer.
    """
    paho = client._client  # the one hook aiomqtt offers no option for
    register_writer = paho.on_socket_register_write
    assert register_writer is not None  # aiomqtt's, set when the client was made
    loop_thread = threading.get_ident()

    def write_now(mqttc: Any, userdata: Any, sock: Any) -> None:
        # paho's own condition for writing directly: not inside one of its callbacks.
        if threading.get_ident() == loop_thread and paho._in_callback_mutex.acquire(False):
            paho._in_callback_mutex.release()
            # On an error the writer below meets it too, and reports the lost link.
            with contextlib.suppress(OSError):
                _write_queued(paho)
            if not paho.want_write():
                return
        register_writer(mqttc, userdata, sock)

    paho.on_socket_register_write = write_now


def _write_queued(paho: Any) -> None:
    """paho's loop_write; when only this call's packet is queued, without two callbacks.

    The publish callback: for a QoS 0 packet written at once aiomqtt waits for none (it finds
    the message published when paho's publish returns), yet paho builds a reason code and a
    property set for it, a tenth of the daemon's work per telemetry message. A QoS 1 packet's
    comes with its PUBACK, later. The writer's removal: with nothing queued before this packet,
    no writer was registered. A packet queued earlier may have a caller waiting: both stay.
    """
    if len(paho._out_packet) != 1:
        paho.loop_write()
        return
    on_publish, on_unregister = paho.on_publish, paho.on_socket_unregister_write
    paho.on_publish = paho.on_socket_unregister_write = None
    try:
        paho.loop_write()
    finally:
        paho.on_publish, paho.on_socket_unregister_write = on_publish, on_unregister


@contextlib.contextmanager
def _cancelled_when(lost: asyncio.Future[None]) -> Iterator[Callable[[], bool]]:
    """Cancel the current task if `lost` completes within the block; yields "was it lost?"."""
    task = asyncio.current_task()
    assert task is not None
    state = {"inside": True, "dropped": False}

    def on_lost(_: asyncio.Future[None]) -> None:
        if state["inside"]:  # scheduled before the block ended, run after: too late to cancel
            state["dropped"] = True
            task.cancel()

    def dropped() -> bool:
        # Ours alone (no other cancel pending): take it back and report the lost link.
        if state["dropped"] and task.cancelling() == 1:
            task.uncancel()
            return True
        return False

    lost.add_done_callback(on_lost)
    try:
        yield dropped
    finally:
        state["inside"] = False
        lost.remove_done_callback(on_lost)


def _log_failure(task: asyncio.Future[None]) -> None:
    """on_connected failing for any reason but a lost link is a bug worth a log line."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, MqttUnavailableError):
        _LOGGER.error("announcing after connect failed", exc_info=error)
