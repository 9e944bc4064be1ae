"""Reconnect with capped exponential backoff and jitter, as an object of its own."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tpdevice.device.state import ReconnectState, StateHolder
from tpdevice.errors import TpDeviceError
from tpdevice.transport import TransportOpenError

__all__ = ["Backoff", "ReconnectLogic", "is_permanent"]

_LOGGER = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
StateListener = Callable[[ReconnectState, ReconnectState], None]

# Opening failures that retrying cannot fix: the device node is not ours to open. A node that
# is gone (ENOENT, ENODEV, ENXIO) is not among them: a USB-serial gun unplugged and plugged
# back in makes its node vanish and reappear, so it is retried like a refused TCP connection.
_PERMANENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM})
_CAUSE_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before attempt n: min_s * factor**n, capped at max_s, then +/- jitter (fraction).

    The attempt count (so the delay) starts again from 0 only once a link stayed up `stable_s`:
    a link that dies right after each handshake keeps backing off.
    """

    min_s: float = 0.1
    max_s: float = 5.0
    factor: float = 2.0
    jitter: float = 0.1
    stable_s: float = 5.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """The delay before the attempt numbered `attempt` (0 first)."""
        base = min(self.max_s, self.min_s * self.factor ** min(attempt, 64))
        if self.jitter <= 0.0:
            return base
        return max(0.0, base * (1.0 + self.jitter * (2.0 * rng.random() - 1.0)))


def is_permanent(error: BaseException) -> bool:
    """True for failures retrying cannot fix: another protocol version, no device, no access."""
    flag = getattr(error, "permanent", None)
    if isinstance(flag, bool):
        return flag
    return isinstance(error, TransportOpenError) and _cause_errno(error) in _PERMANENT_ERRNOS


def _cause_errno(error: BaseException) -> int | None:
    """The errno of the OS error behind `error` (following __cause__), if any."""
    cause = error.__cause__ or error.__context__
    for _ in range(_CAUSE_DEPTH):
        if cause is None:
            return None
        code = getattr(cause, "errno", None)
        if isinstance(code, int):
            return code
        if cause.args and isinstance(cause.args[0], int):  # termios.error: (errno, text)
            return cause.args[0]
        cause = cause.__cause__ or cause.__context__
    return None


class ReconnectLogic:
    """Calls `connect()` after growing delays until it succeeds, fails for good, or stop().

    `connect` opens and handshakes a new link and raises TpDeviceError on failure. The owner
    calls `link_up()` whenever a link is established; a permanent error (see is_permanent)
    ends the attempts in state GAVE_UP; `last_error` is why the latest attempt failed.
    """

    def __init__(
        self,
        name: str,
        connect: Callable[[], Awaitable[object]],
        *,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.backoff = backoff or Backoff()
        self.attempts = 0  # since the backoff was last reset
        self.last_error: TpDeviceError | None = None  # why the last attempt failed
        self._connect = connect
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._up_since_s: float | None = None
        self._state = StateHolder(f"{name} reconnect", ReconnectState.IDLE)
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> ReconnectState:
        """What the reconnect logic is doing."""
        return self._state.value

    @property
    def running(self) -> bool:
        """True while reconnect attempts are under way."""
        return self._task is not None and not self._task.done()

    def subscribe_state(self, listener: StateListener) -> Callable[[], None]:
        """Call listener(old, new) on every state change; returns the unsubscribe function."""
        return self._state.subscribe(listener)

    def link_up(self) -> None:
        """A link was established now (how long it lives decides the next backoff)."""
        self._up_since_s = self._clock()

    def start(self) -> None:
        """Begin reconnecting (no-op when already running)."""
        if self.running:
            return
        up_since_s, self._up_since_s = self._up_since_s, None
        if up_since_s is not None and self._clock() - up_since_s >= self.backoff.stable_s:
            self.attempts = 0
        self.last_error = None
        self._state.set(ReconnectState.WAITING)
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"reconnect {self.name}"
        )

    async def stop(self) -> None:
        """Stop reconnecting and wait until the attempt loop has ended."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._state.value is not ReconnectState.GAVE_UP:
            self._state.set(ReconnectState.IDLE)

    async def _run(self) -> None:
        """Sleep, try, repeat until one attempt succeeds or fails for good."""
        while True:
            self._state.set(ReconnectState.WAITING)
            delay_s = self.backoff.delay_s(self.attempts, self._rng)
            _LOGGER.debug("%s: reconnecting in %.2f s", self.name, delay_s)
            await self._sleep(delay_s)
            self.attempts += 1
            self._state.set(ReconnectState.CONNECTING)
            error = await self._try_once()
            self.last_error = error if isinstance(error, TpDeviceError) else None
            if error is None:
                self._state.set(ReconnectState.IDLE)
                return
            if isinstance(error, TpDeviceError) and is_permanent(error):
                _LOGGER.warning("%s: not reconnecting: %s", self.name, error)
                self.last_error = error
                self._state.set(ReconnectState.GAVE_UP)
                return

    async def _try_once(self) -> Exception | None:
        """One attempt: None on success, else the failure (logged, never raised)."""
        try:
            await self._connect()
        except Exception as err:
            if isinstance(err, TpDeviceError):
                _LOGGER.info("%s: reconnect attempt %d failed: %s", self.name, self.attempts, err)
            else:
                _LOGGER.exception("%s: reconnect attempt %d crashed", self.name, self.attempts)
            return err
        _LOGGER.info("%s: reconnected after %d attempts", self.name, self.attempts)
        return None
