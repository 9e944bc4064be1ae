"""Every journaled event to `<base>/<device>/events`, QoS 1, in order, across outages and restarts.

Live events are offered in memory right after the journal recorded them. When the broker is
away for long, memory stays bounded: the outbox forgets what it holds and later replays from
the journal, which has every event, from each device's delivery cursor. So nothing is dropped,
safety events included, and per device the order is the journal's.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tpdevice.daemon.journal import Journal
from tpdevice.daemon.journal_queries import JournalReader
from tpdevice.mqtt.link import MAX_INFLIGHT, MqttLink, MqttUnavailableError

__all__ = ["EventOutbox", "OutboxItem"]

_LOGGER = logging.getLogger(__name__)
CONSUMER = "mqtt"
OutboxItem = tuple[str, int, dict[str, Any]]  # (device_id, device_seq, event body)


class EventOutbox:
    """Publishes journaled events; `offer` is synchronous, `run` delivers while connected."""

    def __init__(self, link: MqttLink, journal: Journal, *, memory_limit: int = 10_000) -> None:
        self._link = link
        self._journal = journal
        self._memory_limit = memory_limit
        self._pending: collections.deque[OutboxItem] = collections.deque()
        self._spilled = True  # start by replaying what the journal holds past the cursors
        self._acked: dict[str, int] = {}
        self._wake = asyncio.Event()
        self.published = 0
        self.replayed = 0

    def offer(self, device_id: str, device_seq: int, body: dict[str, Any]) -> None:
        """Queue one journaled event (never blocks, never drops: past the limit, replay later)."""
        if not self._spilled and len(self._pending) < self._memory_limit:
            self._pending.append((device_id, device_seq, body))
        elif not self._spilled:
            _LOGGER.warning("outbox full (%d): events will be replayed", self._memory_limit)
            self._spilled = True
            self._pending.clear()
        self._wake.set()

    @property
    def backlog(self) -> int:
        """Events held in memory and not yet acknowledged by the broker."""
        return len(self._pending)

    async def run(self) -> None:
        """Deliver forever: wait for the link, replay if needed, then follow live events."""
        self._acked = await asyncio.to_thread(_read_cursors, self._journal.path)
        while True:
            await self._link.connected.wait()
            try:
                if self._spilled:
                    await self._replay()
                await self._drain_memory()
            except MqttUnavailableError:
                self._spilled = True  # what was in flight is replayed from the journal
                continue  # the link is down: wait for it, then go on from the cursors
            self._wake.clear()
            if not self._pending and not self._spilled:
                await self._wake.wait()

    async def _replay(self) -> None:
        """Publish from the journal everything past the cursors, then go back to memory."""
        self._spilled = False
        self._pending.clear()  # all of it is in the journal: flushed below, replayed from there
        await asyncio.to_thread(self._journal.flush)
        while True:
            items = await asyncio.to_thread(
                _read_after, self._journal.path, dict(self._acked), self._journal.devices
            )
            if not items:
                return
            # Windows of MAX_INFLIGHT: a whole page at once would pile up in the client's queue.
            for start in range(0, len(items), MAX_INFLIGHT):
                await self._publish_window(items[start : start + MAX_INFLIGHT])
            self.replayed += len(items)

    async def _drain_memory(self) -> None:
        while self._pending and not self._spilled:
            window = [self._pending[i] for i in range(min(MAX_INFLIGHT, len(self._pending)))]
            await self._publish_window(window)
            for _ in window:
                if self._pending:
                    self._pending.popleft()

    async def _publish_window(self, items: list[OutboxItem]) -> None:
        """Publish items concurrently (sent in order), then advance the cursors."""
        fresh = [item for item in items if item[1] > self._acked.get(item[0], 0)]
        await asyncio.gather(*(self._publish(item) for item in fresh))
        for device_id, device_seq, _ in fresh:
            self._acked[device_id] = max(self._acked.get(device_id, 0), device_seq)
        for device_id in {item[0] for item in fresh}:
            self._journal.set_cursor(CONSUMER, device_id, self._acked[device_id])
        self.published += len(fresh)

    async def _publish(self, item: OutboxItem) -> None:
        device_id, device_seq, body = item
        payload = json.dumps({**body, "device_seq": device_seq}, separators=(",", ":"))
        topic = self._link.topics.device(device_id, "events")
        await self._link.publish(topic, payload.encode(), qos=1)


def _reading(path: Path, query: Callable[[JournalReader], Any]) -> Any:
    reader = JournalReader(path)
    try:
        return query(reader)
    finally:
        reader.close()


def _read_cursors(path: Path) -> dict[str, int]:
    return dict(_reading(path, lambda reader: reader.cursors(CONSUMER)))


def _read_after(path: Path, acked: dict[str, int], devices: list[str]) -> list[OutboxItem]:
    """A page of journal events past each device's cursor, in journal order."""
    items: list[OutboxItem] = _reading(path, lambda reader: reader.events_after(acked, devices))
    return items
