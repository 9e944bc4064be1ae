"""BleTransport and its bumble backend: cancelled opens, lost writes, queues, retries, HCIs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import ble_helpers  # noqa: F401 (first: skips this module without the BLE stack)
import pytest
from bleak import BleakClient
from bleak.exc import BleakError
from bumble.transport.common import TransportSpecError

from tpdevice.cli.bench_ble_echo import BleEchoPeripheral
from tpdevice.device.reconnect import is_permanent
from tpdevice.drivers.theragun import GATT as THERAGUN_PROFILE
from tpdevice.protocol.slip import END
from tpdevice.transport import (
    BleTransport,
    TransportOpenError,
    TransportState,
)
from tpdevice.transport import ble_bumble_host as hosts
from tpdevice.transport.ble_bumble import BumbleBleakClient
from tpdevice.transport.ble_errors import HciOpenError, check_hci_spec, hci_open_error
from tpdevice_sim.ble.radio import VirtualRadio
from tpdevice_sim.ble.spec import BleIdentity, BleSlot
from tpdevice_sim.ble.theragun_peripheral import TheragunPeripheral
from tpdevice_sim.theragun import TheragunFirmware

ECHO_MAC = "F0:7D:00:00:00:01"
GUN_MAC = "F0:7D:00:00:00:03"


def ignore(*args: object) -> None:
    """An on_bytes / on_lost that keeps nothing."""


async def test_cancelling_open_while_subscribing_releases_the_connection(
    radio: VirtualRadio, echo: BleEchoPeripheral, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribing = asyncio.Event()
    original = BumbleBleakClient.start_notify

    async def slow_cccd_write(self: BumbleBleakClient, *args: Any, **kwargs: Any) -> None:
        subscribing.set()  # on a real radio the CCCD write takes a connection event or two
        await asyncio.sleep(0.5)
        await original(self, *args, **kwargs)

    monkeypatch.setattr(BumbleBleakClient, "start_notify", slow_cccd_write)
    transport = BleTransport(ECHO_MAC, hci=radio.hci_spec)
    opening = asyncio.create_task(transport.open(ignore, ignore))
    await asyncio.wait_for(subscribing.wait(), 5)
    opening.cancel()  # Ctrl-C, or close() during a reconnect
    with pytest.raises(asyncio.CancelledError):
        await opening
    await transport.close()
    assert transport.state is TransportState.CLOSED
    await asyncio.sleep(0.3)
    # The gun must be free to advertise again and the HCI given back.
    assert echo.peripheral.connection is None, "GATT link left connected"
    pool = hosts._POOLS.get(asyncio.get_running_loop())
    assert pool is None or not pool.hosts, "bumble host (HCI) left open"


async def test_flush_is_false_when_the_queued_frame_was_never_written(
    radio: VirtualRadio, echo: BleEchoPeripheral, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = BleTransport(ECHO_MAC, hci=radio)
    await transport.open(ignore, ignore)
    try:
        assert await transport.flush(1.0) is True  # nothing queued, nothing lost
        client = transport._client
        assert client is not None

        async def refuse(*args: object, **kwargs: object) -> None:
            await asyncio.sleep(0.01)
            raise BleakError("ATT error 0x0E")

        monkeypatch.setattr(client, "write_gatt_char", refuse)
        transport.write(END + b"stop" + END)  # e.g. TheragunClient.stop()'s speed-0 frame
        # flush() promises "every queued chunk was written"; this one was dropped.
        assert await transport.flush(1.0) is False
    finally:
        await transport.close()


async def test_a_slotted_write_replaces_the_one_of_its_slot_still_waiting(
    radio: VirtualRadio, echo: BleEchoPeripheral, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = BleTransport(ECHO_MAC, hci=radio)
    await transport.open(ignore, ignore)
    written: list[bytes] = []
    try:
        client = transport._client
        assert client is not None
        original = client.write_gatt_char

        async def slow_write(char: Any, data: bytes, response: bool) -> None:
            await asyncio.sleep(0.05)  # a write with response: one connection event or more
            written.append(bytes(data))
            await original(char, data, response=response)

        monkeypatch.setattr(client, "write_gatt_char", slow_write)
        speeds = [END + bytes([0x41 + i]) * 3 + END for i in range(20)]  # keep-alives...
        status, plain = END + b"?" + END, END + b"v" + END
        transport.write(speeds[0], slot="speed")  # in flight: never replaced
        transport.write(status, slot="status")
        transport.write(plain)  # no slot: always kept
        for speed in speeds[1:]:
            transport.write(speed, slot="speed")
            assert transport.write_buffer_bytes <= 2 * len(speed) + len(status) + len(plain)
        assert await transport.flush(2.0) is True
        # ...never queue up ahead of the last one, and other slots keep their place.
        assert written == [speeds[0], status, plain, speeds[-1]]
    finally:
        await transport.close()


async def test_a_timed_out_connect_attempt_is_retried_within_its_own_bound(
    radio: VirtualRadio, echo: BleEchoPeripheral, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []
    original = BumbleBleakClient.connect

    async def first_hangs(self: BumbleBleakClient, *args: Any, **kwargs: Any) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            await asyncio.Event().wait()  # e.g. the gun missed the connect request
        await original(self, *args, **kwargs)

    monkeypatch.setattr(BumbleBleakClient, "connect", first_hangs)
    transport = BleTransport(ECHO_MAC, hci=radio, connect_timeout_s=0.5, max_attempts=2)
    await transport.open(ignore, ignore)
    try:
        assert attempts == [1, 2] and transport.is_open
    finally:
        await transport.close()


async def test_every_attempt_timing_out_names_the_attempts(radio: VirtualRadio) -> None:
    transport = BleTransport("F0:7D:00:00:00:09", hci=radio, connect_timeout_s=0.2)
    with pytest.raises(TransportOpenError) as caught:
        await transport.open(ignore, ignore)
    assert str(caught.value) == (
        "ble://F0:7D:00:00:00:09: connection timed out after 0.2 s (2 attempts); "
        "is the device on, in range and not connected to another app?"
    )


async def test_a_late_disconnect_of_an_earlier_link_leaves_the_new_one_alone(
    radio: VirtualRadio, echo: BleEchoPeripheral
) -> None:
    from bleak.backends.device import BLEDevice

    from tpdevice.transport.ble_bumble import BumbleDeviceDetails, ble_address

    dropped: list[BleakClient] = []
    details = BumbleDeviceDetails(radio, ble_address(ECHO_MAC))
    device = BLEDevice(ECHO_MAC, None, details)
    client = BleakClient(device, dropped.append, backend=BumbleBleakClient, hci=radio)
    await client.connect()
    backend = client._backend
    assert isinstance(backend, BumbleBleakClient)
    earlier = backend._connection
    assert earlier is not None
    await client.disconnect()
    await client.connect()
    try:
        earlier.emit(earlier.EVENT_DISCONNECTION, 0x08)  # the first link's end, reported late
        assert client.is_connected and dropped == []
    finally:
        await client.disconnect()


async def test_the_names_a_device_gives_are_read_when_not_scanned(radio: VirtualRadio) -> None:
    firmware = TheragunFirmware("Elite")
    identity = BleIdentity(2, "TG4-0042", "Theragun Elite", "S", "1.4", "Therabody")
    gun = TheragunPeripheral(firmware, BleSlot(radio, identity))
    await gun.start()
    try:
        by_mac = BleTransport(GUN_MAC, hci=radio, profile=THERAGUN_PROFILE)
        await by_mac.open(ignore, ignore)
        assert await by_mac.read_peer_names() == ["TG4-0042", "Theragun Elite"]  # GAP, DIS
        await by_mac.close()
        assert await by_mac.read_peer_names() == []  # closed: nothing to read
        by_name = BleTransport(name="TG4-0042", hci=radio, profile=THERAGUN_PROFILE)
        await by_name.open(ignore, ignore)
        assert await by_name.read_peer_names() == ["TG4-0042", "Theragun Elite"]
        await by_name.close()
    finally:
        await gun.stop()


async def test_a_macos_device_id_with_an_hci_is_one_permanent_line(radio: VirtualRadio) -> None:
    uuid = "12345678-1234-1234-1234-123456789ABC"
    transport = BleTransport(uuid, hci=radio, address=f"ble://{uuid}?hci=x")
    with pytest.raises(TransportOpenError) as caught:
        await transport.open(ignore, ignore)
    assert str(caught.value) == (
        f"ble://{uuid}?hci=x: {uuid} is a macOS device id; with hci= give the device's MAC "
        "address (AA:BB:CC:DD:EE:FF, as `tpdevice devices scan --hci` shows it)"
    )
    assert is_permanent(caught.value)


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
