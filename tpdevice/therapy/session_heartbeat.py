"""The heartbeat of a running session: beats on the session clock, also while it awaits I/O."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

from tpdevice.device.api import GunClient
from tpdevice.device.heartbeat import HeartbeatLease
from tpdevice.therapy.clock import SessionClock

__all__ = ["SessionHeartbeat"]

T = TypeVar("T")


class SessionHeartbeat:
    """Beats the client's heartbeat through the session's lease when due (never a burst)."""

    def __init__(self, client: GunClient, clock: SessionClock) -> None:
        self._client = client
        self._clock = clock
        self._lease: HeartbeatLease | None = None
        self.next_beat_s = -math.inf

    def acquire(self, owner: str) -> HeartbeatLease:
        """Hold the gun's heartbeat for this session (an idle beater yields); HeartbeatBusyError
        if another session holds it."""
        self._lease = self._client.heartbeat.acquire(owner)
        return self._lease

    def start(self, now_s: float) -> None:
        """The first beat is due now."""
        self.next_beat_s = now_s

    def beat_now(self) -> None:
        """Beat at once (a new link: a motor still running from before the outage is fed now,
        not one interval later, when its watchdog may already have tripped)."""
        self.next_beat_s = self._clock.now_s()
        self.beat_if_due()

    def beat_if_due(self) -> None:
        """One heartbeat when due; the next one interval later."""
        now_s = self._clock.now_s()
        if now_s < self.next_beat_s:
            return
        heartbeat = self._client.heartbeat
        if self._lease is not None:
            self._lease.beat()
        next_s = self.next_beat_s + heartbeat.interval_s
        self.next_beat_s = next_s if next_s > now_s else now_s + heartbeat.interval_s

    async def beating(self, work: Awaitable[T]) -> T:
        """Await the loop's device I/O; meanwhile a helper task goes on with the heartbeat."""
        beater = asyncio.ensure_future(self._beat_meanwhile())
        try:
            return await work
        finally:
            beater.cancel()

    async def _beat_meanwhile(self) -> None:
        """Beat a due beat at the first await of the loop's I/O, then on every deadline."""
        while True:
            self.beat_if_due()
            await self._clock.sleep_until(self.next_beat_s)
