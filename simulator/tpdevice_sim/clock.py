"""Device time for the simulator: real, scaled, advanced by hand, or an external event clock."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["EventClock", "ManualClock", "RealClock", "ScaledClock", "SimClock", "TimerHandle"]


class SimClock(Protocol):
    """A source of device time: monotonic seconds since the simulated gun booted."""

    def now_s(self) -> float:
        """Device time now, in seconds; never decreases."""
        ...

    def real_delay_s(self, device_dt_s: float) -> float:
        """Real seconds to wait for device_dt_s of device time to pass (0 if waiting is moot)."""
        ...


class TimerHandle(Protocol):
    """A callback scheduled on an EventClock."""

    def cancel(self) -> None:
        """Do not run it; idempotent."""
        ...


@runtime_checkable
class EventClock(Protocol):
    """Device time that schedules callbacks itself (e.g. a host's virtual clock, duck-typed).

    A gun on an EventClock arms its ticks with call_at, so device time is that clock's time
    (time scale 1: the watchdog runs on it too).
    """

    def now_s(self) -> float:
        """Device time now, in seconds; never decreases."""
        ...

    def call_at(self, when_s: float, callback: Callable[[], object]) -> TimerHandle:
        """Run callback() once the clock reaches when_s."""
        ...


class ScaledClock:
    """Device time that runs `scale` times faster than time.monotonic, from start_s."""

    def __init__(
        self,
        scale: float,
        *,
        start_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start at start_s device seconds; scale must be a finite number > 0."""
        if not (math.isfinite(scale) and scale > 0.0):
            raise ValueError(f"time scale must be a finite number > 0, got {scale}")
        self.scale = scale
        self._start_s = start_s
        self._monotonic = monotonic
        self._real_origin_s = monotonic()

    def now_s(self) -> float:
        """Device seconds: start_s plus scaled real time elapsed since construction."""
        return self._start_s + (self._monotonic() - self._real_origin_s) * self.scale

    def real_delay_s(self, device_dt_s: float) -> float:
        """Real seconds for device_dt_s to pass; negative device delays wait 0."""
        return max(0.0, device_dt_s) / self.scale


class RealClock(ScaledClock):
    """Device time at the pace of time.monotonic, from start_s."""

    def __init__(
        self, *, start_s: float = 0.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """Start at start_s device seconds."""
        super().__init__(1.0, start_s=start_s, monotonic=monotonic)


class ManualClock:
    """Device time that moves only when a test calls advance()."""

    def __init__(self, start_s: float = 0.0) -> None:
        """Start at start_s device seconds."""
        self._now_s = start_s

    def now_s(self) -> float:
        """Device seconds now."""
        return self._now_s

    def advance(self, dt_s: float) -> float:
        """Move device time forward by dt_s >= 0; return the new time."""
        if not (dt_s >= 0.0 and math.isfinite(dt_s)):
            raise ValueError(f"dt_s must be a finite number >= 0, got {dt_s}")
        self._now_s += dt_s
        return self._now_s

    def real_delay_s(self, device_dt_s: float) -> float:
        """Always 0: manual time never passes by waiting."""
        return 0.0
