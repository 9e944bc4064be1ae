"""Transport layer: moves bytes between the host and a device; knows no messages.

Names load on first use, so an address parse or a serial link imports nothing of BLE; BLE
modules import bleak and bumble only when a BLE link is opened or a scan runs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULE_OF = {
    "DEFAULT_BAUD": "tpdevice.transport.address",
    "NATIVE_PROFILE": "tpdevice.transport.ble",
    "STANDARD_BAUDS": "tpdevice.transport.address",
    "AddressError": "tpdevice.transport.errors",
    "BleProfileError": "tpdevice.transport.ble_errors",
    "BleTransport": "tpdevice.transport.ble",
    "BleUnavailableError": "tpdevice.transport.ble_errors",
    "DeviceAddress": "tpdevice.transport.address",
    "Driver": "tpdevice.transport.address",
    "DriverSpec": "tpdevice.transport.registry",
    "EchoPeer": "tpdevice.transport.loopback",
    "GattProfile": "tpdevice.transport.ble",
    "LoopbackPeer": "tpdevice.transport.loopback",
    "LoopbackTransport": "tpdevice.transport.loopback",
    "NullModemPeer": "tpdevice.transport.loopback",
    "OnBytes": "tpdevice.transport.base",
    "OnLost": "tpdevice.transport.base",
    "ScanResult": "tpdevice.transport.ble_scan",
    "Scheme": "tpdevice.transport.address",
    "Transport": "tpdevice.transport.base",
    "TransportError": "tpdevice.transport.errors",
    "TransportOpenError": "tpdevice.transport.errors",
    "TransportState": "tpdevice.transport.base",
    "ble_transport_for": "tpdevice.transport.ble",
    "get_driver": "tpdevice.transport.registry",
    "null_modem": "tpdevice.transport.loopback",
    "open_transport": "tpdevice.transport.address",
    "parse_address": "tpdevice.transport.address",
    "register": "tpdevice.transport.registry",
    "registered": "tpdevice.transport.registry",
    "scan": "tpdevice.transport.ble_scan",
}


def __getattr__(name: str) -> Any:
    """Import the module that defines `name` on first use."""
    try:
        module = _MODULE_OF[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
