"""Session clocks: real loop time, scaled time (simulator) and discrete-event virtual time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = [
    "RealClock",
    "ScaledClock",
    "SessionClock",
    "VirtualClock",
    "VirtualTimerHandle",
]

_LOGGER = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Idle loop iterations in a row before virtual time jumps, when the loop shows its ready
# queue (asyncio). One suffices for in-process work (each iteration polls I/O before it runs
# the driver); a second gives bytes in flight through the kernel (pty, tcp) one more poll.
_SETTLE_YIELDS_VISIBLE = 2
# Without a visible ready queue (uvloop) every yield counts as idle: cover the longest
# call_soon chain of an in-process request -> ACK (host write, gun, host read, task) twice.
_SETTLE_YIELDS_BLIND = 16
# At one instant, scheduled callbacks run before sleepers wake.
_CALLBACK = 0
_SLEEPER = 1
# A loop that never goes idle (someone busy-yields) must not freeze virtual time forever.
_MAX_SETTLE_YIELDS = 10_000
# Drivers of all virtual clocks settling now, per loop (each one sees the others' yields).
_SETTLING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


class SessionClock(Protocol):
    """The time a session runs on: monotonic seconds, epoch seconds, and sleeping."""

    def now_s(self) -> float:
        """Monotonic session seconds; never decreases."""
        ...

    def wall_time(self) -> float:
        """Epoch seconds matching now_s() (for event timestamps)."""
        ...

    async def sleep_until(self, deadline_s: float) -> None:
        """Return once now_s() >= deadline_s, never before."""
        ...

    async def sleep(self, delay_s: float) -> None:
        """sleep_until(now_s() + delay_s)."""
        ...


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")


class ScaledClock:
    """Session time running `scale` times as fast as time.monotonic (simulator --time-scale).

    A wakeup before the deadline (uvloop wakes up to ~1.4 ms early) sleeps again for the rest.
    With spin_s > 0 the last spin_s real seconds are waited by yielding to the loop, which
    trades CPU for less lateness on loops that round timeouts up to whole milliseconds.
    """

    def __init__(
        self,
        scale: float,
        *,
        spin_s: float = 0.0,
        start_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Start at start_s session seconds (default: monotonic() now); scale > 0, spin_s >= 0."""
        if not (math.isfinite(scale) and scale > 0.0):
            raise ValueError(f"time scale must be a finite number > 0, got {scale}")
        if not (math.isfinite(spin_s) and spin_s >= 0.0):
            raise ValueError(f"spin_s must be a finite number >= 0, got {spin_s}")
        self.scale = scale
        self.spin_s = spin_s
        self._monotonic = monotonic
        self._sleep = sleep
        self._real_origin_s = monotonic()
        self._start_s = self._real_origin_s if start_s is None else start_s
        self._wall_origin_s = wall()
        self.resleeps = 0  # wakeups that came before the deadline (for benches)

    def now_s(self) -> float:
        """Session seconds: start_s plus scaled real time since construction."""
        return self._start_s + (self._monotonic() - self._real_origin_s) * self.scale

    def wall_time(self) -> float:
        """Epoch seconds at construction plus session seconds elapsed since."""
        return self._wall_origin_s + (self.now_s() - self._start_s)

    async def sleep_until(self, deadline_s: float) -> None:
        """Sleep (then spin, if configured) until now_s() >= deadline_s; a past deadline yields."""
        _check_finite("deadline_s", deadline_s)
        remaining_s = deadline_s - self.now_s()
        if remaining_s <= 0.0:
            await self._sleep(0.0)
            return
        first = True
        while remaining_s > 0.0:
            if not first:
                self.resleeps += 1
            first = False
            real_s = remaining_s / self.scale
            await self._sleep(real_s - self.spin_s if real_s > self.spin_s else 0.0)
            remaining_s = deadline_s - self.now_s()

    async def sleep(self, delay_s: float) -> None:
        """Sleep delay_s session seconds (never less)."""
        _check_finite("delay_s", delay_s)
        await self.sleep_until(self.now_s() + delay_s)


class RealClock(ScaledClock):
    """Real time: now_s() is time.monotonic(), the default asyncio loop's own time.

    (uvloop's loop.time() has whole-millisecond steps, so the finer monotonic clock is used.)
    """

    def __init__(
        self,
        *,
        spin_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """spin_s > 0 (e.g. 0.0015) spins through the last spin_s before each deadline."""
        super().__init__(1.0, spin_s=spin_s, monotonic=monotonic, wall=wall, sleep=sleep)


class VirtualTimerHandle:
    """A callback scheduled on a VirtualClock; cancel() before it runs stops it."""

    __slots__ = ("_args", "_callback", "_cancelled", "_when_s")

    def __init__(self, when_s: float, callback: Callable[..., object], args: tuple[Any, ...]):
        self._when_s = when_s
        self._callback: Callable[..., object] | None = callback
        self._args = args
        self._cancelled = False

    def when(self) -> float:
        """The virtual time it is due at."""
        return self._when_s

    def cancel(self) -> None:
        """Do not run it (no effect once it ran); idempotent."""
        self._cancelled = True
        self._callback = None
        self._args = ()

    def cancelled(self) -> bool:
        """True once cancel() was called."""
        return self._cancelled

    def _run(self) -> None:
        """Run the callback once (unless cancelled), reporting its error to the loop."""
        callback, args = self._callback, self._args
        if self._cancelled or callback is None:
            return
        self.cancel()  # run at most once
        try:
            callback(*args)
        except Exception as err:
            asyncio.get_running_loop().call_exception_handler(
                {"message": f"virtual timer callback {callback!r} failed", "exception": err}
            )


class VirtualClock:
    """Discrete-event time: it jumps to the earliest deadline once the event loop is idle.

    Time moves only while some task waits in sleep_until()/sleep(); call_at() callbacks run
    when time passes them but never move time by themselves (a simulated gun always has its
    next tick armed, and would otherwise run time away). Before each jump the driver yields
    to the loop until nothing is ready, so in-process exchanges (request -> ACK over the
    loopback simulator) finish at the current instant. Real I/O and real-time timers are not
    waited for. At one instant, callbacks run and settle before sleepers wake; otherwise
    equal deadlines run in the order they were registered.
    """

    def __init__(
        self,
        start_s: float = 0.0,
        *,
        wall_start_s: float | None = None,
        settle_yields: int | None = None,
        max_step_s: float | None = None,
    ) -> None:
        """settle_yields: idle iterations before a jump (None: 2 on asyncio, 16 elsewhere)."""
        _check_finite("start_s", start_s)
        if settle_yields is not None and settle_yields < 1:
            raise ValueError(f"settle_yields must be >= 1, got {settle_yields}")
        if max_step_s is not None and not (math.isfinite(max_step_s) and max_step_s > 0.0):
            raise ValueError(f"max_step_s must be a finite number > 0, got {max_step_s}")
        self._now_s = start_s
        self._start_s = start_s
        self._wall_start_s = time.time() if wall_start_s is None else wall_start_s
        self.settle_yields = settle_yields
        self.max_step_s = max_step_s
        self._heap: list[tuple[float, int, int, VirtualTimerHandle]] = []  # when, rank, seq
        self._seq = itertools.count()
        self._sleepers = 0
        self._driver: asyncio.Task[None] | None = None
        self.jumps = 0  # times virtual time moved forward

    @property
    def sleepers(self) -> int:
        """Tasks waiting in sleep_until() now."""
        return self._sleepers

    @property
    def timers(self) -> int:
        """Scheduled callbacks and sleeper wakeups not yet run or cancelled."""
        return sum(1 for *_, handle in self._heap if not handle.cancelled())

    def now_s(self) -> float:
        """Virtual seconds now."""
        return self._now_s

    def wall_time(self) -> float:
        """wall_start_s plus virtual seconds elapsed."""
        return self._wall_start_s + (self._now_s - self._start_s)

    def call_at(
        self, when_s: float, callback: Callable[..., object], *args: Any
    ) -> VirtualTimerHandle:
        """Run callback(*args) once virtual time reaches when_s (due now: on the next iteration)."""
        _check_finite("when_s", when_s)
        handle = VirtualTimerHandle(when_s, callback, args)
        if when_s <= self._now_s:
            asyncio.get_running_loop().call_soon(handle._run)
        else:
            heapq.heappush(self._heap, (when_s, _CALLBACK, next(self._seq), handle))
        return handle

    def call_later(
        self, delay_s: float, callback: Callable[..., object], *args: Any
    ) -> VirtualTimerHandle:
        """call_at(now_s() + delay_s, ...)."""
        _check_finite("delay_s", delay_s)
        return self.call_at(self._now_s + delay_s, callback, *args)

    async def sleep_until(self, deadline_s: float) -> None:
        """Wait until virtual time reaches deadline_s; a past deadline just yields once."""
        _check_finite("deadline_s", deadline_s)
        if deadline_s <= self._now_s:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        handle = VirtualTimerHandle(deadline_s, _wake, (woken,))
        heapq.heappush(self._heap, (deadline_s, _SLEEPER, next(self._seq), handle))
        self._sleepers += 1
        try:
            self._ensure_driver(loop)
            await woken
        finally:
            self._sleepers -= 1
            handle.cancel()

    async def sleep(self, delay_s: float) -> None:
        """Wait delay_s virtual seconds."""
        _check_finite("delay_s", delay_s)
        await self.sleep_until(self._now_s + delay_s)

    def _ensure_driver(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive(), name="virtual-clock")

    async def _drive(self) -> None:
        """Settle, then jump to the next deadline, while anyone sleeps on this clock."""
        while True:
            await self._settle()
            if self._sleepers == 0:
                return
            self._advance()

    async def _settle(self) -> None:
        """Yield until the loop had settle_yields idle iterations in a row."""
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)
        needed = self.settle_yields
        if needed is None:
            needed = _SETTLE_YIELDS_BLIND if ready is None else _SETTLE_YIELDS_VISIBLE
        _SETTLING[loop] = _SETTLING.get(loop, 0) + 1
        try:
            idle = 0
            for _ in range(_MAX_SETTLE_YIELDS):
                await asyncio.sleep(0)
                # Other clocks' drivers settling on this loop are not work to wait for.
                busy = ready is not None and len(ready) >= _SETTLING[loop]
                idle = 0 if busy else idle + 1
                if idle >= needed:
                    return
        finally:
            _SETTLING[loop] -= 1
        _LOGGER.warning("virtual clock: the event loop never went idle; advancing anyway")

    def _advance(self) -> None:
        """Move time to the earliest live deadline (at most max_step_s) and run what is due.

        Callbacks due now run first; sleepers due now wake only on the next pass, after the
        callbacks' effects settled (a gun's telemetry at t is seen by a host waking at t).
        """
        heap = self._heap
        while heap and heap[0][3].cancelled():
            heapq.heappop(heap)
        if not heap:
            return
        target_s = heap[0][0]
        if self.max_step_s is not None:
            target_s = min(target_s, self._now_s + self.max_step_s)
        if target_s > self._now_s:
            self._now_s = target_s
            self.jumps += 1
        ran_callback = False
        while heap and heap[0][0] <= self._now_s:
            rank, handle = heap[0][1], heap[0][3]
            if rank == _SLEEPER and ran_callback:
                return
            heapq.heappop(heap)
            if not handle.cancelled():
                ran_callback = ran_callback or rank == _CALLBACK
                handle._run()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
