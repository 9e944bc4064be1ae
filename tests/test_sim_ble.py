"""Simulated guns as BLE peripherals on bumble's virtual radio, driven by a raw bumble central."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

pytest.importorskip("bumble", reason="the BLE simulator needs bumble (pip install -e '.[ble-sim]')")

from bumble import att, core, gatt, hci
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.transport import open_transport
from bumble.transport.common import Transport
from cli_helpers import run_main

from tpdevice.device import open_gun
from tpdevice.protocol import (
    Capabilities,
    Fault,
    FaultCode,
    Frame,
    Hello,
    Message,
    MsgType,
    SetOutput,
    Start,
    StreamDecoder,
    decode_message,
    encode_frame,
    encode_stream,
    slip_encode,
)
from tpdevice.protocol import gatt as contract
from tpdevice.protocol.slip import END
from tpdevice_sim.ble import theragun_peripheral as theragun_gatt
from tpdevice_sim.ble.radio import VirtualRadio
from tpdevice_sim.ble.server import advertising_payloads, bumble_uuid
from tpdevice_sim.ble.spec import sim_address
from tpdevice_sim.ble.theragun_peripheral import TheragunFleet
from tpdevice_sim.faults import FaultSpec
from tpdevice_sim.gun import SimulatorFleet

GUN_0 = sim_address(0)
GUN_1 = sim_address(1)
TIMEOUT_S = 3.0
Props = gatt.Characteristic.Properties
QUIET_HELLO = Hello(telemetry_hz=1)


class GunLink:
    """One GATT connection to a native gun: chunked writes, notifications kept and decoded."""

    def __init__(self, connection: Connection, peer: Peer) -> None:
        self.connection = connection
        self.peer = peer
        self.notifications: list[bytes] = []
        self.frames: list[Frame] = []
        self.decoder = StreamDecoder()
        self.lost: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._arrived = asyncio.Event()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)

    @classmethod
    async def open(cls, connection: Connection, mtu: int) -> GunLink:
        link = cls(connection, Peer(connection))
        if mtu != contract.ATT_DEFAULT_MTU:
            await link.peer.request_mtu(mtu)
        await link.peer.discover_services()
        await link.peer.discover_characteristics()
        await link.char(contract.EVENT_CHAR_UUID).subscribe(link._on_notification)
        return link

    def char(self, uuid: str) -> CharacteristicProxy[bytes]:
        (found,) = self.peer.get_characteristics_by_uuid(bumble_uuid(uuid))
        return found

    @property
    def mtu(self) -> int:
        return int(self.connection.att_mtu)

    async def send(self, message: Message, seq: int, *, with_response: bool = False) -> None:
        """One frame, cut into MTU - 3 chunks, one write each."""
        command = self.char(contract.COMMAND_CHAR_UUID)
        for chunk in contract.split_for_att(encode_stream(message, seq), self.mtu):
            await command.write_value(chunk, with_response=with_response)

    async def expect(self, msg_type: MsgType, *, seq: int | None = None) -> Message:
        """The first frame of msg_type (and seq, if given) received so far or next."""
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                for frame in self.frames:
                    if frame.msg_type == msg_type and seq in (None, frame.seq):
                        return decode_message(frame)
                self._arrived.clear()
                await self._arrived.wait()

    async def lost_reason(self) -> int:
        """Wait for the link to drop; the HCI reason code."""
        async with asyncio.timeout(TIMEOUT_S):
            return await self.lost

    def _on_notification(self, value: bytes) -> None:
        self.notifications.append(bytes(value))
        self.frames.extend(self.decoder.feed(bytes(value)))
        self._arrived.set()

    def _on_disconnection(self, reason: int) -> None:
        if not self.lost.done():
            self.lost.set_result(reason)


class Central:
    """A bumble host on one adapter of the radio; no tpdevice code between it and the gun."""

    def __init__(self, transport: Transport, address: str = "F0:7D:00:00:FF:01") -> None:
        self.transport = transport
        self.device = Device.with_hci(
            "central", hci.Address(address), transport.source, transport.sink
        )

    async def start(self) -> Central:
        await self.device.power_on()
        return self

    async def connect(self, address: str, mtu: int = 247, timeout_s: float = TIMEOUT_S) -> GunLink:
        connection = await self.device.connect(hci.Address(address), timeout=timeout_s)
        return await GunLink.open(connection, mtu)

    async def advertisement(self, address: str) -> Advertisement:
        """The next advertisement heard from address."""
        heard: asyncio.Future[Advertisement] = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement: Advertisement) -> None:
            if str(advertisement.address) == address and not heard.done():
                heard.set_result(advertisement)

        self.device.on("advertisement", on_advertisement)
        await self.device.start_scanning(filter_duplicates=False)
        try:
            async with asyncio.timeout(TIMEOUT_S):
                return await heard
        finally:
            self.device.remove_listener("advertisement", on_advertisement)
            await self.device.stop_scanning()

    async def close(self) -> None:
        await self.transport.close()


@pytest.fixture
async def fleet() -> AsyncIterator[SimulatorFleet]:
    async with SimulatorFleet("ble", 2) as started:
        yield started
    assert started.violations == []


@pytest.fixture
async def central(fleet: SimulatorFleet) -> AsyncIterator[Central]:
    radio = fleet.radio
    assert isinstance(radio, VirtualRadio)
    host = await Central(radio.attach_host_controller()).start()
    yield host
    await host.close()


def frame_chunks_ok(notifications: list[bytes], payload_size: int) -> None:
    """Each notification fits MTU - 3 and carries part of exactly one SLIP frame."""
    assert notifications
    for chunk in notifications:
        assert 0 < len(chunk) <= payload_size, len(chunk)
        assert END not in chunk[1:-1], chunk.hex()
    stream = b"".join(notifications)
    assert stream.startswith(END) and stream.endswith(END)


# --- the GATT contract --------------------------------------------------------------------------


async def test_guns_advertise_their_service_and_name(
    fleet: SimulatorFleet, central: Central
) -> None:
    radio = fleet.radio
    assert isinstance(radio, VirtualRadio) and radio.hci_spec is not None
    assert radio.hci_spec.startswith("tcp-client:127.0.0.1:")
    query = f"?hci={radio.hci_spec}"
    assert fleet.addresses == [f"ble://{GUN_0}{query}", f"ble://{GUN_1}{query}"]
    advertisement = await central.advertisement(GUN_1)
    data = advertisement.data
    assert data.get(core.AdvertisingData.COMPLETE_LOCAL_NAME) == "tpdevice-SIM-0001"
    uuids = data.get(core.AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS)
    assert uuids == [bumble_uuid(contract.NATIVE_SERVICE_UUID)]


async def test_services_device_information_and_battery(central: Central) -> None:
    link = await central.connect(GUN_0)
    uuids = {service.uuid for service in link.peer.services}
    for service in (
        contract.NATIVE_SERVICE_UUID,
        contract.DEVICE_INFORMATION_SERVICE_UUID,
        contract.BATTERY_SERVICE_UUID,
    ):
        assert bumble_uuid(service) in uuids
    command = link.char(contract.COMMAND_CHAR_UUID)
    assert command.properties == (Props.WRITE | Props.WRITE_WITHOUT_RESPONSE)
    assert link.char(contract.EVENT_CHAR_UUID).properties == Props.NOTIFY
    expected = {
        contract.MANUFACTURER_NAME_UUID: b"tpdevice simulator",
        contract.MODEL_NUMBER_UUID: b"tp-sim-pro",
        contract.SERIAL_NUMBER_UUID: b"SIM-0000",
        contract.FIRMWARE_REVISION_UUID: b"sim-1.0.0",
        contract.BATTERY_LEVEL_UUID: bytes([100]),
    }
    for uuid, value in expected.items():
        assert await link.char(uuid).read_value() == value


@pytest.mark.parametrize("mtu", [23, 247])
async def test_frames_both_ways_in_mtu_sized_chunks(central: Central, mtu: int) -> None:
    link = await central.connect(GUN_0, mtu=mtu)
    assert link.mtu == mtu
    await link.send(QUIET_HELLO, 1)
    caps = await link.expect(MsgType.CAPABILITIES, seq=1)
    assert isinstance(caps, Capabilities)
    assert (caps.serial, caps.model) == ("SIM-0000", "tp-sim-pro")
    (reply,) = [f for f in link.frames if f.msg_type == MsgType.CAPABILITIES]
    encoded_caps = slip_encode(encode_frame(reply.msg_type, reply.seq, reply.flags, reply.payload))
    if mtu == 23:
        assert len(encoded_caps) > contract.att_payload_size(mtu)
        assert len(link.notifications) > 1
    else:
        assert link.notifications[0] == encoded_caps  # the whole frame in one notification
    frame_chunks_ok(link.notifications, contract.att_payload_size(mtu))


async def test_each_notification_carries_one_frame_when_many_go_at_once(
    central: Central,
) -> None:
    link = await central.connect(GUN_0, mtu=247)
    await link.send(Hello(telemetry_hz=50), 1)
    await link.send(SetOutput(33.0), 2, with_response=True)
    await link.send(Start(), 3, with_response=True)
    await link.expect(MsgType.ACK, seq=3)
    await link.expect(MsgType.TELEMETRY)
    frame_chunks_ok(link.notifications, contract.att_payload_size(247))
    assert len(link.notifications) == len(link.frames)  # 247: every frame fits one


async def test_battery_level_follows_telemetry(fleet: SimulatorFleet, central: Central) -> None:
    fleet.guns[0].physics.battery.battery_pct = 57.4
    link = await central.connect(GUN_0)
    await link.send(Hello(telemetry_hz=50), 1)
    await link.expect(MsgType.TELEMETRY)
    assert await link.char(contract.BATTERY_LEVEL_UUID).read_value() == bytes([57])


# --- refusals -----------------------------------------------------------------------------------


async def test_writes_and_reads_the_properties_deny_are_refused(central: Central) -> None:
    link = await central.connect(GUN_0, mtu=23)
    serial = link.char(contract.SERIAL_NUMBER_UUID)
    with pytest.raises(att.ATT_Error) as refused:
        await serial.write_value(b"HACKED", with_response=True)
    assert refused.value.error_code == att.ErrorCode.WRITE_NOT_PERMITTED
    with pytest.raises(att.ATT_Error) as refused:
        await link.char(contract.EVENT_CHAR_UUID).write_value(b"x", with_response=True)
    assert refused.value.error_code == att.ErrorCode.WRITE_NOT_PERMITTED
    with pytest.raises(att.ATT_Error) as refused:
        await link.char(contract.EVENT_CHAR_UUID).read_value()
    assert refused.value.error_code == att.ErrorCode.READ_NOT_PERMITTED
    await serial.write_value(b"HACKED", with_response=False)  # dropped without an answer
    assert await serial.read_value() == b"SIM-0000"


async def test_a_write_longer_than_the_mtu_allows_is_dropped(central: Central) -> None:
    link = await central.connect(GUN_0, mtu=23)
    await link.send(QUIET_HELLO, 1)
    whole = encode_stream(SetOutput(33.0), 2)
    assert len(whole) > contract.att_payload_size(23)
    await link.char(contract.COMMAND_CHAR_UUID).write_value(whole, with_response=False)
    await link.send(SetOutput(33.0), 3)
    await link.expect(MsgType.ACK, seq=3)
    assert [f.seq for f in link.frames if f.msg_type == MsgType.ACK] == [3]


# --- connections --------------------------------------------------------------------------------


async def test_reconnect_after_disconnect_advertising_restarts(
    fleet: SimulatorFleet, central: Central
) -> None:
    link = await central.connect(GUN_0)
    ble_link = fleet.guns[0].link
    assert getattr(ble_link, "connected", None) is True
    await link.connection.disconnect()
    await link.lost_reason()
    await central.advertisement(GUN_0)  # advertising again at once
    assert getattr(ble_link, "connected", None) is False
    again = await central.connect(GUN_0, mtu=23)
    await again.send(QUIET_HELLO, 9)
    assert isinstance(await again.expect(MsgType.CAPABILITIES, seq=9), Capabilities)


async def test_a_busy_gun_times_out_and_the_adapter_stays_usable(
    fleet: SimulatorFleet, central: Central
) -> None:
    radio = fleet.radio
    assert isinstance(radio, VirtualRadio)
    await central.connect(GUN_0)
    other = await Central(radio.attach_host_controller(), "F0:7D:00:00:FF:02").start()
    try:
        # GUN_0 serves one client, so it is not advertising; the connect attempt is cancelled.
        async with asyncio.timeout(TIMEOUT_S):
            with pytest.raises(core.TimeoutError):
                await other.connect(GUN_0, timeout_s=0.2)
        link = await other.connect(GUN_1)  # bumble's own controller would refuse this one
        await link.send(QUIET_HELLO, 1)
        caps = await link.expect(MsgType.CAPABILITIES, seq=1)
        assert isinstance(caps, Capabilities) and caps.serial == "SIM-0001"
    finally:
        await other.close()


async def test_a_host_reset_drops_its_links(fleet: SimulatorFleet) -> None:
    radio = fleet.radio
    assert isinstance(radio, VirtualRadio)
    transport = radio.attach_host_controller()
    first = await Central(transport).start()
    await first.connect(GUN_0)
    assert getattr(fleet.guns[0].link, "connected", None) is True
    restarted = await Central(transport).start()  # same adapter: power_on sends HCI_Reset
    assert getattr(fleet.guns[0].link, "connected", None) is False
    link = await restarted.connect(GUN_0)
    await link.send(QUIET_HELLO, 1)
    await link.expect(MsgType.CAPABILITIES, seq=1)
    await restarted.close()


async def test_hci_over_tcp_one_adapter_per_client(fleet: SimulatorFleet) -> None:
    radio = fleet.radio
    assert isinstance(radio, VirtualRadio) and radio.hci_spec is not None
    first = await Central(await open_transport(radio.hci_spec)).start()
    second = await Central(await open_transport(radio.hci_spec), "F0:7D:00:00:FF:02").start()
    links = [await first.connect(GUN_0), await second.connect(GUN_1)]
    for seq, link in enumerate(links, start=1):
        await link.send(QUIET_HELLO, seq)
        caps = await link.expect(MsgType.CAPABILITIES, seq=seq)
        assert isinstance(caps, Capabilities) and caps.serial == f"SIM-{seq - 1:04d}"
    await first.close()  # the client process is gone: its gun is free again at once
    third = await Central(await open_transport(radio.hci_spec), "F0:7D:00:00:FF:03").start()
    await third.connect(GUN_0)
    await second.close()
    await third.close()


async def test_two_adapters_asking_for_one_address_stay_apart(fleet: SimulatorFleet) -> None:
    radio = fleet.radio
    assert isinstance(radio, VirtualRadio)
    first = await Central(radio.attach_host_controller()).start()
    second = await Central(radio.attach_host_controller()).start()  # the same address
    links = [await first.connect(GUN_0), await second.connect(GUN_1)]
    for seq, link in enumerate(links, start=1):
        await link.send(QUIET_HELLO, seq)
        caps = await link.expect(MsgType.CAPABILITIES, seq=seq)
        assert isinstance(caps, Capabilities) and caps.serial == f"SIM-{seq - 1:04d}"
        assert len([f for f in link.frames if f.msg_type == MsgType.CAPABILITIES]) == 1
    await first.close()
    await second.close()


async def test_garbage_on_the_hci_port_closes_that_client(fleet: SimulatorFleet) -> None:
    radio = fleet.radio
    assert isinstance(radio, VirtualRadio) and radio.hci_spec is not None
    host, port = radio.hci_spec.removeprefix("tcp-client:").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"\x55" * 8)  # no HCI packet type starts with 0x55
    async with asyncio.timeout(TIMEOUT_S):
        assert await reader.read() == b""
    writer.close()
    central = await Central(await open_transport(radio.hci_spec)).start()
    await central.connect(GUN_0)
    await central.close()


# --- the gun behind it --------------------------------------------------------------------------


async def test_watchdog_stops_the_motor_over_ble(fleet: SimulatorFleet, central: Central) -> None:
    link = await central.connect(GUN_0)
    await link.send(Hello(watchdog_ms=100, telemetry_hz=1), 1)
    await link.send(SetOutput(33.0), 2, with_response=True)
    await link.send(Start(), 3, with_response=True)
    await link.expect(MsgType.ACK, seq=3)
    fault = await link.expect(MsgType.FAULT)  # no heartbeat: the watchdog fires
    assert isinstance(fault, Fault) and fault.code == FaultCode.WATCHDOG
    assert fleet.violations == []  # the monitor saw the motor stop within the watchdog


async def test_injected_disconnects_drop_the_radio_link() -> None:
    async with SimulatorFleet("ble", 1, faults=FaultSpec(disconnect_every_s=0.2)) as faulty:
        radio = faulty.radio
        assert isinstance(radio, VirtualRadio)
        central = await Central(radio.attach_host_controller()).start()
        link = await central.connect(GUN_0)
        assert await link.lost_reason() == hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
        again = await central.connect(GUN_0, mtu=23)
        await again.send(QUIET_HELLO, 1)
        await again.expect(MsgType.CAPABILITIES, seq=1)
        await central.close()


# --- Theragun -----------------------------------------------------------------------------------


def theragun_frame(body: bytes) -> bytes:
    """AA, checksum (low byte of the body's sum), body."""
    return bytes((0xAA, sum(body) & 0xFF)) + body


async def test_theragun_peripheral_speaks_through_ffe0() -> None:
    async with TheragunFleet(1, model="Elite") as theraguns:
        gun = theraguns.guns[0]
        radio = theraguns.radio
        assert isinstance(radio, VirtualRadio)
        central = await Central(radio.attach_host_controller()).start()
        advertisement = await central.advertisement(GUN_0)
        assert advertisement.data.get(core.AdvertisingData.COMPLETE_LOCAL_NAME) == "Elite"
        uuids = advertisement.data.get(
            core.AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS
        )
        assert uuids == [core.UUID.from_16_bits(0xFFE0)]
        connection = await central.device.connect(hci.Address(GUN_0), timeout=TIMEOUT_S)
        peer = Peer(connection)
        await peer.discover_services()
        await peer.discover_characteristics()
        (notify,) = peer.get_characteristics_by_uuid(bumble_uuid(theragun_gatt.NOTIFY_UUID))
        (write,) = peer.get_characteristics_by_uuid(bumble_uuid(theragun_gatt.WRITE_UUID))
        got: asyncio.Queue[bytes] = asyncio.Queue()
        await notify.subscribe(got.put_nowait)
        await write.write_value(theragun_frame(b"\x20\x00"), with_response=True)
        version = await asyncio.wait_for(got.get(), TIMEOUT_S)
        assert (version[0], version[2], len(version)) == (0xBB, 0x20, 20)
        await write.write_value(theragun_frame(bytes([0x01, 0x03, 0x07, 0xD0, 0x03])), True)
        assert gun.firmware.rpm == 2000
        writes = gun.firmware.stats.writes
        await write.write_value(theragun_frame(b"\x01\x03\x00\x00\x03"), with_response=False)
        await write.write_value(theragun_frame(b"\x10\x00"), with_response=True)
        status = await asyncio.wait_for(got.get(), TIMEOUT_S)
        assert status[2] == 0x10 and status[13] << 8 | status[14] == 2000  # the stop was refused
        assert gun.firmware.stats.writes == writes + 1
        await central.close()
    assert theraguns.violations == []


# --- advertising data and the command line ------------------------------------------------------


def test_a_real_controller_gets_31_byte_advertising_with_the_name_in_the_scan_response() -> None:
    name = "tpdevice-SIM-0000"
    virtual, none = advertising_payloads(name, contract.NATIVE_SERVICE_UUID, virtual=True)
    assert none == b"" and name.encode() in virtual
    advertising, scan_response = advertising_payloads(
        name, contract.NATIVE_SERVICE_UUID, virtual=False
    )
    assert len(advertising) <= 31 and len(scan_response) <= 31
    assert name.encode() in scan_response and name.encode() not in advertising
    short, empty = advertising_payloads("Pro", theragun_gatt.SERVICE_UUID, virtual=False)
    assert empty == b"" and b"Pro" in short and len(short) <= 31


def run_sim(
    args: list[str], count: int, client: Callable[[list[str]], Coroutine[Any, Any, None]]
) -> str:
    """`tpdevice sim ARGS` as a process; client runs on its addresses; SIGTERM; its stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tpdevice", "sim", "--transport", "ble", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        addresses = [proc.stdout.readline().strip() for _ in range(count)]
        asyncio.run(client(addresses))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert not any(noise in err for noise in ("Traceback", "Task was destroyed")), err
    return err


def test_sim_over_ble_serves_another_process() -> None:
    err = run_sim(["--count", "2"], 2, _hello_over_tcp_hci)
    assert "2 simulated guns on ble" in err


async def _hello_over_tcp_hci(addresses: list[str]) -> None:
    spec = addresses[0].split("?hci=", 1)[1]
    assert addresses == [f"ble://{GUN_0}?hci={spec}", f"ble://{GUN_1}?hci={spec}"]
    central = await Central(await open_transport(spec)).start()
    link = await central.connect(GUN_1)
    await link.send(QUIET_HELLO, 1)
    caps = await link.expect(MsgType.CAPABILITIES, seq=1)
    assert isinstance(caps, Capabilities) and caps.serial == "SIM-0001"
    await central.close()


def test_sim_serves_a_theragun_model() -> None:
    err = run_sim(["--model", "theragun-prime"], 1, _theragun_advertises)
    assert "1 simulated gun on ble: model theragun-prime" in err


async def _theragun_advertises(addresses: list[str]) -> None:
    (address,) = addresses
    spec = address.split("hci=", 1)[1]
    assert address == f"ble://{GUN_0}?driver=theragun&hci={spec}"
    central = await Central(await open_transport(spec)).start()
    advertisement = await central.advertisement(GUN_0)
    assert advertisement.data.get(core.AdvertisingData.COMPLETE_LOCAL_NAME) == "Prime"
    await central.close()
    # The printed address works as pasted: the theragun driver, the model read from the gun.
    client = await open_gun(address, reconnect=False)
    assert client.capabilities.model == "Theragun Prime"
    await client.close()


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["--hci", "usb:0"], "--hci: a BLE controller needs --transport ble"),
        (["--transport", "ble", "--hci", "usb:0", "--count", "2"], "serves one gun"),
        (["--transport", "ble", "--count", "255"], "--count: at most 254 guns"),
        (["--model", "theragun-pro"], "theragun-pro is reachable over BLE only"),
        (["--transport", "ble", "--model", "theragun-pro", "--faults", "drop=0.1"], "--faults"),
    ],
)
def test_bad_ble_options_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], text: str
) -> None:
    code, _, err = run_main(capsys, "sim", *argv)
    assert code == 2
    assert text in err and err.count("\n") == 1


def test_an_hci_that_cannot_open_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(
        capsys, "sim", "--transport", "ble", "--hci", "bogus:1", "--loop", "asyncio"
    )
    assert code == 1
    assert err.splitlines()[-1] == (
        "tpdevice: error: simulator: HCI bogus:1: unknown HCI transport 'bogus' "
        "(e.g. usb:0, serial:/dev/ttyACM0 or tcp-client:HOST:PORT)"
    )


def test_an_hci_file_that_cannot_be_polled_is_one_line_not_an_abort() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tpdevice", "sim", "--transport", "ble", "--hci", "file:/dev/null"],
        capture_output=True, text=True, timeout=25, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # the default uvloop aborted with 134 here
    assert result.stderr.splitlines()[-1] == (
        "tpdevice: error: simulator: HCI file:/dev/null: /dev/null is not a device or pipe a "
        "controller answers on (e.g. usb:0, serial:/dev/ttyACM0 or tcp-client:HOST:PORT)"
    )


def test_without_bumble_only_ble_is_missing() -> None:
    script = (
        "import sys; sys.modules['bumble'] = None\n"
        "import tpdevice_sim, tpdevice_sim.gun, tpdevice_sim.ble, tpdevice, tpdevice.cli.app\n"
        "from tpdevice_sim.ble import BleUnavailableError\n"
        "from tpdevice_sim.gun import SimulatorFleet\n"
        "SimulatorFleet('serial', 1)\n"
        "try:\n"
        "    SimulatorFleet('ble', 1)\n"
        "except BleUnavailableError as err:\n"
        "    print(err)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "pip install" in result.stdout and "ble-sim" in result.stdout
