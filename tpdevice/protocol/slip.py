"""SLIP (RFC 1055) framing for byte streams and an incremental decoder that resynchronises."""

from __future__ import annotations

from dataclasses import dataclass, fields

from tpdevice.protocol.errors import FrameError
from tpdevice.protocol.frame import MAX_FRAME_SIZE, Frame, check_frame

END = b"\xc0"
ESC = b"\xdb"
_ESC_BYTE = ESC[0]
ESC_END = b"\xdb\xdc"
ESC_ESC = b"\xdb\xdd"
# Worst case every byte is escaped; anything longer without an END is not a frame.
MAX_ENCODED_SIZE = 2 * MAX_FRAME_SIZE


def slip_encode(frame: bytes) -> bytes:
    """Escape a raw frame and wrap it in END bytes (the leading END flushes line noise)."""
    return END + frame.replace(ESC, ESC_ESC).replace(END, ESC_END) + END


def slip_unescape(chunk: bytes) -> bytes:
    """Undo SLIP escaping of one chunk between END bytes; FrameError on a bad escape."""
    raw = _unescaped(chunk)
    if raw is None:
        raise FrameError("escape", "ESC not followed by ESC_END or ESC_ESC")
    return raw


def _unescaped(chunk: bytes) -> bytes | None:
    """The chunk with SLIP escapes undone, or None when an ESC is not followed by DC or DD."""
    escapes = chunk.count(ESC)
    if escapes == 0:
        return chunk
    if escapes != chunk.count(ESC_END) + chunk.count(ESC_ESC):
        return None
    # ESC_END first: replacing ESC_ESC first could forge an ESC_END from "ESC ESC_ESC 0xDC".
    return chunk.replace(ESC_END, END).replace(ESC_ESC, ESC)


@dataclass(slots=True)
class DecoderStats:
    """Counts of accepted frames and of each kind of rejection."""

    frames: int = 0
    crc: int = 0
    truncated: int = 0
    oversize: int = 0
    escape: int = 0
    version: int = 0

    @property
    def rejected(self) -> int:
        """All rejected chunks, whatever the kind."""
        return self.crc + self.truncated + self.oversize + self.escape + self.version

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for logs and benchmarks."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class StreamDecoder:
    """Turns arbitrary byte chunks into frames; never raises, counts what it rejects."""

    __slots__ = ("_buffer", "_discarding", "stats")

    def __init__(self) -> None:
        self._buffer = b""
        self._discarding = False
        self.stats = DecoderStats()

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return the complete, valid frames they finish."""
        if END not in data:
            if not self._discarding:
                self._hold(self._buffer + data)
            return []
        chunks = (self._buffer + data).split(END)
        self._buffer = b""
        if self._discarding:
            chunks[0] = b""
            self._discarding = False
        frames = [frame for chunk in chunks[:-1] if chunk and (frame := self._accept(chunk))]
        self._hold(chunks[-1])
        return frames

    def _hold(self, partial: bytes) -> None:
        """Keep an unfinished chunk, or drop it and skip to the next END if it is too long."""
        if len(partial) > MAX_ENCODED_SIZE:
            self.stats.oversize += 1
            self._buffer = b""
            self._discarding = True
        else:
            self._buffer = partial

    def _accept(self, chunk: bytes) -> Frame | None:
        """Unescape and check one chunk; count and drop it when it is not a valid frame."""
        raw = _unescaped(chunk) if _ESC_BYTE in chunk else chunk
        stats = self.stats
        if raw is None:
            stats.escape += 1
            return None
        frame = check_frame(raw)
        if isinstance(frame, str):  # a rejection kind: the counter of that name
            setattr(stats, frame, getattr(stats, frame) + 1)
            return None
        stats.frames += 1
        return frame
