"""Transport layer: moves bytes between the host and a device; knows no messages.

BLE modules import bleak and bumble only when a BLE link is opened or a scan runs."""

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
from tpdevice.transport.ble import (
    NATIVE_PROFILE,
    BleTransport,
    GattProfile,
    ble_transport_for,
)
from tpdevice.transport.ble_errors import BleProfileError, BleUnavailableError
from tpdevice.transport.ble_scan import ScanResult, scan
from tpdevice.transport.errors import AddressError, TransportError, TransportOpenError
from tpdevice.transport.loopback import (
    EchoPeer,
    LoopbackPeer,
    LoopbackTransport,
    NullModemPeer,
    null_modem,
)
from tpdevice.transport.registry import DriverSpec, get_driver, register, registered

__all__ = [
    "DEFAULT_BAUD",
    "NATIVE_PROFILE",
    "STANDARD_BAUDS",
    "AddressError",
    "BleProfileError",
    "BleTransport",
    "BleUnavailableError",
    "DeviceAddress",
    "Driver",
    "DriverSpec",
    "EchoPeer",
    "GattProfile",
    "LoopbackPeer",
    "LoopbackTransport",
    "NullModemPeer",
    "OnBytes",
    "OnLost",
    "ScanResult",
    "Scheme",
    "Transport",
    "TransportError",
    "TransportOpenError",
    "TransportState",
    "ble_transport_for",
    "get_driver",
    "null_modem",
    "open_transport",
    "parse_address",
    "register",
    "registered",
    "scan",
]
