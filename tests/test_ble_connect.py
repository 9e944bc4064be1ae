"""Opening and closing a BleTransport over bumble: cancelled opens, connect retries and timeouts,
late disconnects, the names a device gives, device ids that cannot work with an HCI."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ble_helpers import ignore  # before bleak: skips this module without the BLE stack
from bleak import BleakClient

from tpdevice.cli.bench_ble_echo import BleEchoPeripheral
from tpdevice.device.reconnect import is_permanent
from tpdevice.drivers.theragun import GATT as THERAGUN_PROFILE
from tpdevice.transport import (
    BleTransport,
    TransportOpenError,
    TransportState,
)
from tpdevice.transport import ble_bumble_host as hosts
from tpdevice.transport.ble_bumble import BumbleBleakClient
from tpdevice_sim.ble.radio import VirtualRadio
from tpdevice_sim.ble.spec import BleIdentity, BleSlot
from tpdevice_sim.ble.theragun_peripheral import TheragunPeripheral
from tpdevice_sim.theragun import TheragunFirmware

ECHO_MAC = "F0:7D:00:00:00:01"
GUN_MAC = "F0:7D:00:00:00:03"


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
