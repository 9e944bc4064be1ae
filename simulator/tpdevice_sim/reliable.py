"""Sequence-number bookkeeping: the host-request dedup window and acknowledged device frames."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

from tpdevice.protocol import Frame

__all__ = [
    "MAX_RETRIES",
    "RETRY_INTERVAL_S",
    "STALE_HORIZON",
    "WINDOW_SIZE",
    "DedupWindow",
    "ReliableOutbox",
    "RequestKey",
    "request_key",
    "seq_behind",
]

_LOGGER = logging.getLogger(__name__)

WINDOW_SIZE = 128
# A setpoint or START at most this far behind the newest applied one is stale; further is newer.
STALE_HORIZON = 1024
RETRY_INTERVAL_S = 0.2
MAX_RETRIES = 5
_SEQ_MODULO = 0x1_0000

RequestKey = tuple[int, int, bytes]


def request_key(frame: Frame) -> RequestKey:
    """What identifies a host request: a retransmission differs only in its RETRANSMIT flag."""
    return (frame.seq, frame.msg_type, frame.payload)


def seq_behind(seq: int, newest: int, horizon: int = STALE_HORIZON) -> bool:
    """True when `seq` is 1..horizon behind `newest` (u16, wrapping): a late, stale request."""
    return 0 < (newest - seq) % _SEQ_MODULO <= horizon


class DedupWindow:
    """The responses to the last `size` host requests handled, byte for byte."""

    __slots__ = ("_responses", "size")

    def __init__(self, size: int = WINDOW_SIZE) -> None:
        self.size = size
        self._responses: OrderedDict[RequestKey, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._responses)

    def get(self, frame: Frame) -> bytes | None:
        """The stored response to this request (same seq, type and payload), or None."""
        return self._responses.get(request_key(frame))

    def store(self, frame: Frame, response: bytes) -> None:
        """Remember the response to this request, forgetting the oldest beyond `size`."""
        key = request_key(frame)
        self._responses[key] = response
        self._responses.move_to_end(key)
        while len(self._responses) > self.size:
            self._responses.popitem(last=False)

    def clear(self) -> None:
        """Forget every stored response (a new HELLO)."""
        self._responses.clear()


@dataclass(slots=True)
class _Pending:
    retransmit: bytes
    due_s: float
    retries_left: int


class ReliableOutbox:
    """Device frames awaiting the host's ACK, repeated every 200 ms at most 5 times."""

    __slots__ = ("_next_due_s", "_pending", "interval_s", "max_retries")

    def __init__(
        self, interval_s: float = RETRY_INTERVAL_S, max_retries: int = MAX_RETRIES
    ) -> None:
        self.interval_s = interval_s
        self.max_retries = max_retries
        self._pending: dict[int, _Pending] = {}
        # Asked after every frame: cached, recomputed only after an ACK or a retransmission.
        self._next_due_s: float | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def track(self, seq: int, retransmit: bytes, sent_s: float) -> None:
        """Repeat `retransmit` (the frame with the RETRANSMIT flag) until `seq` is acknowledged."""
        due_s = sent_s + self.interval_s
        replaced = self._pending.get(seq)
        self._pending[seq] = _Pending(retransmit, due_s, self.max_retries)
        if replaced is not None:
            self._next_due_s = self._earliest_due_s()
        elif self._next_due_s is None or due_s < self._next_due_s:
            self._next_due_s = due_s

    def ack(self, seq: int) -> bool:
        """Stop repeating `seq`; False if it was not pending (a duplicate or late ACK)."""
        if self._pending.pop(seq, None) is None:
            return False
        self._next_due_s = self._earliest_due_s()
        return True

    def due(self, now_s: float) -> list[bytes]:
        """The retransmissions due at `now_s`, oldest first; gives up after the last one."""
        frames: list[bytes] = []
        for seq, pending in list(self._pending.items()):
            if now_s < pending.due_s:
                continue
            frames.append(pending.retransmit)
            pending.retries_left -= 1
            pending.due_s += self.interval_s
            if pending.due_s <= now_s:  # a long gap: resume the pace, do not burst
                pending.due_s = now_s + self.interval_s
            if pending.retries_left <= 0:
                _LOGGER.debug("no ACK for device seq %d after %d retries", seq, self.max_retries)
                del self._pending[seq]
        if frames:
            self._next_due_s = self._earliest_due_s()
        return frames

    def next_due_s(self) -> float | None:
        """When the next retransmission is due, or None if nothing is pending."""
        return self._next_due_s

    def _earliest_due_s(self) -> float | None:
        return min((p.due_s for p in self._pending.values()), default=None)
