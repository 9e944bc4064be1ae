"""DeviceTimeMap: device_time_ms (u32, wrapping) to session-clock seconds."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tpdevice.errors import TpDeviceError

__all__ = [
    "DEFAULT_MAX_DRIFT_PPM",
    "DeviceTimeError",
    "DeviceTimeMap",
    "TimeSource",
    "TimeSyncClient",
    "TimeSyncSample",
    "sync_device_time",
    "unwrap_u32_ms",
]

_LOGGER = logging.getLogger(__name__)

U32_SPAN = 1 << 32
_HALF_SPAN = 1 << 31
# Two free-running crystals disagree by up to ~100 ppm: an old sample loses this much
# accuracy per second of age, so a fresher one with a longer round trip may be better.
DEFAULT_MAX_DRIFT_PPM = 100.0


class DeviceTimeError(TpDeviceError):
    """Device time cannot be mapped (no sample yet)."""


class TimeSource(enum.Enum):
    """Where the map's offset comes from."""

    NONE = "none"
    TIME_SYNC = "time_sync"
    ARRIVAL = "arrival"


@dataclass(frozen=True, slots=True)
class TimeSyncSample:
    """One estimate: device seconds minus session seconds, with its error bound and age."""

    offset_s: float
    error_s: float  # half the round trip, or 0 for an arrival (its delay is unknown)
    taken_at_s: float  # session time of the sample

    def error_at_s(self, now_s: float, drift_ppm: float) -> float:
        """The error bound at now_s, widened by clock drift since the sample."""
        return self.error_s + abs(now_s - self.taken_at_s) * drift_ppm * 1e-6


class TimeSyncClient(Protocol):
    """What sync_device_time needs from a DeviceClient."""

    async def time_sync(self, now_s: Callable[[], float] | None = None) -> tuple[float, float]:
        """(offset_s, rtt_s) of the device clock against now_s()."""
        ...


def unwrap_u32_ms(value_ms: int, near_ms: int) -> int:
    """The full millisecond count whose low 32 bits are value_ms, nearest to near_ms."""
    if not 0 <= value_ms < U32_SPAN:
        raise ValueError(f"device time {value_ms} ms is not a u32")
    delta = (value_ms - near_ms) % U32_SPAN
    if delta >= _HALF_SPAN:
        delta -= U32_SPAN
    return near_ms + delta


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")


class DeviceTimeMap:
    """Maps device_time_ms to session seconds from TIME_SYNC samples or telemetry arrivals.

    TIME_SYNC samples: the one with the smallest error bound (half round trip, widened by
    drift with age) wins. Arrivals (devices without TIME_SYNC): the least delayed one wins,
    so times map to at most the true send time plus that one's delay. Once a TIME_SYNC
    sample exists, arrivals are ignored.
    """

    def __init__(self, *, max_drift_ppm: float = DEFAULT_MAX_DRIFT_PPM) -> None:
        """max_drift_ppm: how fast a sample ages (>= 0)."""
        if not (math.isfinite(max_drift_ppm) and max_drift_ppm >= 0.0):
            raise ValueError(f"max_drift_ppm must be a finite number >= 0, got {max_drift_ppm}")
        self.max_drift_ppm = max_drift_ppm
        self.source = TimeSource.NONE
        self._best: TimeSyncSample | None = None
        self._last_ms: int | None = None  # the last unwrapped device time seen
        self.samples = 0

    @property
    def ready(self) -> bool:
        """True once a sample makes to_session_s() possible."""
        return self._best is not None

    @property
    def best(self) -> TimeSyncSample | None:
        """The sample in use."""
        return self._best

    def add_sync(self, offset_s: float, rtt_s: float, now_s: float) -> bool:
        """Offer a TIME_SYNC result taken at session time now_s; True if it is now in use."""
        for name, value in (("offset_s", offset_s), ("rtt_s", rtt_s), ("now_s", now_s)):
            _check_finite(name, value)
        if rtt_s < 0.0:
            raise ValueError(f"rtt_s must be >= 0, got {rtt_s}")
        self.samples += 1
        sample = TimeSyncSample(offset_s, rtt_s / 2.0, now_s)
        best = self._best if self.source is TimeSource.TIME_SYNC else None
        if best is not None and sample.error_s > best.error_at_s(now_s, self.max_drift_ppm):
            return False
        self._adopt(sample, TimeSource.TIME_SYNC)
        return True

    def add_arrival(self, device_time_ms: int, arrival_s: float) -> bool:
        """Offer a telemetry arrival (for devices without TIME_SYNC); True if now in use."""
        _check_finite("arrival_s", arrival_s)
        device_s = self._unwrap(device_time_ms) / 1000.0
        if self.source is TimeSource.TIME_SYNC:
            return False
        self.samples += 1
        sample = TimeSyncSample(device_s - arrival_s, 0.0, arrival_s)
        best = self._best
        # Less delay means a larger offset; an old best counts as delayed by its drift.
        if best is not None:
            aged_offset_s = best.offset_s - best.error_at_s(arrival_s, self.max_drift_ppm)
            if sample.offset_s < aged_offset_s:
                return False
        self._adopt(sample, TimeSource.ARRIVAL)
        return True

    def to_session_s(self, device_time_ms: int) -> float:
        """Session seconds at which the device clock read device_time_ms."""
        best = self._best
        if best is None:
            raise DeviceTimeError("device time cannot be mapped: no time sync or telemetry yet")
        return self._unwrap(device_time_ms) / 1000.0 - best.offset_s

    def to_device_ms(self, session_s: float) -> int:
        """The full (unwrapped) device milliseconds at session time session_s."""
        best = self._best
        if best is None:
            raise DeviceTimeError("device time cannot be mapped: no time sync or telemetry yet")
        _check_finite("session_s", session_s)
        return round((session_s + best.offset_s) * 1000.0)

    def _adopt(self, sample: TimeSyncSample, source: TimeSource) -> None:
        if self.source is not source:
            _LOGGER.debug("device time now from %s", source.value)
            # A TIME_SYNC sample knows the full device time (u64 us): unwrap near it from now.
            self._last_ms = None
        self._best, self.source = sample, source

    def _unwrap(self, device_time_ms: int) -> int:
        """Unwrap near the last value seen, else near the device time the best sample gives."""
        near_ms = self._last_ms
        if near_ms is None:
            best = self._best
            near_ms = 0 if best is None else round((best.taken_at_s + best.offset_s) * 1000.0)
        full_ms = unwrap_u32_ms(device_time_ms, near_ms)
        self._last_ms = full_ms
        return full_ms


async def sync_device_time(
    client: TimeSyncClient, now_s: Callable[[], float], time_map: DeviceTimeMap, samples: int = 3
) -> int:
    """Take `samples` TIME_SYNCs on the session clock now_s into time_map; how many were kept."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    kept = 0
    for _ in range(samples):
        offset_s, rtt_s = await client.time_sync(now_s)
        kept += time_map.add_sync(offset_s, rtt_s, now_s())
    return kept
