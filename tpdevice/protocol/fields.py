"""Wire fields described as data: struct code, scale to integer units, Python type."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tpdevice.protocol.errors import MessageError

_LIMITS = {
    "B": (0, 0xFF),
    "H": (0, 0xFFFF),
    "h": (-0x8000, 0x7FFF),
    "I": (0, 0xFFFF_FFFF),
    "Q": (0, 0xFFFF_FFFF_FFFF_FFFF),
}


@dataclass(frozen=True, slots=True)
class WireField:
    """One fixed-size field: `value * scale` is sent as the integer `code` (little-endian)."""

    name: str
    code: str
    scale: int = 1
    kind: type[Any] = int

    @property
    def limits(self) -> tuple[int, int]:
        """Smallest and largest integer the field can carry on the wire."""
        return _LIMITS[self.code]

    def to_wire(self, value: Any) -> int:
        """Value in Python units -> checked integer wire units; MessageError when it cannot fit."""
        number = float(value) * self.scale if self.scale != 1 else value
        if isinstance(number, float):
            if not math.isfinite(number):
                raise MessageError(f"{self.name}={value!r} is not a finite number")
            number = round(number)
        low, high = self.limits
        if not low <= int(number) <= high:
            allowed = f"{low / self.scale:g}..{high / self.scale:g}"
            raise MessageError(f"{self.name}={value!r} is out of range ({allowed})")
        return int(number)

    def unknown_value(self, raw: int) -> str:
        """The error text for an enum value this side does not know."""
        return f"{self.name}={raw} is not a known {self.kind.__name__}"


def converter_for(field: WireField) -> Callable[[int], Any] | None:
    """A fast wire -> Python conversion for decoding, or None when the raw int is the value."""
    if field.scale != 1:
        scale = field.scale
        return lambda raw: raw / scale
    if field.kind is int:
        return None
    if field.kind is bool:
        return bool
    by_value = {member.value: member for member in field.kind}
    return by_value.__getitem__  # KeyError for an unknown value; the caller names the field


def struct_for(fields: tuple[WireField, ...]) -> struct.Struct:
    """The little-endian struct that packs these fields in order."""
    return struct.Struct("<" + "".join(f.code for f in fields))


def encode_text(name: str, text: str) -> bytes:
    """A length-prefixed (u8) UTF-8 string; MessageError past 255 bytes."""
    data = text.encode()
    if len(data) > 0xFF:
        raise MessageError(f"{name} is {len(data)} bytes long; at most 255 fit")
    return bytes((len(data),)) + data


def decode_text(name: str, payload: bytes, offset: int) -> tuple[str, int]:
    """Read one length-prefixed string at offset; return it and the next offset."""
    if offset >= len(payload):
        raise MessageError(f"payload ends before {name}")
    end = offset + 1 + payload[offset]
    if end > len(payload):
        raise MessageError(f"{name} runs past the end of the payload")
    try:
        return payload[offset + 1 : end].decode(), end
    except UnicodeDecodeError:
        raise MessageError(f"{name} is not valid UTF-8") from None
