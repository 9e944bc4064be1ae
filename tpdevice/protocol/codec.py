"""Messages <-> frames <-> SLIP bytes: the three calls both ends of a link use."""

from __future__ import annotations

from tpdevice.protocol.frame import Frame, encode_frame
from tpdevice.protocol.messages import Message, message_class
from tpdevice.protocol.slip import slip_encode


def encode_message(message: Message, seq: int, flags: int = 0) -> bytes:
    """One raw frame (no SLIP) carrying the message."""
    return encode_frame(message.TYPE, seq, flags, message.encode_payload())


def encode_stream(message: Message, seq: int, flags: int = 0) -> bytes:
    """One SLIP-framed frame, ready for a byte stream (serial, tcp)."""
    return slip_encode(encode_message(message, seq, flags))


def decode_message(frame: Frame) -> Message:
    """The message a valid frame carries; MessageError for an unknown type or bad payload."""
    return message_class(frame.msg_type).decode_payload(frame.payload)
