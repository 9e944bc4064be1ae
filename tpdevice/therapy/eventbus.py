"""The event bus of a session: synchronous sinks first, then lossless async subscriptions."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable

from tpdevice.therapy.events import Event

__all__ = ["EventBus", "EventSink", "EventSubscription"]

_LOGGER = logging.getLogger(__name__)

EventSink = Callable[[Event], None]


class EventSubscription:
    """Every event from subscription on, in order, none dropped; ends when the bus closes."""

    def __init__(self, on_close: Callable[[EventSubscription], None]) -> None:
        self._items: collections.deque[Event] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._on_close = on_close

    @property
    def pending(self) -> int:
        """Events received but not consumed yet."""
        return len(self._items)

    def put(self, event: Event) -> None:
        """Queue one event (unbounded) and wake the consumer."""
        if not self._ended:
            self._items.append(event)
            self._wake()

    def end(self) -> None:
        """No more events: iteration stops once the queued ones are consumed."""
        self._ended = True
        self._wake()

    def close(self) -> None:
        """Stop receiving; queued events are discarded."""
        self._items.clear()
        self.end()
        self._on_close(self)

    def __aiter__(self) -> EventSubscription:
        return self

    async def __anext__(self) -> Event:
        while not self._items:
            if self._ended:
                raise StopAsyncIteration
            if self._waiter is not None:
                raise RuntimeError("an event subscription has one consumer; subscribe() again")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class EventBus:
    """Hands each event to every sink, in order, then to every subscription; keeps the history.

    A sink runs inside publish(), before any subscriber can see the event (a journal records
    it first); a sink that raises does not stop the event, the other sinks or the session.
    """

    def __init__(self) -> None:
        self.history: list[Event] = []
        self._sinks: list[EventSink] = []
        self._subscriptions: list[EventSubscription] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once the session ended (no more events)."""
        return self._closed

    def publish(self, event: Event) -> None:
        """Record and deliver an event; its seq must follow the previous one."""
        expected = len(self.history) + 1
        if self._closed or event.seq != expected:
            raise RuntimeError(f"event {event.type} seq {event.seq} out of order (want {expected})")
        self.history.append(event)
        for sink in tuple(self._sinks):
            try:
                sink(event)
            except Exception:
                _LOGGER.exception("event sink %r failed on %s #%d", sink, event.type, event.seq)
        for subscription in tuple(self._subscriptions):
            subscription.put(event)

    def add_sink(self, sink: EventSink) -> Callable[[], None]:
        """Call `sink(event)` for every event from now on, before subscribers; returns remove."""
        self._sinks.append(sink)

        def remove() -> None:
            if sink in self._sinks:
                self._sinks.remove(sink)

        return remove

    def subscribe(self, *, replay: bool = False) -> EventSubscription:
        """A new subscription; with replay=True it first gets every event published so far."""
        subscription = EventSubscription(self._unsubscribe)
        if replay:
            for event in self.history:
                subscription.put(event)
        if self._closed:
            subscription.end()
        else:
            self._subscriptions.append(subscription)
        return subscription

    def close(self) -> None:
        """End every subscription after its queued events; idempotent."""
        self._closed = True
        for subscription in tuple(self._subscriptions):
            subscription.end()
        self._subscriptions.clear()

    def _unsubscribe(self, subscription: EventSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
