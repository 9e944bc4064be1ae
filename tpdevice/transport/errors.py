"""Errors raised by the transport layer; every message is one line naming the address."""

from tpdevice.errors import TpDeviceError

__all__ = ["AddressError", "TransportError", "TransportOpenError"]


class TransportError(TpDeviceError):
    """A transport failed or was misused; the message names the address and the cause."""


class TransportOpenError(TransportError):
    """A transport could not be opened, e.g. `serial:///dev/ttyX: no such device`."""


class AddressError(TransportError):
    """A device address string is malformed; the message names the address and the fault."""
