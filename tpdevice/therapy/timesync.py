"""Device time of a session: TIME_SYNC at the start and after every reconnect, reboots noticed.

A TIME_SYNC is never retransmitted (a replay returns a stale clock): a lost one is retried
as a fresh request, up to _MAX_LOST times per sync; a link that answers none of them fails.

A device that rebooted restarts its clock near zero: the old offset would then map every
device time far into the past. Both ways of mapping notice it and start a fresh map: a
TIME_SYNC offset that disagrees with the old one beyond their error bounds, or (devices
without TIME_SYNC) a telemetry sample that would have been sent long before it arrived.
"""

from __future__ import annotations

import logging

from tpdevice.device.api import time_syncer
from tpdevice.device.errors import DeviceRejectedError, DeviceTimeoutError
from tpdevice.therapy.devicetime import DeviceTimeMap, TimeSource
from tpdevice.therapy.modes import RunContext

__all__ = ["note_arrival", "sync_time"]

_LOGGER = logging.getLogger(__name__)
_SAMPLES = 3
# Unanswered TIME_SYNCs tolerated per sync, each sent afresh: at 44 % loss per exchange
# (20 % drop each way, 5 % corrupt) all 12 are lost once in 20000 syncs.
_MAX_LOST = 12
# Offsets further apart than their error bounds plus this: the device clock restarted.
# Telemetry is never this late (the streams keep only the newest samples).
_RESTART_S = 1.0

Sample = tuple[float, float, float]  # (offset_s, rtt_s, taken at session seconds)


async def sync_time(ctx: RunContext) -> None:
    """TIME_SYNC a few times when the device offers it; a fresh map if its clock restarted."""
    samples = await _take_samples(ctx)
    if not samples:
        return
    old = ctx.time_map
    fresh = DeviceTimeMap(max_drift_ppm=old.max_drift_ppm)
    for sample in samples:
        fresh.add_sync(*sample)
    if old.ready and _agree(old, fresh):
        for sample in samples:
            old.add_sync(*sample)
        return
    if old.ready:
        _LOGGER.info("%s: the device clock restarted; device time mapped anew", ctx.client.address)
    ctx.time_map = fresh


def note_arrival(ctx: RunContext, device_time_ms: int, arrival_s: float) -> None:
    """Offer a telemetry arrival to the map; one sent long before it arrived starts a new map."""
    time_map = ctx.time_map
    best = time_map.best
    if time_map.source is TimeSource.ARRIVAL and best is not None:
        late_s = arrival_s - time_map.to_session_s(device_time_ms)
        if late_s > _RESTART_S + best.error_at_s(arrival_s, time_map.max_drift_ppm):
            _LOGGER.info(
                "%s: the device clock restarted (a sample %.1f s late); device time mapped anew",
                ctx.client.address, late_s,
            )  # fmt: skip
            time_map = ctx.time_map = DeviceTimeMap(max_drift_ppm=time_map.max_drift_ppm)
    time_map.add_arrival(device_time_ms, arrival_s)


async def _take_samples(ctx: RunContext) -> list[Sample]:
    """Up to _SAMPLES TIME_SYNC results; none when the device does not offer or refuses it."""
    client = time_syncer(ctx.client)
    if client is None:
        return []
    now_s = ctx.clock.now_s
    samples: list[Sample] = []
    lost = 0
    while len(samples) < _SAMPLES:
        try:
            offset_s, rtt_s = await client.time_sync(now_s)
        except DeviceRejectedError as err:
            _LOGGER.info("time sync refused (%s); using telemetry arrival times", err)
            break
        except DeviceTimeoutError:
            lost += 1
            if lost > _MAX_LOST:
                raise
            _LOGGER.debug("%s: TIME_SYNC %d lost; sending a fresh one", ctx.client.address, lost)
            continue
        samples.append((offset_s, rtt_s, now_s()))
    return samples


def _agree(old: DeviceTimeMap, fresh: DeviceTimeMap) -> bool:
    """True when both maps give the same device clock within their errors (no restart)."""
    was, now = old.best, fresh.best
    if was is None or now is None:
        return False
    bound_s = was.error_at_s(now.taken_at_s, old.max_drift_ppm) + now.error_s + _RESTART_S
    return abs(now.offset_s - was.offset_s) <= bound_s
