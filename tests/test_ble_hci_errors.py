"""HCI controllers that cannot open: one plain line (permanent or not) without Python names,
checked before bumble where bumble could not survive it."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import ble_helpers  # noqa: F401 (first: skips this module without the BLE stack)
import pytest
from bumble.transport.common import TransportSpecError

from tpdevice.transport.ble_errors import HciOpenError, check_hci_spec, hci_open_error

ECHO_MAC = "F0:7D:00:00:00:01"


class USBErrorOther(Exception):
    """What usb1 raises when libusb cannot work (the real class needs libusb loaded)."""


@pytest.mark.parametrize(
    ("spec", "error", "text", "permanent"),
    [
        ("foo:1", TransportSpecError("unknown transport scheme"),
         "HCI foo:1: unknown HCI transport 'foo' (e.g. usb:0, serial:/dev/ttyACM0 or "
         "tcp-client:HOST:PORT)", True),
        ("usb:0", USBErrorOther("LIBUSB_ERROR_NO_DEVICE [-4]"),
         "HCI usb:0: cannot open the USB Bluetooth controller (libusb: no device); check that "
         "it is plugged in, that this user may use it and that the OS Bluetooth stack let go "
         "of it", False),
        ("android-emulator", ModuleNotFoundError("No module named 'grpc'", name="grpc"),
         "HCI android-emulator: the android-emulator HCI transport needs grpcio: "
         "pip install grpcio", True),
        ("tcp-client:x", ValueError("not enough values to unpack (expected 2, got 1)"),
         "HCI tcp-client:x: malformed HCI spec (e.g. usb:0, serial:/dev/ttyACM0 or "
         "tcp-client:HOST:PORT)", True),
        ("tcp-client:127.0.0.1:1", ConnectionRefusedError(111, "Connect call failed"),
         "HCI tcp-client:127.0.0.1:1: connection refused (is the `tpdevice sim` that printed "
         "this address running?)", False),
        ("serial:/dev/x", OSError(2, "could not open port /dev/x: [Errno 2] No such file"),
         "HCI serial:/dev/x: could not open port /dev/x: no such file", False),
        ("serial:/dev/null", OSError("Could not configure port: (25, 'Inappropriate ioctl')"),
         "HCI serial:/dev/null: could not configure port: inappropriate ioctl", False),
    ],
)  # fmt: skip
def test_hci_failures_are_plain_lines_without_python_names(
    spec: str, error: Exception, text: str, permanent: bool
) -> None:
    failure = hci_open_error(spec, error)
    assert (str(failure), failure.permanent) == (text, permanent)
    assert type(error).__name__ not in str(failure)


def test_an_hci_file_that_cannot_be_polled_is_refused_before_bumble(tmp_path: Any) -> None:
    regular = tmp_path / "hci.bin"
    regular.write_bytes(b"")
    for path in ("/dev/null", str(regular)):
        with pytest.raises(HciOpenError, match=f"{path} is not a device or pipe") as caught:
            check_hci_spec(f"file:{path}")
        assert caught.value.permanent
    with pytest.raises(HciOpenError, match="HCI file:/nonexistent: no such file or directory"):
        check_hci_spec("file:/nonexistent")
    check_hci_spec("tcp-client:127.0.0.1:1")  # only what bumble cannot survive is checked here


def test_probe_on_dev_null_under_uvloop_is_one_line_not_an_abort() -> None:
    pytest.importorskip("uvloop")
    address = f"ble://{ECHO_MAC}?hci=file:/dev/null"
    result = subprocess.run(
        [sys.executable, "-m", "tpdevice", "probe", address],  # the default loop: uvloop
        capture_output=True, text=True, timeout=25, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # not 134 (SIGABRT inside libuv)
    assert result.stderr == (
        f"tpdevice: error: {address}: HCI file:/dev/null: /dev/null is not a device or pipe a "
        "controller answers on (e.g. usb:0, serial:/dev/ttyACM0 or tcp-client:HOST:PORT)\n"
    )
