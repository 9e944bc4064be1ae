"""The Transport contract: a callback-driven byte pipe (serial, tcp, loopback)."""

from __future__ import annotations

import abc
import asyncio
import enum
import logging
from collections.abc import Callable

from tpdevice.transport.errors import TransportError, TransportOpenError

__all__ = ["OnBytes", "OnLost", "Transport", "TransportState"]

_LOGGER = logging.getLogger(__name__)

OnBytes = Callable[[bytes], None]
OnLost = Callable[[BaseException | None], None]


class TransportState(enum.Enum):
    """Life cycle of a transport: closed -> opening -> open -> (lost | closed)."""

    CLOSED = "closed"
    OPENING = "opening"
    OPEN = "open"
    LOST = "lost"


_LIVE = frozenset({TransportState.OPENING, TransportState.OPEN})


def _ignore_bytes(data: bytes) -> None:
    """Placeholder receiver used while no one is listening."""


def _ignore_lost(exc: BaseException | None) -> None:
    """Placeholder loss handler used while no one is listening."""


class Transport(abc.ABC):
    """Moves bytes to and from one device; received chunks go straight to `on_bytes`.

    Subclasses implement `_open`, `_release` and `write`, and override `_drain` if they
    buffer. `on_bytes` may run before `open()` returns (a device may speak first).
    `on_lost(exc)` is called once, soon after the link dies on its own: `None` for a
    clean end of stream, else a TransportError. Never after `close()`.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        self._state = TransportState.CLOSED
        self._on_bytes: OnBytes = _ignore_bytes
        self._on_lost: OnLost = _ignore_lost
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address} {self._state.value}>"

    @property
    def state(self) -> TransportState:
        """Where the transport is in its life cycle."""
        return self._state

    @property
    def is_open(self) -> bool:
        """True while bytes can be written and received."""
        return self._state is TransportState.OPEN

    @property
    def write_buffer_bytes(self) -> int:
        """Bytes accepted by `write()` but not yet handed to the OS or peer."""
        return 0

    async def open(self, on_bytes: OnBytes, on_lost: OnLost) -> None:
        """Open the link; raise TransportOpenError (one line) if it cannot be opened."""
        if self._state in _LIVE:
            raise TransportError(f"{self.address}: already {self._state.value}")
        self._loop = asyncio.get_running_loop()
        self._on_bytes, self._on_lost = on_bytes, on_lost
        self._set_state(TransportState.OPENING)
        try:
            await self._open()
        except BaseException:
            self._set_state(TransportState.CLOSED)
            self._on_bytes, self._on_lost = _ignore_bytes, _ignore_lost
            raise
        if self.state is TransportState.LOST:
            raise TransportOpenError(f"{self.address}: connection lost while opening")
        if self.state is TransportState.CLOSED:
            self._release()  # close() ran while we were opening
            raise TransportOpenError(f"{self.address}: closed while opening")
        self._set_state(TransportState.OPEN)

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Send bytes without blocking; buffer what the OS cannot take yet."""

    async def flush(self, timeout_s: float = 1.0) -> bool:
        """Wait until written bytes have left this process; False if timeout_s passed first."""
        return True

    async def close(self) -> None:
        """Flush pending writes (bounded), then release the link; idempotent, no on_lost."""
        previous = self._state
        if previous is TransportState.CLOSED:
            return
        self._set_state(TransportState.CLOSED)
        self._on_bytes, self._on_lost = _ignore_bytes, _ignore_lost
        if previous is TransportState.OPENING:
            return  # open() sees the change and releases what it acquired
        try:
            if previous is TransportState.OPEN:
                await self._drain()
        finally:
            if previous is TransportState.OPEN:
                self._release()

    @abc.abstractmethod
    async def _open(self) -> None:
        """Acquire the OS resource and start delivering bytes."""

    @abc.abstractmethod
    def _release(self) -> None:
        """Stop delivering bytes and free the OS resource; called once per successful open."""

    async def _drain(self) -> None:
        """Wait (bounded) until buffered writes have left; default: nothing is buffered."""
        return

    def _check_writable(self) -> None:
        """Raise TransportError unless the transport is open."""
        if self._state is not TransportState.OPEN:
            raise TransportError(f"{self.address}: cannot write, transport is {self._state.value}")

    def _deliver(self, data: bytes) -> None:
        """Hand a received chunk to the owner; a device may speak first, even mid-open."""
        if self._state in _LIVE:
            self._on_bytes(data)

    def _connection_lost(self, exc: BaseException | None) -> None:
        """Mark the link dead, free it and tell the owner soon (never re-entrantly)."""
        previous = self._state
        if previous not in _LIVE:
            return
        on_lost = self._on_lost
        self._set_state(TransportState.LOST)
        self._on_bytes, self._on_lost = _ignore_bytes, _ignore_lost
        _LOGGER.debug("%s: lost (%s)", self.address, exc)
        self._release()
        if previous is TransportState.OPEN:  # mid-open, open() raises instead
            loop = self._loop or asyncio.get_running_loop()
            loop.call_soon(on_lost, exc)

    def _lost_error(self, cause: BaseException | str) -> TransportError:
        """Build the one-line error passed to on_lost for an unexpected failure."""
        text = cause if isinstance(cause, str) else _describe(cause)
        error = TransportError(f"{self.address}: connection lost: {text}")
        if isinstance(cause, BaseException):
            error.__cause__ = cause
        return error

    def _set_state(self, new: TransportState) -> None:
        """The one place the state changes, so transitions are logged consistently."""
        if new is not self._state:
            _LOGGER.debug("%s: %s -> %s", self.address, self._state.value, new.value)
            self._state = new


def _describe(exc: BaseException) -> str:
    """A short lower-case cause text for an OS error, without the errno noise."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__
