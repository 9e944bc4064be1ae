"""Requests in flight: options, counters and the pending record a DeviceConnection keeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, fields

from tpdevice.protocol import Message

__all__ = [
    "RETRANSMIT_HORIZON",
    "ConnectionOptions",
    "ConnectionStats",
    "OnResponse",
    "PendingRequest",
]

# The retransmission horizon: no retransmission once this many newer requests were sent.
# The device remembers 128 requests, so a retransmission is always answered from its window.
RETRANSMIT_HORIZON = 64

OnResponse = Callable[[Message], None]


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    """Timing of requests and of the handshake."""

    request_timeout_s: float = 0.25
    retries: int = 3
    handshake_timeout_s: float = 0.5
    handshake_retries: int = 2


@dataclass(slots=True)
class ConnectionStats:
    """Counters of the request/response machinery."""

    requests: int = 0
    retransmits: int = 0
    timeouts: int = 0
    abandoned: int = 0  # retransmissions stopped (superseded, or past the horizon)
    nacks: int = 0
    late_responses: int = 0  # no request waiting under that seq (duplicate or after timeout)
    mismatched: int = 0  # a response whose type does not fit the request under that seq
    unexpected: int = 0  # neither a response nor device-originated
    events_acked: int = 0
    event_duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class PendingRequest:
    """A request waiting for its response; `future` gets the response message or an error.

    `on_response` (if set) is called with a successful response synchronously, in the
    transport's data callback, before anything received after it is dispatched.
    """

    __slots__ = (
        "abandon_reason",
        "attempts",
        "future",
        "message",
        "on_response",
        "ordinal",
        "retries",
        "sent_at_s",
        "seq",
        "timeout_s",
        "timer",
    )

    def __init__(
        self,
        message: Message,
        seq: int,
        ordinal: int,
        timeout_s: float,
        retries: int,
        future: asyncio.Future[Message],
        on_response: OnResponse | None = None,
    ) -> None:
        self.message = message
        self.seq = seq
        self.ordinal = ordinal  # how many requests the connection had sent, this one included
        self.timeout_s = timeout_s
        self.retries = retries
        self.attempts = 1
        self.abandon_reason: str | None = None
        self.sent_at_s = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.future = future
        self.on_response = on_response

    @property
    def keep_retrying(self) -> bool:
        """False once stop_retransmits() was called."""
        return self.abandon_reason is None

    def stop_retransmits(self, reason: str = "superseded") -> None:
        """Send no more copies; a response may still come, else RequestAbandonedError."""
        if self.abandon_reason is None:
            self.abandon_reason = reason
