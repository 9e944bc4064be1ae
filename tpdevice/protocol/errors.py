"""Errors raised by the pure protocol layer."""

from tpdevice.errors import TpDeviceError


class ProtocolError(TpDeviceError):
    """A frame or message that cannot be encoded or decoded."""


class FrameError(ProtocolError):
    """A frame whose header, length, escape or CRC is wrong; `kind` names the rejection."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"bad frame ({kind}): {detail}")
        self.kind = kind


class MessageError(ProtocolError):
    """A payload that does not decode to its message type, or a field out of range."""
