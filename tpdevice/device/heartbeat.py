"""Heartbeats: sent by the owner's control loop every watchdog_ms / 4, misses counted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from tpdevice.device.errors import DeviceConnectionError, DeviceRejectedError, DeviceTimeoutError
from tpdevice.device.state import ConnectionState
from tpdevice.protocol import Message

if TYPE_CHECKING:
    from tpdevice.device.client import DeviceClient

__all__ = ["Clock", "Heartbeat", "LoopClock", "run_heartbeat"]

_LOGGER = logging.getLogger(__name__)

# The device stops the motor after watchdog_ms without a heartbeat; beating four times per
# period lets three be lost first (docs/protocol.md section 4.2).
BEATS_PER_WATCHDOG = 4
DEFAULT_WATCHDOG_MS = 1000

SendHeartbeat = Callable[[float], "asyncio.Future[Message] | None"]
OnTrouble = Callable[[DeviceConnectionError], None]


class Heartbeat:
    """Sends one HEARTBEAT per `beat()`; `max_misses` unanswered in a row mean the link is dead."""

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
        """Send a heartbeat now without waiting for its ACK; False when not connected."""
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


async def run_heartbeat(client: DeviceClient, clock: Clock | None = None) -> None:
    """Beat at the client's interval on absolute deadlines until the client closes."""
    clock = clock or LoopClock()
    heartbeat = client.heartbeat
    deadline_s = clock.now_s()
    while client.state is not ConnectionState.CLOSED:
        heartbeat.beat()
        deadline_s += heartbeat.interval_s
        now_s = clock.now_s()
        if deadline_s < now_s:
            _LOGGER.debug(
                "%s: heartbeat late by %.1f ms", client.address, 1e3 * (now_s - deadline_s)
            )
            deadline_s = now_s  # a stalled loop resumes beating; it does not burst to catch up
        await clock.sleep(deadline_s - now_s)
