"""Scanning for guns on the virtual radio, the `devices scan` command, and classification."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

import pytest
from ble_helpers import hide_adapters, served_from_a_thread
from cli_helpers import run_main
from rich.console import Console

from tpdevice.cli.devices_cmd import render_table
from tpdevice.drivers.theragun import SERVICE_UUID as THERAGUN_SERVICE_UUID
from tpdevice.protocol.gatt import NATIVE_SERVICE_UUID
from tpdevice.transport import ScanResult, TransportOpenError, scan
from tpdevice.transport.ble_scan import classify
from tpdevice_sim.ble.radio import VirtualRadio
from tpdevice_sim.ble.spec import BleSlot
from tpdevice_sim.ble.theragun_peripheral import TheragunPeripheral, theragun_identity
from tpdevice_sim.gun import SimulatorFleet
from tpdevice_sim.theragun import TheragunFirmware

SCAN_S = 0.3


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
    assert isinstance(fleet.radio, VirtualRadio)
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
    assert isinstance(fleet.radio, VirtualRadio) and fleet.radio.hci_spec is not None
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
        "BLE scan: HCI tcp-client:127.0.0.1:1: connection refused "
        "(is the `tpdevice sim` that printed this address running?)"
    )


@pytest.mark.parametrize(
    ("name", "uuids", "driver"),
    [
        ("tpdevice-SIM-0001", [], "native"),
        (None, [NATIVE_SERVICE_UUID.upper()], "native"),
        ("Elite", [], "theragun"),
        ("Prime", [THERAGUN_SERVICE_UUID], "theragun"),
        ("Theragun PRO", [THERAGUN_SERVICE_UUID], "theragun"),
        ("pro", [], "theragun"),
        # 0xFFE0 alone is an HM-10 / CC254x serial module as often as a Theragun.
        (None, [THERAGUN_SERVICE_UUID], None),
        ("HMSoft", [THERAGUN_SERVICE_UUID], None),
        ("BT05", [THERAGUN_SERVICE_UUID.upper()], None),
        ("Pro Max", [], None),
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


def test_the_table_prints_each_address_whole_on_one_line() -> None:
    spec = "tcp-client:127.0.0.1:45678"
    results = [
        ScanResult("Pro", "F0:7D:00:00:00:06", -40, "theragun", spec),
        ScanResult(None, "F0:7D:00:00:00:01", -50, "native", spec),
    ]
    console = Console(width=60, record=True, highlight=False)
    render_table(results, 1.0, console)
    lines = console.export_text().splitlines()
    # Wider than the terminal, still one line each, so it can be copied (no wrap, no cut).
    assert f"  Pro  ble://F0:7D:00:00:00:06?driver=theragun&hci={spec}" in lines
    assert f"  ?    ble://F0:7D:00:00:00:01?hci={spec}" in lines


def radio_in_a_thread() -> contextlib.AbstractContextManager[str]:
    """One native gun and a Theragun on a radio served by another thread; yields the HCI spec."""

    async def serve(ready: Callable[[str], None], stop: asyncio.Event) -> None:
        async with contextlib.AsyncExitStack() as stack:
            native = await stack.enter_async_context(SimulatorFleet("ble", 1, seed=7))
            assert isinstance(native.radio, VirtualRadio) and native.radio.hci_spec is not None
            firmware = TheragunFirmware("Prime")
            slot = BleSlot(native.radio, theragun_identity(5, "Prime", firmware))
            theragun = TheragunPeripheral(firmware, slot)
            await theragun.start()
            stack.push_async_callback(theragun.stop)
            ready(native.radio.hci_spec)
            await stop.wait()

    return served_from_a_thread(serve)


def test_devices_scan_cli_lists_guns_as_json_and_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with radio_in_a_thread() as spec:
        code, out, _ = run_main(
            capsys, "devices", "scan", "--timeout", "0.3", "--hci", spec, "--json"
        )
        assert code == 0
        rows = json.loads(out)
        assert {(r["address"], r["driver"], r["name"]) for r in rows} == {
            ("F0:7D:00:00:00:01", "native", "tpdevice-SIM-0007"),
            ("F0:7D:00:00:00:06", "theragun", "Prime"),
        }
        monkeypatch.setenv("TPDEVICE_BLE_HCI", spec)
        monkeypatch.setenv("COLUMNS", "200")
        code, table, err = run_main(capsys, "devices", "scan", "--timeout", "0.3")
    assert code == 0
    assert "tpdevice-SIM-0007" in table and "theragun" in table
    assert f"ble://F0:7D:00:00:00:06?driver=theragun&hci={spec}" in table
    assert err == f"tpdevice devices scan: listening 0.3 s on HCI {spec}\n"


def test_devices_scan_without_an_adapter_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_adapters(monkeypatch)
    code, out, err = run_main(capsys, "devices", "scan", "--timeout", "0.2")
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == "tpdevice devices scan: listening 0.2 s on the system Bluetooth adapter"
    assert lines[1].startswith("tpdevice: error: BLE scan: no Bluetooth adapter available: ")
    assert lines[1].endswith("printed by `tpdevice sim --transport ble`")
    assert len(lines) == 2 and out == ""


def test_devices_scan_and_list_reject_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "devices", "scan", "--timeout", "0")
    assert (code, err) == (2, "tpdevice: error: --timeout: 0 must be a number of seconds > 0\n")
    code, _, err = run_main(capsys, "devices", "scan", "--hci", " ", "--timeout", "1")
    assert code == 2 and "--hci: empty HCI spec" in err
    code, _, err = run_main(capsys, "devices", "list", "--socket", "/nonexistent/api.sock")
    assert code == 3 and "no daemon is running at /nonexistent/api.sock" in err
