"""BLE failures as one-line transport errors: no adapter, wrong GATT profile, connect failures."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from tpdevice.transport.errors import TransportOpenError

if TYPE_CHECKING:
    from tpdevice.transport.ble_bumble_host import HciTarget

__all__ = [
    "SIM_HINT",
    "BleProfileError",
    "BleUnavailableError",
    "HciOpenError",
    "is_no_adapter",
    "missing_package_error",
    "no_adapter_error",
    "open_error",
]

SIM_HINT = (
    "to reach simulated guns use the ble://...?hci=... address printed by "
    "`tpdevice sim --transport ble`"
)
# D-Bus names meaning BlueZ itself is absent.
_NO_BLUEZ = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
)
_NO_BUS_ERRNOS = frozenset({errno.ENOENT, errno.ECONNREFUSED, errno.EACCES})


class HciOpenError(ConnectionError):
    """The bumble HCI could not be opened or did not answer like a controller (one line)."""


class BleUnavailableError(TransportOpenError):
    """No Bluetooth adapter (or no BlueZ) on this machine: retrying cannot help."""

    permanent = True


class BleProfileError(TransportOpenError):
    """The device does not offer the GATT service of the chosen driver."""

    permanent = True


def is_no_adapter(err: BaseException) -> bool:
    """True for the platform backend's ways of saying there is no usable adapter."""
    from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError

    if isinstance(err, BleakBluetoothNotAvailableError):
        return True
    if isinstance(err, BleakDBusError):
        return err.dbus_error in _NO_BLUEZ
    if isinstance(err, OSError):  # the system D-Bus socket is missing or refuses us
        return err.errno in _NO_BUS_ERRNOS
    if isinstance(err, BleakError):
        text = str(err)
        return ("adapter" in text and "not found" in text) or "No Bluetooth adapters" in text
    return False


def no_adapter_error(address: str, err: BaseException) -> BleUnavailableError:
    """The one clear line for a machine without Bluetooth."""
    cause = _cause(err)
    if isinstance(err, OSError):
        cause = f"cannot reach BlueZ on the system D-Bus ({cause.lower()})"
    return BleUnavailableError(f"{address}: no Bluetooth adapter available: {cause}; {SIM_HINT}")


def open_error(
    address: str, err: BaseException, hci: HciTarget | None, timeout_s: float
) -> TransportOpenError:
    """A one-line TransportOpenError for whatever failed while opening a BLE link."""
    if isinstance(err, ImportError):
        return missing_package_error(address, err)
    if isinstance(err, HciOpenError):
        error = TransportOpenError(f"{address}: {err}")
        error.permanent = _bad_spec(err)  # type: ignore[attr-defined]
        return error
    if hci is None and is_no_adapter(err):
        return no_adapter_error(address, err)
    if isinstance(err, TimeoutError):
        return TransportOpenError(f"{address}: connection timed out after {timeout_s:g} s")
    return TransportOpenError(f"{address}: cannot connect: {_cause(err)}")


def missing_package_error(where: str, err: ImportError) -> TransportOpenError:
    """A BLE package is not installed: name it and the extra that brings it."""
    name = err.name or "a BLE package"
    error = TransportOpenError(f'{where}: BLE needs {name}: pip install -e ".[ble-sim]"')
    error.permanent = True  # type: ignore[attr-defined]
    return error


def _bad_spec(err: BaseException) -> bool:
    """True when the HCI spec itself is wrong (bumble's TransportSpecError)."""
    from bumble.transport.common import TransportSpecError

    return isinstance(err.__cause__, TransportSpecError)


def _cause(err: BaseException) -> str:
    """A short, single-line cause text."""
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())
