"""Errors of the device layer; every message is one line naming the device address."""

from __future__ import annotations

from tpdevice.errors import TpDeviceError
from tpdevice.protocol import MsgType, ResultCode

__all__ = [
    "ConnectionLostError",
    "DeviceConnectionError",
    "DeviceError",
    "DeviceRangeError",
    "DeviceRejectedError",
    "DeviceTimeoutError",
    "DeviceUnsupportedError",
    "HandshakeError",
    "RequestAbandonedError",
]


def type_name(msg_type: int) -> str:
    """MsgType name for a type byte, or its hex value when unknown."""
    try:
        return MsgType(msg_type).name
    except ValueError:
        return f"0x{msg_type:02X}"


class DeviceError(TpDeviceError):
    """Something went wrong talking to one device."""


class DeviceTimeoutError(DeviceError):
    """A request got no response after its retransmissions (or the device went quiet)."""

    def __init__(self, message: str, request_type: int | None = None) -> None:
        super().__init__(message)
        self.request_type = request_type

    @classmethod
    def no_answer(
        cls, address: str, request_type: int, attempts: int, waited_s: float
    ) -> DeviceTimeoutError:
        """The error for a request unanswered after `attempts` sends."""
        name = type_name(request_type)
        text = f"{address}: no answer to {name} after {attempts} attempts ({waited_s:.2f} s)"
        return cls(text, request_type)


class DeviceRejectedError(DeviceError):
    """The device answered a request with a NACK; `result` says why."""

    def __init__(self, address: str, request_type: int, result: ResultCode) -> None:
        super().__init__(f"{type_name(request_type)} refused by {address}: {result.name.lower()}")
        self.address = address
        self.request_type = request_type
        self.result = result


class DeviceRangeError(DeviceError, ValueError):
    """An argument lies outside what the device reported it can do; nothing was sent."""


class DeviceUnsupportedError(DeviceError):
    """The device lacks the feature a call needs (its CAPABILITIES say so); nothing was sent."""


class DeviceConnectionError(DeviceError):
    """The device is not connected, or the link to it failed."""


class ConnectionLostError(DeviceConnectionError):
    """The link dropped while a request was waiting, or the connection was closed."""


class HandshakeError(DeviceConnectionError):
    """HELLO got no valid CAPABILITIES answer (silence, garbage or a refusal)."""


class RequestAbandonedError(DeviceError):
    """A request whose retransmissions were stopped timed out (e.g. a superseded setpoint)."""
