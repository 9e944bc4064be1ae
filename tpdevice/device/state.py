"""State enums of the device layer and a small observable holder for them."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ConnectionState", "LinkState", "ReconnectState", "SetpointResult", "StateHolder"]

_LOGGER = logging.getLogger(__name__)

E = TypeVar("E", bound=enum.Enum)


class ConnectionState(enum.Enum):
    """What a DeviceClient can do now."""

    DISCONNECTED = "disconnected"  # no link (before connect, or lost and reconnecting)
    CONNECTING = "connecting"  # opening the transport and handshaking
    READY = "ready"  # handshake done, motor not running
    RUNNING = "running"  # motor (or a device-run program) running
    FAULTED = "faulted"  # the device reported an active fault
    FAILED = "failed"  # reconnecting ended on a permanent error (see last_error); close() it
    CLOSED = "closed"  # close() was called; terminal


class LinkState(enum.Enum):
    """Life cycle of one DeviceConnection (one transport, one handshake)."""

    NEW = "new"
    OPEN = "open"  # transport open, no CAPABILITIES yet
    READY = "ready"  # handshake done
    LOST = "lost"  # the link failed; terminal
    CLOSED = "closed"  # closed on request; terminal


class ReconnectState(enum.Enum):
    """What a ReconnectLogic is doing."""

    IDLE = "idle"  # not reconnecting (never started, succeeded or stopped)
    WAITING = "waiting"  # backing off before the next attempt
    CONNECTING = "connecting"  # an attempt is under way
    GAVE_UP = "gave_up"  # a permanent error ended it (see last_error)


class SetpointResult(enum.Enum):
    """Outcome of set_output when it did not fail."""

    APPLIED = "applied"  # the device acknowledged this setpoint
    SUPERSEDED = "superseded"  # a newer setpoint replaced it before it was (re)sent


StateListener = Callable[[E, E], None]


class StateHolder(Generic[E]):
    """One enum value with one setter that logs transitions and notifies listeners."""

    __slots__ = ("_level", "_listeners", "_name", "_value")

    def __init__(self, name: str, initial: E, *, log_level: int = logging.DEBUG) -> None:
        self._name = name
        self._value = initial
        self._level = log_level
        self._listeners: list[StateListener[E]] = []

    @property
    def value(self) -> E:
        """The current state."""
        return self._value

    def set(self, new: E) -> bool:
        """Change the state; log and notify (old, new) when it differs. True if it changed."""
        old = self._value
        if new is old:
            return False
        self._value = new
        _LOGGER.log(self._level, "%s: %s -> %s", self._name, old.value, new.value)
        for listener in tuple(self._listeners):
            try:
                listener(old, new)
            except Exception:
                _LOGGER.exception("%s: state listener failed", self._name)
        return True

    def subscribe(self, listener: StateListener[E]) -> Callable[[], None]:
        """Call listener(old, new) on every change; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def wait_for(self, *states: E) -> E:
        """Wait until the value is one of `states` (now or after a change); return it."""
        if self._value in states:
            return self._value
        reached: asyncio.Future[E] = asyncio.get_running_loop().create_future()

        def listener(old: E, new: E) -> None:
            if new in states and not reached.done():
                reached.set_result(new)

        unsubscribe = self.subscribe(listener)
        try:
            return await reached
        finally:
            unsubscribe()
