"""BleTransport over the bumble backend on a real virtual radio: chunks, order, loss, errors."""

from __future__ import annotations

import asyncio

import ble_helpers  # noqa: F401 (first: skips this module without the BLE stack)
import pytest
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakError
from fakes import assert_lost

from tpdevice.cli.bench_ble_echo import ECHO_NAME, BleEchoPeripheral
from tpdevice.device.reconnect import is_permanent
from tpdevice.drivers.theragun import GATT as THERAGUN_PROFILE
from tpdevice.protocol.slip import END
from tpdevice.transport import (
    NATIVE_PROFILE,
    AddressError,
    BleProfileError,
    BleTransport,
    BleUnavailableError,
    TransportOpenError,
    TransportState,
    open_transport,
    parse_address,
)
from tpdevice.transport.ble import HCI_ENV
from tpdevice_sim.ble.radio import VirtualRadio

ECHO_MAC = "F0:7D:00:00:00:01"


class Sink:
    """Collects received bytes and loss reports; waits for a byte count."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: list[BaseException | None] = []
        self._changed = asyncio.Event()

    def on_bytes(self, data: bytes) -> None:
        self.data += data
        self._changed.set()

    def on_lost(self, exc: BaseException | None) -> None:
        self.lost.append(exc)
        self._changed.set()

    async def wait_for(self, count: int) -> bytes:
        async with asyncio.timeout(5):
            while len(self.data) < count and not self.lost:
                self._changed.clear()
                await self._changed.wait()
        return bytes(self.data)

    async def wait_lost(self) -> BaseException | None:
        async with asyncio.timeout(5):
            while not self.lost:
                self._changed.clear()
                await self._changed.wait()
        return self.lost[0]


def frame_of(size: int, seed: int = 1) -> bytes:
    """A SLIP-delimited frame of `size` bytes whose body holds no END byte."""
    body = bytes((seed + i * 7) % 0xC0 for i in range(size - 2))
    return END + body + END


def test_ble_addresses_build_ble_transports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HCI_ENV, raising=False)
    native = open_transport(parse_address("ble://aa:bb:cc:dd:ee:ff"))
    assert isinstance(native, BleTransport)
    assert (native.mac, native.name, native.hci, native.mtu) == (
        "AA:BB:CC:DD:EE:FF",
        None,
        None,
        247,
    )
    assert native.profile is NATIVE_PROFILE and native.backend_name == "platform"
    theragun = open_transport(parse_address("ble://name=Pro?driver=theragun&mtu=23&hci=usb:0"))
    assert isinstance(theragun, BleTransport)
    assert (theragun.name, theragun.hci, theragun.mtu) == ("Pro", "usb:0", 23)
    assert theragun.profile is THERAGUN_PROFILE and theragun.profile.write_with_response
    monkeypatch.setenv(HCI_ENV, "tcp-client:127.0.0.1:9")
    from_env = open_transport(parse_address("ble://name=Pro"))
    assert isinstance(from_env, BleTransport) and from_env.hci == "tcp-client:127.0.0.1:9"
    override = open_transport(parse_address("ble://name=Pro?hci=usb:1"))
    assert isinstance(override, BleTransport) and override.hci == "usb:1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ble://name=Pro?mtu=22", "ble://name=Pro?mtu=22: mtu 22 out of range 23..517"),
        ("ble://name=Pro?mtu=518", "ble://name=Pro?mtu=518: mtu 518 out of range 23..517"),
        ("ble://name=Pro?mtu=big", "ble://name=Pro?mtu=big: mtu 'big' is not an integer"),
        ("ble://name=Pro?hci=", "ble://name=Pro?hci=: empty hci (expected e.g. "
         "hci=tcp-client:127.0.0.1:9001 or hci=usb:0)"),
        ("ble://name=Pro?baud=9600", "ble://name=Pro?baud=9600: unknown query key 'baud' for "
         "ble (known: driver, hci, mtu)"),
    ],
)  # fmt: skip
def test_bad_ble_queries_are_named(text: str, message: str) -> None:
    with pytest.raises(AddressError) as caught:
        parse_address(text)
    assert str(caught.value) == message


def test_a_transport_needs_exactly_one_target() -> None:
    with pytest.raises(AddressError, match="give either a BLE MAC or a name"):
        BleTransport("AA:BB:CC:DD:EE:FF", name="Pro")
    with pytest.raises(AddressError, match="give either"):
        BleTransport()
    with pytest.raises(AddressError, match="mtu 600 out of range"):
        BleTransport(name="Pro", mtu=600)


@pytest.mark.parametrize("mtu", [23, 247])
@pytest.mark.parametrize("attach", ["tcp", "in-process"])
async def test_frames_larger_than_a_chunk_cross_byte_exact_both_ways(
    radio: VirtualRadio, echo: BleEchoPeripheral, mtu: int, attach: str
) -> None:
    hci = radio.hci_spec if attach == "tcp" else radio
    transport = BleTransport(ECHO_MAC, hci=hci, mtu=mtu)
    sink = Sink()
    await transport.open(sink.on_bytes, sink.on_lost)
    try:
        assert transport.mtu_size == mtu
        assert transport.chunk_size == mtu - 3
        big = frame_of(2 * (mtu - 3) + 17)
        transport.write(big)
        assert await sink.wait_for(len(big)) == big
        assert echo.write_sizes == [mtu - 3, mtu - 3, 17]
        assert echo.peripheral.mtu == mtu
    finally:
        await transport.close()
    assert sink.lost == []


async def test_each_write_carries_part_of_one_frame_only(
    radio: VirtualRadio, echo: BleEchoPeripheral
) -> None:
    transport = BleTransport(ECHO_MAC, hci=radio, mtu=23)
    sink = Sink()
    await transport.open(sink.on_bytes, sink.on_lost)
    frames = [frame_of(30, seed) for seed in range(5)]
    for frame in frames:
        transport.write(frame)  # queued back to back, written by one task in order
    assert transport.write_buffer_bytes == 150
    assert await sink.wait_for(150) == b"".join(frames)
    assert echo.write_sizes == [20, 10] * 5
    assert transport.write_buffer_bytes == 0
    await transport.close()


async def test_name_lookup_and_missing_names(radio: VirtualRadio, echo: BleEchoPeripheral) -> None:
    transport = BleTransport(name=ECHO_NAME, hci=radio.hci_spec, scan_timeout_s=3)
    await transport.open(Sink().on_bytes, Sink().on_lost)
    assert transport.is_open
    await transport.close()
    missing = BleTransport(name="nobody", hci=radio, scan_timeout_s=0.2)
    with pytest.raises(TransportOpenError) as caught:
        await missing.open(Sink().on_bytes, Sink().on_lost)
    assert str(caught.value) == "ble://name=nobody: no BLE device named 'nobody' seen within 0.2 s"
    assert missing.state is TransportState.CLOSED


async def test_the_device_dropping_the_link_is_a_lost_link(
    radio: VirtualRadio, echo: BleEchoPeripheral
) -> None:
    transport = BleTransport(ECHO_MAC, hci=radio.hci_spec)
    sink = Sink()
    await transport.open(sink.on_bytes, sink.on_lost)
    echo.peripheral.drop_connection()
    lost = await sink.wait_lost()
    assert_lost(transport, lost, f"ble://{ECHO_MAC}: connection lost: the device disconnected")
    await transport.close()
    assert len(sink.lost) == 1
    again = BleTransport(ECHO_MAC, hci=radio.hci_spec)  # the gun advertises again
    await again.open(sink.on_bytes, sink.on_lost)
    await again.close()


async def test_a_failed_gatt_write_is_a_lost_link(
    radio: VirtualRadio, echo: BleEchoPeripheral, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = BleTransport(ECHO_MAC, hci=radio)
    sink = Sink()
    await transport.open(sink.on_bytes, sink.on_lost)

    async def refuse(*args: object, **kwargs: object) -> None:
        raise BleakError("ATT error 0x0E")

    client = transport._client
    assert client is not None
    monkeypatch.setattr(client, "write_gatt_char", refuse)
    transport.write(frame_of(40))
    lost = await sink.wait_lost()
    assert str(lost) == f"ble://{ECHO_MAC}: connection lost: GATT write failed: ATT error 0x0E"
    assert transport.write_buffer_bytes == 0
    await transport.close()


async def test_wrong_profile_is_a_permanent_one_line_error(
    radio: VirtualRadio, echo: BleEchoPeripheral
) -> None:
    transport = BleTransport(ECHO_MAC, hci=radio, profile=THERAGUN_PROFILE)
    with pytest.raises(BleProfileError) as caught:
        await transport.open(Sink().on_bytes, Sink().on_lost)
    assert str(caught.value) == (
        f"ble://{ECHO_MAC}: no theragun GATT service 0000ffe0-0000-1000-8000-00805f9b34fb on "
        "the device (not a Theragun Gen 4; a tpdevice gun needs driver=native)"
    )
    assert is_permanent(caught.value)
    assert transport.state is TransportState.CLOSED


async def test_a_device_not_on_the_air_times_out(radio: VirtualRadio) -> None:
    transport = BleTransport("F0:7D:00:00:00:09", hci=radio, connect_timeout_s=0.3, max_attempts=1)
    with pytest.raises(TransportOpenError) as caught:
        await transport.open(Sink().on_bytes, Sink().on_lost)
    assert str(caught.value) == (
        "ble://F0:7D:00:00:00:09: connection timed out after 0.3 s; "
        "is the device on, in range and not connected to another app?"
    )
    assert not is_permanent(caught.value)


async def test_an_hci_that_cannot_open_is_named() -> None:
    refused = BleTransport(ECHO_MAC, hci="tcp-client:127.0.0.1:1")
    with pytest.raises(TransportOpenError) as caught:
        await refused.open(Sink().on_bytes, Sink().on_lost)
    assert str(caught.value) == (
        f"ble://{ECHO_MAC}: HCI tcp-client:127.0.0.1:1: connection refused "
        "(is the `tpdevice sim` that printed this address running?)"
    )
    assert not is_permanent(caught.value)
    bogus = BleTransport(ECHO_MAC, hci="bogus:1")
    with pytest.raises(TransportOpenError, match=r"HCI bogus:1: unknown HCI transport") as caught:
        await bogus.open(Sink().on_bytes, Sink().on_lost)
    assert is_permanent(caught.value)


@pytest.mark.parametrize(
    "failure",
    [
        BleakBluetoothNotAvailableError(
            "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
        ),
        FileNotFoundError(2, "No such file or directory"),
        BleakError("adapter 'hci0' not found"),
    ],
)
async def test_no_adapter_is_one_clear_permanent_line(
    failure: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bleak

    async def no_adapter(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(bleak.BleakScanner, "find_device_by_address", no_adapter)
    transport = BleTransport("AA:BB:CC:DD:EE:FF")
    with pytest.raises(BleUnavailableError) as caught:
        await transport.open(Sink().on_bytes, Sink().on_lost)
    text = str(caught.value)
    assert text.startswith("ble://AA:BB:CC:DD:EE:FF: no Bluetooth adapter available: ")
    assert text.endswith(
        "; to reach simulated guns use the ble://...?hci=... address printed by "
        "`tpdevice sim --transport ble`"
    )
    assert "\n" not in text
    assert is_permanent(caught.value)


async def test_theragun_profile_writes_with_response_and_hears_notifications(
    radio: VirtualRadio,
) -> None:
    from tpdevice_sim.ble.spec import BleSlot
    from tpdevice_sim.ble.theragun_peripheral import TheragunPeripheral, theragun_identity
    from tpdevice_sim.theragun import TheragunFirmware

    firmware = TheragunFirmware("Elite")
    gun = TheragunPeripheral(firmware, BleSlot(radio, theragun_identity(2, "Elite", firmware)))
    await gun.start()
    transport = BleTransport(name="Elite", hci=radio, profile=THERAGUN_PROFILE)
    sink = Sink()
    try:
        await transport.open(sink.on_bytes, sink.on_lost)
        assert transport.mac is None and transport.is_open
        transport.write(bytes.fromhex("AA202000"))  # version request, written with response
        reply = await sink.wait_for(4)
        assert reply[0] == 0xBB and reply[2] == 0x20  # a gun notification answering it
        assert gun.connected
    finally:
        await transport.close()
        await gun.stop()
    assert sink.lost == []


async def test_missing_bumble_is_a_permanent_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_bumble(self: BleTransport, stack: object) -> None:
        raise ModuleNotFoundError("No module named 'bumble'", name="bumble")

    monkeypatch.setattr(BleTransport, "_hold_hci", no_bumble)
    transport = BleTransport(ECHO_MAC, hci="usb:0")
    with pytest.raises(TransportOpenError) as caught:
        await transport.open(Sink().on_bytes, Sink().on_lost)
    assert str(caught.value) == f'ble://{ECHO_MAC}: BLE needs bumble: pip install -e ".[ble-sim]"'
    assert is_permanent(caught.value)
