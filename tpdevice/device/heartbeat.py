"""Heartbeats: sent by the owner's control loop every watchdog_ms / 4, misses counted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from tpdevice.device.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceRejectedError,
    DeviceTimeoutError,
)
from tpdevice.device.state import ConnectionState
from tpdevice.protocol import Message

__all__ = [
    "Clock",
    "Heartbeat",
    "HeartbeatBusyError",
    "HeartbeatLease",
    "Heartbeating",
    "LoopClock",
    "run_heartbeat",
]

_LOGGER = logging.getLogger(__name__)

# The device stops the motor after watchdog_ms without a heartbeat; beating four times per
# period lets three be lost first (docs/protocol.md section 4.2).
BEATS_PER_WATCHDOG = 4
DEFAULT_WATCHDOG_MS = 1000

SendHeartbeat = Callable[[float], "asyncio.Future[Message] | None"]
OnTrouble = Callable[[DeviceConnectionError], None]


class HeartbeatBusyError(DeviceError):
    """Another controller holds the heartbeat: two controllers never feed one watchdog."""


class HeartbeatLease:
    """The right to beat one gun, held by `owner` until release(); a context manager.

    An idle lease (`idle=True`, e.g. a daemon keeping a connected gun fed) is active only
    while no controller holds the heartbeat; it takes over again when that one releases.
    """

    def __init__(self, heartbeat: Heartbeat, owner: str, *, idle: bool) -> None:
        self.owner = owner
        self.idle = idle
        self._heartbeat = heartbeat
        self.released = False

    def __repr__(self) -> str:
        kind = "idle " if self.idle else ""
        return f"<HeartbeatLease {kind}{self.owner} {'active' if self.active else 'waiting'}>"

    @property
    def active(self) -> bool:
        """True while this lease is the one whose beats are sent."""
        return self._heartbeat.holder is self

    def beat(self) -> bool:
        """Send a heartbeat if this lease is active; False when it is not or no link is up."""
        return self.active and self._heartbeat._send_beat()

    def release(self) -> None:
        """Give the heartbeat up (an idle lease takes over); idempotent."""
        self._heartbeat.release(self)

    def __enter__(self) -> HeartbeatLease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class Heartbeat:
    """Sends one HEARTBEAT per `beat()`; `max_misses` unanswered in a row mean the link is dead.

    Whoever beats holds a lease (acquire()): one controller at a time, an idle beater below it.
    """

    def __init__(
        self, address: str, send: SendHeartbeat, on_trouble: OnTrouble, *, max_misses: int = 3
    ) -> None:
        self.address = address
        self.max_misses = max_misses
        self._send = send
        self._on_trouble = on_trouble
        self._watchdog_ms = DEFAULT_WATCHDOG_MS
        self.consecutive_misses = 0
        self.sent = 0
        self.acked = 0
        self.missed = 0
        self._controller: HeartbeatLease | None = None
        self._idle: HeartbeatLease | None = None

    @property
    def holder(self) -> HeartbeatLease | None:
        """The lease whose beats are sent now: the controller's, else the idle one, else None."""
        return self._controller or self._idle

    def acquire(self, owner: str, *, idle: bool = False) -> HeartbeatLease:
        """A lease for `owner`; HeartbeatBusyError if another controller (or idler) holds one.

        A controller lease (a running session) takes the beat from an idle lease at once.
        """
        held = self._idle if idle else self._controller
        if held is not None:
            raise HeartbeatBusyError(
                f"{self.address}: the heartbeat is held by {held.owner}, not free for {owner}"
            )
        lease = HeartbeatLease(self, owner, idle=idle)
        if idle:
            self._idle = lease
        else:
            self._controller = lease
        _LOGGER.debug("%s: heartbeat acquired by %s", self.address, owner)
        return lease

    def release(self, lease: HeartbeatLease) -> None:
        """End `lease` (HeartbeatLease.release calls this); an idle lease takes over."""
        lease.released = True
        if self._controller is lease:
            self._controller = None
        elif self._idle is lease:
            self._idle = None
        else:
            return
        _LOGGER.debug("%s: heartbeat released by %s", self.address, lease.owner)

    @property
    def watchdog_ms(self) -> int:
        """The watchdog timeout the device granted."""
        return self._watchdog_ms

    @property
    def interval_s(self) -> float:
        """How often the control loop should call beat()."""
        return self._watchdog_ms / BEATS_PER_WATCHDOG / 1000.0

    def configure(self, watchdog_ms: int) -> None:
        """Adopt the granted watchdog (after each handshake) and forget old misses."""
        self._watchdog_ms = max(1, watchdog_ms)
        self.consecutive_misses = 0

    def beat(self) -> bool:
        """Send a heartbeat now without waiting for its ACK; False when not connected.

        While a lease is held only its holder beats (HeartbeatLease.beat); this returns False.
        """
        return self.holder is None and self._send_beat()

    def _send_beat(self) -> bool:
        """One HEARTBEAT out, its answer counted; False when not connected."""
        future = self._send(self.interval_s)
        if future is None:
            return False
        self.sent += 1
        future.add_done_callback(self._on_answer)
        return True

    def _on_answer(self, future: asyncio.Future[Message]) -> None:
        """Count the ACK or the miss; report link trouble after max_misses in a row."""
        if future.cancelled():
            return
        error = future.exception()
        if error is None or isinstance(error, DeviceRejectedError):
            self.acked += 1  # even a NACK proves the link works
            self.consecutive_misses = 0
        elif isinstance(error, DeviceTimeoutError):
            self.missed += 1
            self.consecutive_misses += 1
            if self.consecutive_misses >= self.max_misses:
                self.consecutive_misses = 0
                self._on_trouble(
                    DeviceConnectionError(
                        f"{self.address}: {self.max_misses} heartbeats in a row not acknowledged"
                    )
                )


class Clock(Protocol):
    """Monotonic time and sleeping, injectable for tests."""

    def now_s(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, delay_s: float) -> None:
        """Wait delay_s seconds."""
        ...


class LoopClock:
    """The running event loop's clock."""

    def now_s(self) -> float:
        """The loop's monotonic time."""
        return asyncio.get_running_loop().time()

    async def sleep(self, delay_s: float) -> None:
        """asyncio.sleep."""
        await asyncio.sleep(delay_s)


class Heartbeating(Protocol):
    """What a heartbeat loop needs of a client (every driver's client has it)."""

    address: str
    heartbeat: Heartbeat

    @property
    def state(self) -> ConnectionState:
        """What the client can do now."""
        ...


async def run_heartbeat(
    client: Heartbeating,
    clock: Clock | None = None,
    *,
    owner: str = "heartbeat loop",
    idle: bool = False,
) -> None:
    """Hold a lease and beat at the client's interval on absolute deadlines until it closes.

    `idle=True` is the idle beater: it beats only while no controller holds the heartbeat.
    """
    with client.heartbeat.acquire(owner, idle=idle) as lease:
        await _beat_until_closed(client, lease, clock or LoopClock())


async def _beat_until_closed(client: Heartbeating, lease: HeartbeatLease, clock: Clock) -> None:
    """The loop of run_heartbeat."""
    heartbeat = client.heartbeat
    deadline_s = clock.now_s()
    while client.state is not ConnectionState.CLOSED:
        lease.beat()
        deadline_s += heartbeat.interval_s
        now_s = clock.now_s()
        if deadline_s < now_s:
            _LOGGER.debug(
                "%s: heartbeat late by %.1f ms", client.address, 1e3 * (now_s - deadline_s)
            )
            deadline_s = now_s  # a stalled loop resumes beating; it does not burst to catch up
        await clock.sleep(deadline_s - now_s)
