"""Link fault injection as data: drop, corrupt, duplicate, delay with jitter, disconnects."""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, fields

__all__ = ["FAULT_KEYS", "FaultInjector", "FaultSpec", "FaultSpecError", "parse_fault_spec"]

_LOGGER = logging.getLogger(__name__)

_PROBABILITY = "0..1"
_NON_NEGATIVE = ">= 0"
_POSITIVE = "> 0"
_RANGES: dict[str, str] = {
    "drop": _PROBABILITY,
    "corrupt": _PROBABILITY,
    "dup": _PROBABILITY,
    "delay_ms": _NON_NEGATIVE,
    "jitter_ms": _NON_NEGATIVE,
    "disconnect_every_s": _POSITIVE,
}
FAULT_KEYS: tuple[str, ...] = tuple(_RANGES)


class FaultSpecError(ValueError):
    """A fault spec that cannot be used; the message is one line naming the bad item."""


def _in_range(value: float, allowed: str) -> bool:
    """True if value lies in the allowed range named by one of the range labels."""
    if not math.isfinite(value):
        return False
    if allowed == _PROBABILITY:
        return 0.0 <= value <= 1.0
    if allowed == _NON_NEGATIVE:
        return value >= 0.0
    return value > 0.0


@dataclass(frozen=True)
class FaultSpec:
    """Faults applied to each frame on a link; all zero (the default) means a perfect link."""

    drop: float = 0.0
    corrupt: float = 0.0
    dup: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    disconnect_every_s: float | None = None

    def __post_init__(self) -> None:
        """Raise FaultSpecError for a value outside its range."""
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and not _in_range(value, _RANGES[item.name]):
                raise FaultSpecError(
                    f"fault spec: {item.name}={value} is out of range ({_RANGES[item.name]})"
                )

    @property
    def active(self) -> bool:
        """True if any fault is configured."""
        return self != FaultSpec()

    def __str__(self) -> str:
        """The spec in parse_fault_spec syntax, non-default items only ('' for none)."""
        default = FaultSpec()
        items = [
            f"{f.name}={getattr(self, f.name):g}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return ",".join(items)


def _parse_item(item: str, seen: dict[str, float], source: str) -> None:
    """Parse one key=value item into seen, raising FaultSpecError with a one-line reason."""
    if "=" not in item:
        raise FaultSpecError(f"{source}: '{item}' is missing '=' (expected key=value)")
    key, raw = (part.strip() for part in item.split("=", 1))
    if key not in _RANGES:
        raise FaultSpecError(f"{source}: unknown key '{key}' (known: {', '.join(FAULT_KEYS)})")
    if key in seen:
        raise FaultSpecError(f"{source}: {key} is given twice")
    allowed = _RANGES[key]
    try:
        value = float(raw)
    except ValueError:
        raise FaultSpecError(f"{source}: {key}={raw} is not a number ({allowed})") from None
    if not _in_range(value, allowed):
        raise FaultSpecError(f"{source}: {key}={raw} is out of range ({allowed})")
    seen[key] = value


def parse_fault_spec(text: str, *, source: str = "--faults") -> FaultSpec:
    """Parse 'drop=0.05,delay_ms=5,...'; '' means no faults. Errors name source and item."""
    seen: dict[str, float] = {}
    for item in text.split(","):
        if item.strip():
            _parse_item(item.strip(), seen, source)
    return FaultSpec(**seen)


class FaultInjector:
    """Applies a FaultSpec to the frames of ONE direction of a link, keeping their order."""

    def __init__(self, spec: FaultSpec, rng: random.Random) -> None:
        """Every random decision is drawn from rng, so a seed reproduces a run."""
        self.spec = spec
        self.counts: dict[str, int] = dict.fromkeys(
            ("frames", "drop", "corrupt", "dup", "disconnect"), 0
        )
        self._rng = rng
        self._active = spec.active
        self._last_due_s = -math.inf
        self._next_disconnect_s: float | None = None

    def deliveries(self, frame: bytes, now_s: float) -> list[tuple[float, bytes]]:
        """What becomes of frame sent at now_s: (delay_s after now_s, bytes) per delivery, FIFO."""
        self.counts["frames"] += 1
        spec = self.spec
        if not self._active:
            return [(0.0, frame)]
        if self._chance(spec.drop):
            self.counts["drop"] += 1
            return []
        if frame and self._chance(spec.corrupt):
            self.counts["corrupt"] += 1
            frame = self._corrupted(frame)
        copies = 1
        if self._chance(spec.dup):
            self.counts["dup"] += 1
            copies = 2
        return [(self._schedule(now_s), frame) for _ in range(copies)]

    def disconnect_due(self, now_s: float) -> bool:
        """True once per disconnect_every_s period (the first period starts at the first call)."""
        every_s = self.spec.disconnect_every_s
        if every_s is None:
            return False
        if self._next_disconnect_s is None:
            self._next_disconnect_s = now_s + every_s
            return False
        if now_s < self._next_disconnect_s:
            return False
        # After a long gap fire once, not once per missed period.
        missed = math.floor((now_s - self._next_disconnect_s) / every_s) + 1
        self._next_disconnect_s += missed * every_s
        self.counts["disconnect"] += 1
        _LOGGER.debug("fault: disconnect due at %.3f s", now_s)
        return True

    def _chance(self, probability: float) -> bool:
        """True with the given probability; draws nothing when it is 0."""
        return probability > 0.0 and self._rng.random() < probability

    def _corrupted(self, frame: bytes) -> bytes:
        """A copy of frame with one random byte XORed with a nonzero mask."""
        index = self._rng.randrange(len(frame))
        data = bytearray(frame)
        data[index] ^= self._rng.randrange(1, 256)
        return bytes(data)

    def _schedule(self, now_s: float) -> float:
        """Delay for the next delivery: delay ± jitter, never negative, never before the last."""
        jitter_ms = self.spec.jitter_ms
        delay_ms = self.spec.delay_ms
        if jitter_ms > 0.0:
            delay_ms += self._rng.uniform(-jitter_ms, jitter_ms)
        due_s = max(now_s + max(0.0, delay_ms) / 1000.0, self._last_due_s)
        self._last_due_s = due_s
        return due_s - now_s
