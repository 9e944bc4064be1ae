"""Install hints name the extra the way tpdevice was installed: editable checkout or package."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest
from cli_helpers import run_main

from tpdevice.cli import sim_cmd
from tpdevice.cli.sim_cmd import bumble_hint
from tpdevice.install import install_command


def editable(path: Path) -> str:
    return json.dumps({"dir_info": {"editable": True}, "url": path.as_uri()})


def test_an_editable_checkout_run_from_its_folder(tmp_path: Path) -> None:
    assert install_command("ble-sim", editable(tmp_path), tmp_path) == 'pip install -e ".[ble-sim]"'


def test_an_editable_checkout_run_from_elsewhere(tmp_path: Path) -> None:
    checkout = tmp_path / "my tpdevice"
    checkout.mkdir()
    got = install_command("ble-sim", editable(checkout), tmp_path)
    assert got == f'pip install -e "{checkout}[ble-sim]"'


@pytest.mark.parametrize(
    "record",
    [
        "",  # no record: installed from an index by an older pip, or a plain copy
        json.dumps({"url": "https://example.org/tpdevice-0.1.0.whl", "archive_info": {}}),
        json.dumps({"url": "file:///src/tpdevice", "dir_info": {}}),  # pip install . (copied)
        "{not json",
    ],
)
def test_an_installed_package(record: str, tmp_path: Path) -> None:
    assert install_command("ble-sim", record, tmp_path) == 'pip install "tpdevice[ble-sim]"'


def test_the_ble_simulator_hint_carries_the_install_command() -> None:
    assert bumble_hint() == f"BLE simulation needs bumble: {install_command('ble-sim')}"


def test_sim_over_ble_without_bumble_says_what_to_install_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        sim_cmd, "find_spec", lambda name: None if name == "bumble" else find_spec(name)
    )
    code, out, err = run_main(capsys, "sim", "--transport", "ble")
    assert (code, out) == (1, "")
    assert err == f"tpdevice: error: simulator: {bumble_hint()}\n"  # and no "guns on ble" line
