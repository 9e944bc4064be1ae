"""Reconnect with capped exponential backoff and jitter, as an object of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tpdevice.errors import TpDeviceError

__all__ = ["Backoff", "ReconnectLogic"]

_LOGGER = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before attempt n: min_s * factor**n, capped at max_s, then +/- jitter (fraction)."""

    min_s: float = 0.1
    max_s: float = 5.0
    factor: float = 2.0
    jitter: float = 0.1

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """The delay before the attempt numbered `attempt` (0 first)."""
        base = min(self.max_s, self.min_s * self.factor ** min(attempt, 64))
        if self.jitter <= 0.0:
            return base
        return max(0.0, base * (1.0 + self.jitter * (2.0 * rng.random() - 1.0)))


class ReconnectLogic:
    """Calls `connect()` after growing delays until it succeeds or `stop()` is called.

    `connect` opens and handshakes a new link and raises TpDeviceError on failure;
    `on_connected` is called after a success.
    """

    def __init__(
        self,
        name: str,
        connect: Callable[[], Awaitable[object]],
        *,
        backoff: Backoff | None = None,
        on_connected: Callable[[], None] | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.backoff = backoff or Backoff()
        self.attempts = 0
        self._connect = connect
        self._on_connected = on_connected
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while reconnect attempts are under way."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Begin reconnecting (no-op when already running)."""
        if self.running:
            return
        self.attempts = 0
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"reconnect {self.name}"
        )

    async def stop(self) -> None:
        """Stop reconnecting and wait until the attempt loop has ended."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        """Sleep, try, repeat until one attempt succeeds."""
        while True:
            delay_s = self.backoff.delay_s(self.attempts, self._rng)
            _LOGGER.debug("%s: reconnecting in %.2f s", self.name, delay_s)
            await self._sleep(delay_s)
            self.attempts += 1
            if await self._try_once():
                break
        if self._on_connected is not None:
            self._on_connected()

    async def _try_once(self) -> bool:
        """One attempt; failures are logged, never raised."""
        try:
            await self._connect()
        except TpDeviceError as err:
            _LOGGER.info("%s: reconnect attempt %d failed: %s", self.name, self.attempts, err)
            return False
        except Exception:
            _LOGGER.exception("%s: reconnect attempt %d crashed", self.name, self.attempts)
            return False
        _LOGGER.info("%s: reconnected after %d attempts", self.name, self.attempts)
        return True
