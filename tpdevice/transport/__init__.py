"""Transport layer: moves bytes between the host and a device; knows no messages."""

from tpdevice.transport.address import (
    DEFAULT_BAUD,
    STANDARD_BAUDS,
    DeviceAddress,
    Driver,
    Scheme,
    open_transport,
    parse_address,
)
from tpdevice.transport.base import OnBytes, OnLost, Transport, TransportState
from tpdevice.transport.errors import AddressError, TransportError, TransportOpenError
from tpdevice.transport.loopback import (
    EchoPeer,
    LoopbackPeer,
    LoopbackTransport,
    NullModemPeer,
    null_modem,
)

__all__ = [
    "DEFAULT_BAUD",
    "STANDARD_BAUDS",
    "AddressError",
    "DeviceAddress",
    "Driver",
    "EchoPeer",
    "LoopbackPeer",
    "LoopbackTransport",
    "NullModemPeer",
    "OnBytes",
    "OnLost",
    "Scheme",
    "Transport",
    "TransportError",
    "TransportOpenError",
    "TransportState",
    "null_modem",
    "open_transport",
    "parse_address",
]
