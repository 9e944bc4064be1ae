"""Scanning for guns on the virtual radio, the `devices scan` command, and classification."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

pytest.importorskip("bumble", reason="BLE tests need bumble (the ble-sim extra)")
pytest.importorskip("bleak_retry_connector", reason="BLE tests need bleak-retry-connector")

from simulator.ble.spec import BleSlot
from simulator.ble.theragun_peripheral import TheragunPeripheral, theragun_identity
from simulator.gun import SimulatorFleet
from simulator.theragun import TheragunFirmware
from tpdevice.cli.app import main
from tpdevice.protocol.gatt import NATIVE_SERVICE_UUID, THERAGUN_SERVICE_UUID
from tpdevice.transport import ScanResult, TransportOpenError, scan
from tpdevice.transport.ble_scan import classify

SCAN_S = 0.3
NO_BUS = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/tpdevice-test-bus"}


@pytest.fixture
async def fleet() -> AsyncIterator[SimulatorFleet]:
    """Two native guns and a Theragun Pro advertising on one radio."""
    async with SimulatorFleet("ble", 2, seed=7) as native:
        assert native.radio is not None
        firmware = TheragunFirmware("Pro")
        theragun = TheragunPeripheral(
            firmware, BleSlot(native.radio, theragun_identity(5, "Pro", firmware))
        )
        await theragun.start()
        try:
            yield native
        finally:
            await theragun.stop()


async def test_scan_finds_native_and_theragun_guns(fleet: SimulatorFleet) -> None:
    assert fleet.radio is not None
    results = await scan(SCAN_S, fleet.radio)
    by_address = {result.address: result for result in results}
    assert set(by_address) == {"F0:7D:00:00:00:01", "F0:7D:00:00:00:02", "F0:7D:00:00:00:06"}
    assert by_address["F0:7D:00:00:00:01"].name == "tpdevice-SIM-0007"
    assert by_address["F0:7D:00:00:00:02"].name == "tpdevice-SIM-0008"
    assert {r.driver for a, r in by_address.items() if a != "F0:7D:00:00:00:06"} == {"native"}
    theragun = by_address["F0:7D:00:00:00:06"]
    assert (theragun.name, theragun.driver) == ("Pro", "theragun")
    assert all(-127 <= r.rssi <= 20 for r in results)
    rssi_order = [(-r.rssi, r.address) for r in results]
    assert rssi_order == sorted(rssi_order)
    assert theragun.hci is None  # an in-process radio has no spec to print


async def test_scan_results_carry_a_usable_address(fleet: SimulatorFleet) -> None:
    assert fleet.radio is not None and fleet.radio.hci_spec is not None
    spec = fleet.radio.hci_spec
    results = {r.address: r for r in await scan(SCAN_S, spec)}
    assert results["F0:7D:00:00:00:01"].url == f"ble://F0:7D:00:00:00:01?hci={spec}"
    assert results["F0:7D:00:00:00:06"].url == (
        f"ble://F0:7D:00:00:00:06?driver=theragun&hci={spec}"
    )
    assert results["F0:7D:00:00:00:06"].as_dict() == {
        "name": "Pro",
        "address": "F0:7D:00:00:00:06",
        "rssi": results["F0:7D:00:00:00:06"].rssi,
        "driver": "theragun",
        "url": f"ble://F0:7D:00:00:00:06?driver=theragun&hci={spec}",
    }


async def test_scan_on_an_hci_that_cannot_open_is_one_line() -> None:
    with pytest.raises(TransportOpenError) as caught:
        await scan(SCAN_S, "tcp-client:127.0.0.1:1")
    assert str(caught.value) == (
        "BLE scan: HCI tcp-client:127.0.0.1:1: connect call failed ('127.0.0.1', 1)"
    )


@pytest.mark.parametrize(
    ("name", "uuids", "driver"),
    [
        ("tpdevice-SIM-0001", [], "native"),
        (None, [NATIVE_SERVICE_UUID.upper()], "native"),
        ("Elite", [], "theragun"),
        ("Prime", [], "theragun"),
        (None, [THERAGUN_SERVICE_UUID], "theragun"),
        ("Pro Max", [], None),
        ("pro", [], None),
        (None, ["0000180f-0000-1000-8000-00805f9b34fb"], None),
        (None, [], None),
    ],
)
def test_classify(name: str | None, uuids: list[str], driver: str | None) -> None:
    assert classify(name, uuids) == driver


def test_url_of_a_platform_result() -> None:
    assert ScanResult("Pro", "AA:BB:CC:DD:EE:FF", -60, "theragun").url == (
        "ble://AA:BB:CC:DD:EE:FF?driver=theragun"
    )
    assert ScanResult(None, "AA:BB:CC:DD:EE:FF", -60, "native").url == "ble://AA:BB:CC:DD:EE:FF"


def run_main(*args: str) -> int:
    """`tpdevice ARGS` in this process (its own event loop); the exit code."""
    try:
        main(list(args))
    except SystemExit as done:
        return int(done.code or 0)
    return 0


@contextlib.contextmanager
def radio_in_a_thread() -> Iterator[str]:
    """One native gun and a Theragun on a radio served by another thread; yields the HCI spec."""
    ready: queue.Queue[str | BaseException] = queue.Queue()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                native = await stack.enter_async_context(SimulatorFleet("ble", 1, seed=7))
                assert native.radio is not None and native.radio.hci_spec is not None
                firmware = TheragunFirmware("Prime")
                slot = BleSlot(native.radio, theragun_identity(5, "Prime", firmware))
                theragun = TheragunPeripheral(firmware, slot)
                await theragun.start()
                stack.push_async_callback(theragun.stop)
                ready.put(native.radio.hci_spec)
                await stop.wait()
        except BaseException as err:
            ready.put(err)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    try:
        spec = ready.get(timeout=10)
        if isinstance(spec, BaseException):
            raise spec
        yield spec
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def test_devices_scan_cli_lists_guns_as_json_and_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with radio_in_a_thread() as spec:
        assert run_main("devices", "scan", "--timeout", "0.3", "--hci", spec, "--json") == 0
        rows = json.loads(capsys.readouterr().out)
        assert {(r["address"], r["driver"], r["name"]) for r in rows} == {
            ("F0:7D:00:00:00:01", "native", "tpdevice-SIM-0007"),
            ("F0:7D:00:00:00:06", "theragun", "Prime"),
        }
        monkeypatch.setenv("TPDEVICE_BLE_HCI", spec)
        monkeypatch.setenv("COLUMNS", "200")
        assert run_main("devices", "scan", "--timeout", "0.3") == 0
        table = capsys.readouterr()
    assert "tpdevice-SIM-0007" in table.out and "theragun" in table.out
    assert f"ble://F0:7D:00:00:00:06?driver=theragun&hci={spec}" in table.out
    assert table.err == f"tpdevice devices scan: listening 0.3 s on HCI {spec}\n"


def test_devices_scan_without_an_adapter_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TPDEVICE_BLE_HCI", raising=False)
    for key, value in NO_BUS.items():
        monkeypatch.setenv(key, value)
    assert run_main("devices", "scan", "--timeout", "0.2") == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == "tpdevice devices scan: listening 0.2 s on the system Bluetooth adapter"
    assert lines[1].startswith("tpdevice: error: BLE scan: no Bluetooth adapter available: ")
    assert lines[1].endswith("printed by `tpdevice sim --transport ble`")
    assert len(lines) == 2 and captured.out == ""


def test_devices_scan_and_list_reject_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main("devices", "scan", "--timeout", "0") == 2
    assert capsys.readouterr().err == (
        "tpdevice: error: --timeout: 0 must be a number of seconds > 0\n"
    )
    assert run_main("devices", "scan", "--hci", " ", "--timeout", "1") == 2
    assert "--hci: empty HCI spec" in capsys.readouterr().err
    assert run_main("devices", "list") == 0
    assert "no devices configured yet" in capsys.readouterr().err
    assert run_main("devices", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
