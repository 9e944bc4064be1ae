"""The event stream of the control API: Server-Sent Events whose ids resume a broken stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from tpdevice.daemon.control import ControlError, DaemonControl, ErrorCode, EventEnvelope

__all__ = ["format_cursor", "parse_cursor", "session_sse", "sse_stream"]


def parse_cursor(text: str | None) -> dict[str, int]:
    """`gun-1=5,gun-2=9` (an SSE id or `?after=`) as {device: last seen seq}."""
    cursor: dict[str, int] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        device_id, sep, seq = part.strip().rpartition("=")
        if not sep or not device_id or not seq.isdigit():
            raise ControlError(
                ErrorCode.INVALID_FIELD, f"after: {part!r} is not DEVICE=SEQ (e.g. gun-1=5)"
            )
        cursor[device_id] = int(seq)
    return cursor


def format_cursor(cursor: dict[str, int]) -> str:
    """The inverse of parse_cursor, devices in a stable order."""
    return ",".join(f"{device}={seq}" for device, seq in sorted(cursor.items()))


async def sse_stream(control: DaemonControl, after: dict[str, int]) -> AsyncIterator[bytes]:
    """Every event past `after` as SSE messages; each id is the whole cursor after it."""
    cursor = dict(after)
    yield b": tpdevice events\n\n"  # sent at once, so a client knows the stream is open
    async for envelope in control.events(after):
        cursor[envelope.device_id] = envelope.device_seq
        yield _message(envelope, format_cursor(cursor))


async def session_sse(events: AsyncIterator[EventEnvelope]) -> AsyncIterator[bytes]:
    """One session's events as SSE messages; each id is its device's cursor."""
    yield b": tpdevice session events\n\n"
    async for envelope in events:
        yield _message(envelope, format_cursor({envelope.device_id: envelope.device_seq}))


def _message(envelope: EventEnvelope, event_id: str) -> bytes:
    data = json.dumps(envelope.model_dump(mode="json"), separators=(",", ":"))
    kind = str(envelope.event.get("type", "event"))
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n".encode()
