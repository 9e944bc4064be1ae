"""The parrot gun's frames: b"E" + speed in centi-hertz (u16 big endian)."""

from __future__ import annotations

import struct

FRAME = struct.Struct(">cH")
MAGIC = b"E"


def encode_speed(freq_hz: float) -> bytes:
    """One speed frame."""
    return FRAME.pack(MAGIC, round(freq_hz * 100))


def decode_speeds(data: bytes) -> list[float]:
    """The speeds of the whole frames in `data` (the parrot sends them back one per write)."""
    size = FRAME.size
    frames = (FRAME.unpack_from(data, i) for i in range(0, len(data) - size + 1, size))
    return [centi_hz / 100 for magic, centi_hz in frames if magic == MAGIC]
