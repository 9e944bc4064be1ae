"""Native dialect over a byte stream: SLIP bytes <-> frames <-> messages, with counters."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields

from tpdevice.protocol import (
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


@dataclass(slots=True)
class FrameHelperStats:
    """What arrived: bytes, valid messages, and each kind of rejection."""

    bytes_received: int = 0
    bytes_in_frames: int = 0
    messages: int = 0
    malformed: int = 0
    frames_sent: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for logs and benchmarks."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class FrameHelper:
    """Turns received chunks into (frame, message) calls and messages into SLIP bytes.

    `data_received` is the transport's on_bytes callback: it decodes in place and calls
    `on_message` synchronously, so a response reaches its waiter without a task switch.
    A malformed message is logged and counted, never raised.
    """

    __slots__ = ("_decoder", "_on_message", "_write", "address", "stats")

    def __init__(self, address: str, write: Callable[[bytes], None], on_message: OnMessage) -> None:
        self.address = address
        self._write = write
        self._on_message = on_message
        self._decoder = StreamDecoder()
        self.stats = FrameHelperStats()

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
                stats.malformed += 1
                _LOGGER.warning(
                    "%s: dropped a malformed frame (seq %d): %s", self.address, frame.seq, err
                )
                continue
            stats.messages += 1
            self._on_message(frame, message)
