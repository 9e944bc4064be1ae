"""Errors of the device layer; every message is one line naming the device address."""

from __future__ import annotations

from tpdevice.errors import TpDeviceError
from tpdevice.protocol import ResultCode, msg_type_name

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


class DeviceError(TpDeviceError):
    """Something went wrong talking to one device."""


class DeviceTimeoutError(DeviceError):
    """A request got no response after its retransmissions (or the device went quiet)."""

    def __init__(self, message: str, request_type: int | None = None) -> None:
        super().__init__(message)
        self.request_type = request_type

    @classmethod
    def no_answer(
        cls, address: str, request_type: int, attempts: int, waited_s: float, note: str = ""
    ) -> DeviceTimeoutError:
        """The error for a request unanswered after `attempts` sends; `note` is appended."""
        name = msg_type_name(request_type)
        text = f"{address}: no answer to {name} after {attempts} attempts ({waited_s:.2f} s)"
        return cls(text + note, request_type)


class DeviceRejectedError(DeviceError):
    """The device answered a request with a NACK; `result` says why."""

    def __init__(self, address: str, request_type: int, result: ResultCode) -> None:
        name = msg_type_name(request_type)
        super().__init__(f"{name} refused by {address}: {result.name.lower()}")
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
    """HELLO got no valid CAPABILITIES answer (silence, garbage, a refusal, another version).

    `permanent` is True when retrying cannot help (the device speaks another protocol version).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class RequestAbandonedError(DeviceError):
    """A request whose retransmissions were stopped got no answer (superseded, or a STOP)."""

    def __init__(self, message: str, request_type: int | None = None) -> None:
        super().__init__(message)
        self.request_type = request_type
