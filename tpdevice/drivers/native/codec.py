"""Native dialect over a byte stream: SLIP bytes <-> frames <-> messages, with counters."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields

from tpdevice.protocol import (
    MESSAGE_TYPES,
    Frame,
    Message,
    MessageError,
    StreamDecoder,
    decode_message,
    encode_stream,
)

__all__ = ["FrameHelper", "FrameHelperStats", "OnMessage"]

_LOGGER = logging.getLogger(__name__)

OnMessage = Callable[[Frame, Message], None]
# SLIP wraps every frame in two END bytes; header (7) + CRC (2) around the payload.
_FRAME_OVERHEAD = 9 + 2
_MAX_UNKNOWN_TYPES = 16


@dataclass(slots=True)
class FrameHelperStats:
    """What arrived: bytes, valid messages, and each kind of rejection."""

    bytes_received: int = 0
    bytes_in_frames: int = 0
    messages: int = 0
    malformed: int = 0  # valid frames (CRC ok) whose message could not be decoded
    unknown_type: int = 0  # of those, frames of a type this side does not know
    frames_sent: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for logs and benchmarks."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class FrameHelper:
    """Turns received chunks into (frame, message) calls and messages into SLIP bytes.

    `data_received` is the transport's on_bytes callback: it decodes in place and calls
    `on_message` synchronously, so a response reaches its waiter without a task switch.
    A malformed message is counted (and logged at DEBUG), never raised.
    """

    __slots__ = ("_decoder", "_on_message", "_write", "address", "stats", "unknown_types")

    def __init__(self, address: str, write: Callable[[bytes], None], on_message: OnMessage) -> None:
        self.address = address
        self._write = write
        self._on_message = on_message
        self._decoder = StreamDecoder()
        self.stats = FrameHelperStats()
        self.unknown_types: set[int] = set()  # type bytes seen that this side does not know

    @property
    def bad_frames(self) -> int:
        """Frames rejected by the decoder (CRC, escape, length, version) or by the codec."""
        return self._decoder.stats.rejected + self.stats.malformed

    @property
    def garbage_bytes(self) -> int:
        """Received bytes that were not part of a valid frame (SLIP escapes make it approximate)."""
        return max(0, self.stats.bytes_received - self.stats.bytes_in_frames)

    def decoder_stats(self) -> dict[str, int]:
        """The stream decoder's counters by name."""
        return self._decoder.stats.as_dict()

    def send(self, message: Message, seq: int, flags: int = 0) -> None:
        """Encode, SLIP-frame and write one message; MessageError if a value does not fit."""
        self._write(encode_stream(message, seq, flags))
        self.stats.frames_sent += 1

    def data_received(self, data: bytes) -> None:
        """Feed received bytes; dispatch every complete, valid message at once."""
        stats = self.stats
        stats.bytes_received += len(data)
        for frame in self._decoder.feed(data):
            stats.bytes_in_frames += len(frame.payload) + _FRAME_OVERHEAD
            try:
                message = decode_message(frame)
            except MessageError as err:
                self._count_malformed(frame, err)
                continue
            stats.messages += 1
            self._on_message(frame, message)

    def describe_received(self) -> str:
        """What arrived, in words (for an error message): garbage, bad frames, other messages."""
        stats = self.stats
        if stats.bytes_received == 0:
            return "nothing received"
        parts: list[str] = []
        if self.garbage_bytes:
            parts.append(f"{self.garbage_bytes} bytes of garbage")
        decoder = self._decoder.stats
        if decoder.rejected:
            kinds = ", ".join(
                f"{k} {v}" for k, v in decoder.as_dict().items() if v and k != "frames"
            )
            parts.append(f"{decoder.rejected} bad frames ({kinds})")
        if stats.unknown_type:
            codes = ", ".join(f"0x{code:02X}" for code in sorted(self.unknown_types))
            parts.append(f"{stats.unknown_type} frames of unknown type ({codes})")
        if undecodable := stats.malformed - stats.unknown_type:
            parts.append(f"{undecodable} frames with an undecodable payload")
        if stats.messages:
            parts.append(f"{stats.messages} other messages")
        return ", ".join(parts) or f"{stats.bytes_received} bytes, no frame"

    def _count_malformed(self, frame: Frame, err: MessageError) -> None:
        """Count a CRC-valid frame that does not decode; per-frame detail goes to DEBUG."""
        self.stats.malformed += 1
        if frame.msg_type not in MESSAGE_TYPES:
            self.stats.unknown_type += 1
            if len(self.unknown_types) < _MAX_UNKNOWN_TYPES:
                self.unknown_types.add(frame.msg_type)
        _LOGGER.debug("%s: dropped a malformed frame (seq %d): %s", self.address, frame.seq, err)
