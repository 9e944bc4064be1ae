"""Fan-out of one stream to many async readers, each with its own bounded buffer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from tpdevice.device.stream import LatestStream

__all__ = ["Fanout"]

T = TypeVar("T")


class Fanout(Generic[T]):
    """publish() hands each item to every subscriber; a slow one loses its oldest items."""

    def __init__(self, maxsize: int, name: str) -> None:
        self._maxsize = maxsize
        self._name = name
        self._streams: set[LatestStream[T]] = set()

    def publish(self, item: T) -> None:
        """Offer `item` to every current subscriber (never blocks)."""
        for stream in list(self._streams):
            stream.put(item)

    def subscribe(self, first: list[T] | None = None) -> AsyncIterator[T]:
        """A new reader: `first` (e.g. the current state) and then every item published."""
        stream: LatestStream[T] = LatestStream(
            self._maxsize, self._streams.discard, name=self._name
        )
        for item in first or ():
            stream.put(item)
        self._streams.add(stream)
        return _read(stream)

    def close(self) -> None:
        """End every reader's iteration."""
        for stream in list(self._streams):
            stream.close()

    @property
    def readers(self) -> int:
        """How many subscribers there are now."""
        return len(self._streams)


async def _read(stream: LatestStream[T]) -> AsyncIterator[T]:
    """Iterate `stream`; a reader that stops early unsubscribes."""
    try:
        async for item in stream:
            yield item
    finally:
        stream.close()
