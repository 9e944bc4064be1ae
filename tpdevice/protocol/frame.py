"""Native frame layout: header, payload and CRC-16/CCITT-FALSE; no framing bytes, no I/O."""

from __future__ import annotations

import binascii
import enum
import struct
from dataclasses import dataclass

from tpdevice.protocol.errors import FrameError

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBHBH")  # version, type, seq, flags, payload length
HEADER_SIZE = HEADER.size
CRC_SIZE = 2
MIN_FRAME_SIZE = HEADER_SIZE + CRC_SIZE
MAX_PAYLOAD_SIZE = 512
MAX_FRAME_SIZE = MIN_FRAME_SIZE + MAX_PAYLOAD_SIZE
CRC_INIT = 0xFFFF
SEQ_MODULO = 1 << 16


class FrameFlag(enum.IntFlag):
    """Bits of the header's flags byte."""

    NONE = 0
    RESPONSE = 0x01  # answers the request with the same sequence number
    RETRANSMIT = 0x02  # a repeat of an earlier frame with the same sequence number
    FROM_DEVICE = 0x04  # originated by the device (its own sequence space)


@dataclass(slots=True, frozen=True)
class Frame:
    """One decoded frame: header fields and the raw payload."""

    msg_type: int
    seq: int
    flags: int
    payload: bytes
    version: int = PROTOCOL_VERSION


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xor-out)."""
    return binascii.crc_hqx(data, CRC_INIT)


def encode_frame(msg_type: int, seq: int, flags: int, payload: bytes) -> bytes:
    """Header + payload + CRC sent most-significant byte first (so the whole frame's CRC is 0)."""
    if len(payload) > MAX_PAYLOAD_SIZE:
        raise FrameError("oversize", f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_SIZE}")
    body = HEADER.pack(PROTOCOL_VERSION, msg_type, seq % SEQ_MODULO, flags, len(payload)) + payload
    return body + crc16(body).to_bytes(2, "big")


def check_frame(raw: bytes) -> Frame | str:
    """The frame in raw, or the FrameError kind decode_frame would raise for it; never raises.

    The stream decoder asks this: raising and catching per bad chunk costs more than the
    checks themselves on a noisy line.
    """
    size = len(raw)
    if size < MIN_FRAME_SIZE:
        return "truncated"
    version, msg_type, seq, flags, length = HEADER.unpack_from(raw)
    if length > MAX_PAYLOAD_SIZE:
        return "oversize"
    if size != MIN_FRAME_SIZE + length:
        return "truncated"
    if binascii.crc_hqx(raw, CRC_INIT):
        return "crc"
    if version != PROTOCOL_VERSION:
        return "version"
    return Frame(msg_type, seq, flags, raw[HEADER_SIZE:-CRC_SIZE], version)


def _rejection_detail(kind: str, raw: bytes) -> str:
    """Why raw was rejected as `kind`, in words."""
    size = len(raw)
    if kind == "truncated" and size < MIN_FRAME_SIZE:
        return f"frame of {size} bytes, at least {MIN_FRAME_SIZE} needed"
    length = raw[5] | raw[6] << 8
    if kind == "oversize":
        return f"payload length {length} exceeds {MAX_PAYLOAD_SIZE}"
    if kind == "truncated":
        return f"header says {length} payload bytes, frame holds {size - MIN_FRAME_SIZE}"
    if kind == "crc":
        return "CRC mismatch"
    return f"unsupported protocol version {raw[0]}"


def decode_frame(raw: bytes) -> Frame:
    """Check length, version and CRC of one unframed frame and split it; FrameError otherwise."""
    frame = check_frame(raw)
    if isinstance(frame, str):
        raise FrameError(frame, _rejection_detail(frame, raw))
    return frame


def seq_newer(seq: int, than: int) -> bool:
    """True when `seq` follows `than` in 16-bit serial-number arithmetic (RFC 1982)."""
    diff = (seq - than) % SEQ_MODULO
    return 0 < diff < SEQ_MODULO // 2
