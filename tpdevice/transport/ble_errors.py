"""BLE failures as one-line transport errors: no adapter, wrong GATT profile, connect failures."""

from __future__ import annotations

import errno
import os
import re
import selectors
from typing import TYPE_CHECKING

from tpdevice.install import install_command
from tpdevice.transport.errors import TransportOpenError

if TYPE_CHECKING:
    from tpdevice.transport.ble_bumble_host import HciTarget

__all__ = [
    "HCI_EXAMPLES",
    "SIM_HINT",
    "BleProfileError",
    "BleUnavailableError",
    "HciOpenError",
    "check_hci_spec",
    "hci_open_error",
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
HCI_EXAMPLES = "e.g. usb:0, serial:/dev/ttyACM0 or tcp-client:HOST:PORT"
# Python module -> the package that brings it, for bumble's optional transports.
_PACKAGES = {"grpc": "grpcio", "usb1": "libusb1", "usb": "pyusb", "serial": "pyserial"}
_LIBUSB_RE = re.compile(r"LIBUSB_ERROR_([A-Z_]+)")
# Python's renderings of OS errors inside other messages: `[Errno 2] Text`, `(25, 'Text')`.
_ERRNO_RE = re.compile(r"\[Errno \d+\] (\w)|\(\d+, '(\w)([^']*)'\)")


class HciOpenError(ConnectionError):
    """The bumble HCI could not be opened or did not answer like a controller (one line).

    `permanent` is True when retrying cannot help (a wrong spec, a missing package).
    """

    permanent = False


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
    address: str,
    err: BaseException,
    hci: HciTarget | None,
    timeout_s: float,
    attempts: int = 1,
) -> TransportOpenError:
    """A one-line TransportOpenError for whatever failed while opening a BLE link."""
    if isinstance(err, ImportError):
        return missing_package_error(address, err)
    if isinstance(err, HciOpenError):
        error = TransportOpenError(f"{address}: {err}")
        error.permanent = err.permanent  # type: ignore[attr-defined]
        return error
    if hci is None and is_no_adapter(err):
        return no_adapter_error(address, err)
    if isinstance(err, TimeoutError):
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        return TransportOpenError(
            f"{address}: connection timed out after {timeout_s:g} s{tries}; "
            "is the device on, in range and not connected to another app?"
        )
    return TransportOpenError(f"{address}: cannot connect: {_cause(err)}")


def missing_package_error(where: str, err: ImportError) -> TransportOpenError:
    """A BLE package is not installed: name it and the extra that brings it."""
    name = err.name or "a BLE package"
    error = TransportOpenError(f"{where}: BLE needs {name}: {install_command('ble-sim')}")
    error.permanent = True  # type: ignore[attr-defined]
    return error


def check_hci_spec(spec: str) -> None:
    """HciOpenError for a spec no controller can be behind, before bumble opens it.

    A `file:` spec must name a device or pipe that can be waited on: bumble reads it as a
    pipe, and uvloop aborts the whole process on a file that cannot be polled (/dev/null).
    """
    scheme, _, rest = spec.partition(":")
    if not scheme.strip():
        error = HciOpenError(f"HCI {spec!r}: empty HCI transport ({HCI_EXAMPLES})")
        error.permanent = True
        raise error
    if scheme == "file":
        _check_pollable(spec, rest)


def _check_pollable(spec: str, path: str) -> None:
    """The file can be opened and polled, as a controller's pipe or device can."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as err:
        raise hci_open_error(spec, err) from err
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
    except (OSError, ValueError) as err:
        error = HciOpenError(
            f"HCI {spec}: {path} is not a device or pipe a controller answers on ({HCI_EXAMPLES})"
        )
        error.permanent = True
        raise error from err
    finally:
        os.close(fd)


def hci_open_error(spec: str, err: BaseException) -> HciOpenError:
    """One plain line for an HCI bumble could not open: what failed and what to do."""
    from bumble.transport.common import TransportSpecError

    scheme = spec.partition(":")[0]
    permanent = True
    if isinstance(err, ImportError):
        package = _PACKAGES.get(err.name or "", err.name or "a package")
        text = f"the {scheme} HCI transport needs {package}: pip install {package}"
    elif isinstance(err, TransportSpecError):
        text = f"unknown HCI transport {scheme!r} ({HCI_EXAMPLES})"
    elif (match := _LIBUSB_RE.search(str(err))) is not None:
        cause = match.group(1).lower().replace("_", " ")
        text = (
            f"cannot open the USB Bluetooth controller (libusb: {cause}); check that it is "
            "plugged in, that this user may use it and that the OS Bluetooth stack let go of it"
        )
        permanent = False
    elif isinstance(err, ValueError):
        text = f"malformed HCI spec ({HCI_EXAMPLES})"
    else:
        text, permanent = _open_cause(scheme, err), False
    error = HciOpenError(f"HCI {spec}: {text}")
    error.permanent = permanent
    return error


def _open_cause(scheme: str, err: BaseException) -> str:
    """The cause of an OS-level open failure, with a hint for the simulator's TCP HCI."""
    if isinstance(err, ConnectionRefusedError) and scheme == "tcp-client":
        return "connection refused (is the `tpdevice sim` that printed this address running?)"
    return _cause(err).rstrip(".") or "the controller cannot be opened"


def _cause(err: BaseException) -> str:
    """A short, single-line cause text (never a Python type name)."""
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    text = _ERRNO_RE.sub(lambda m: (m.group(1) or m.group(2)).lower() + (m.group(3) or ""), text)
    if text[1:2].islower():
        text = text[:1].lower() + text[1:]
    return " ".join(text.split()) or "no details given"
