"""The firmware's safety guards: dead-man watchdog, force cap, and the table of active faults."""

from __future__ import annotations

import logging

from tpdevice.protocol import FaultCode

__all__ = ["FORCE_CAP_HOLD_S", "LATCHED_FAULTS", "FaultTable", "ForceCapGuard", "Watchdog"]

_LOGGER = logging.getLogger(__name__)

FORCE_CAP_HOLD_S = 0.25
# Cleared only by a new START / run; the others clear when their condition ends.
LATCHED_FAULTS = frozenset({FaultCode.WATCHDOG, FaultCode.OVER_FORCE, FaultCode.NEW_HOST})


class Watchdog:
    """Dead-man timer: expired once `timeout_ms` of real time passed since the last feed."""

    __slots__ = ("fed_s", "time_scale", "timeout_ms")

    def __init__(self, timeout_ms: int, time_scale: float = 1.0) -> None:
        self.timeout_ms = timeout_ms
        self.time_scale = time_scale  # device seconds per real second
        self.fed_s = 0.0

    @property
    def deadline_s(self) -> float:
        """Device time at which the watchdog expires unless fed."""
        return self.fed_s + self.timeout_ms / 1000.0 * self.time_scale

    def feed(self, now_s: float) -> None:
        """Restart the timeout from now (a fresh HEARTBEAT, START or run)."""
        self.fed_s = now_s

    def expired(self, now_s: float) -> bool:
        """True once the timeout has elapsed since the last feed."""
        return now_s >= self.deadline_s


class ForceCapGuard:
    """Trips when the measured force stays above the cap for `hold_s` while the motor is driven."""

    __slots__ = ("_over_since_s", "hold_s")

    def __init__(self, hold_s: float = FORCE_CAP_HOLD_S) -> None:
        self.hold_s = hold_s
        self._over_since_s: float | None = None

    @property
    def deadline_s(self) -> float | None:
        """When the guard trips if the force stays above the cap, or None."""
        return None if self._over_since_s is None else self._over_since_s + self.hold_s

    def update(self, now_s: float, force_n: float, cap_n: float, *, driven: bool) -> bool:
        """Take one force sample; True when the cap has been exceeded for hold_s."""
        if not driven or force_n <= cap_n:
            self._over_since_s = None
            return False
        if self._over_since_s is None:
            self._over_since_s = now_s
        return now_s - self._over_since_s >= self.hold_s

    def reset(self) -> None:
        """Forget an episode in progress (the motor was stopped)."""
        self._over_since_s = None


class FaultTable:
    """The faults active now; raising or clearing one twice is a no-op."""

    __slots__ = ("active",)

    def __init__(self) -> None:
        self.active: set[FaultCode] = set()

    def __bool__(self) -> bool:
        return bool(self.active)

    def __contains__(self, code: object) -> bool:
        return code in self.active

    def raise_fault(self, code: FaultCode) -> bool:
        """Mark `code` active; True if it was not already."""
        if code in self.active:
            return False
        _LOGGER.info("fault %s raised", code.name.lower())
        self.active.add(code)
        return True

    def clear(self, code: FaultCode) -> bool:
        """Mark `code` cleared; True if it was active."""
        if code not in self.active:
            return False
        _LOGGER.info("fault %s cleared", code.name.lower())
        self.active.discard(code)
        return True

    def latched(self) -> list[FaultCode]:
        """The active faults only a new START or run clears, in code order."""
        return sorted(self.active & LATCHED_FAULTS)
