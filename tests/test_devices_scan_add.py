"""`tpdevice devices scan --add`: guns heard on the virtual radio land in the daemon's config."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cli_helpers import run_main

from tpdevice.cli.devices_edit import id_from_name
from tpdevice_sim.ble.radio import VirtualRadio
from tpdevice_sim.gun import SimulatorFleet


@contextlib.contextmanager
def two_guns_on_a_radio() -> Iterator[str]:
    """Two native BLE guns advertising on a radio served from a thread; its HCI spec."""
    ready: queue.Queue[str | BaseException] = queue.Queue()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with SimulatorFleet("ble", 2, seed=7) as fleet:
                assert isinstance(fleet.radio, VirtualRadio) and fleet.radio.hci_spec is not None
                ready.put(fleet.radio.hci_spec)
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


def test_scan_add_writes_each_gun_heard_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TPDEVICE_SOCKET", str(tmp_path / "nobody.sock"))
    config = tmp_path / "clinic.yaml"
    config.write_text("devices:\n  - id: gun-1   # kept\n    address: sim?id=1\n")
    scan = ("devices", "scan", "--timeout", "0.3", "--config", str(config), "--json")
    with two_guns_on_a_radio() as spec:
        code, _, err = run_main(capsys, *scan, "--hci", spec, "--add", "--id", "mine")
        assert code == 2 and "--id: 2 guns heard" in err
        code, out, err = run_main(capsys, *scan, "--hci", spec, "--add")
        assert code == 0, err
        assert out.count("the daemon is not running") == 2
        code, out, _ = run_main(capsys, *scan, "--hci", spec, "--add")
        assert code == 0 and out.count("is already configured") == 2
    devices = yaml.safe_load(config.read_text())["devices"]
    assert [d["id"] for d in devices] == ["gun-1", "tpdevice-sim-0007", "tpdevice-sim-0008"]
    assert devices[1]["address"] == f"ble://F0:7D:00:00:00:01?hci={spec}"
    assert devices[1]["name"] == "tpdevice-SIM-0007"
    assert "# kept" in config.read_text()


def test_ids_from_advertised_names() -> None:
    assert id_from_name("Theragun PRO (2)", set()) == "theragun-pro-2"
    assert id_from_name(None, {"gun"}) == "gun-2"
    assert id_from_name("x" * 40, {"x" * 32}) == "x" * 30 + "-2"
