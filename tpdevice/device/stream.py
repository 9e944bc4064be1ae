"""A bounded async stream that keeps the newest items when its consumer falls behind."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["LatestStream"]

T = TypeVar("T")


class LatestStream(Generic[T]):
    """Async iterator over pushed items for ONE consumer; when full the oldest is dropped.

    Each item is handed out once, so a second task iterating the same stream concurrently
    gets a RuntimeError: ask the client for another stream instead (each gets every item).
    """

    def __init__(
        self,
        maxsize: int,
        on_close: Callable[[LatestStream[T]], None] | None = None,
        *,
        name: str = "stream",
    ) -> None:
        self.name = name
        self._items: collections.deque[T] = collections.deque(maxlen=max(1, maxsize))
        self._waiter: asyncio.Future[None] | None = None
        self._on_close = on_close
        self._closed = False
        self.dropped = 0

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed

    def put(self, item: T) -> None:
        """Add an item (dropping the oldest when full) and wake the consumer."""
        if self._closed:
            return
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)
        self._wake()

    def close(self) -> None:
        """End the iteration once the buffered items are consumed; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake()
        if self._on_close is not None:
            self._on_close(self)

    def __aiter__(self) -> LatestStream[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            if self._waiter is not None:
                raise RuntimeError(
                    f"{self.name} already has a consumer waiting; "
                    "ask for a new stream for each consumer"
                )
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def _wake(self) -> None:
        """Release a waiting consumer."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
