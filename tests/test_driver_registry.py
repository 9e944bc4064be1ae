"""Drivers are plug-ins: one package each, one spec, nothing outside the package names them."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import run_main
from repo_paths import ROOT

from tpdevice.device import ConnectionState, open_gun
from tpdevice.transport import AddressError, parse_address
from tpdevice.transport.registry import (
    DriverSpec,
    driver_for_advertisement,
    driver_names,
    get_driver,
    register,
    registered,
    unregister,
)

PARROT_PACKAGE = ROOT / "tests" / "parrot_driver"


@pytest.fixture(autouse=True, scope="module")
def parrot() -> Iterator[DriverSpec]:
    """The third driver, registered (by importing its package) for this module only."""
    module = importlib.import_module("parrot_driver")
    register(module.SPEC)
    yield module.SPEC
    unregister("parrot")


def _driver_packages() -> dict[str, Path]:
    """Every registered driver -> the folder of its package."""
    packages = {"parrot": PARROT_PACKAGE}
    for spec in registered():
        if spec.name != "parrot":
            packages[spec.name] = ROOT / "tpdevice" / "drivers" / spec.name
    return packages


def test_the_drivers_are_found_in_their_packages() -> None:
    assert driver_names()[0] == "native"
    assert {"native", "theragun", "parrot"} <= set(driver_names())
    for name, folder in _driver_packages().items():
        assert (folder / "__init__.py").is_file(), name
        for factory in (get_driver(name).client_factory, get_driver(name).simulator_factory):
            module = importlib.import_module(str(factory).partition(":")[0])
            assert Path(str(module.__file__)).parent == folder, name


@pytest.mark.parametrize("name", ["theragun", "parrot"])
def test_no_module_outside_a_drivers_package_names_it(name: str) -> None:
    """Checked for every driver but the default one, whose name is also the protocol's."""
    own = _driver_packages()[name]
    word = re.compile(rf"\b{name}\b", re.IGNORECASE)
    mentions = [
        str(path.relative_to(ROOT))
        for path in ROOT.joinpath("tpdevice").rglob("*.py")
        if own not in path.parents and word.search(path.read_text())
    ]
    assert mentions == []


def test_a_registered_driver_is_an_address_option_and_a_clear_error_otherwise() -> None:
    assert parse_address("sim?driver=parrot").driver == "parrot"
    with pytest.raises(AddressError, match=r"^sim\?driver=bose: unknown driver 'bose' \(known: "):
        parse_address("sim?driver=bose")
    with pytest.raises(ValueError, match="already registered"):
        register(DriverSpec("parrot", frozenset({"tcp"}), "elsewhere:build"))
    with pytest.raises(ValueError, match="ble:// needs a GATT layout"):
        DriverSpec("broken", frozenset({"ble"}), "x:y")


def test_scanning_asks_every_driver() -> None:
    assert driver_for_advertisement("tpdevice-SIM-0001", []) == "native"
    assert driver_for_advertisement("Elite", []) == "theragun"
    assert driver_for_advertisement("HMSoft", []) is None


async def test_the_third_driver_opens_runs_and_reports_like_the_others() -> None:
    client = await open_gun("sim?driver=parrot&id=4")
    try:
        assert client.identity.driver == "parrot" and client.identity.device_id == "sim-4"
        stream = client.telemetry()
        await client.set_output(32.5)
        await client.start()
        async for sample in stream:
            if sample.freq_hz:
                break
        assert sample.freq_hz == 32.5
        assert client.stats()["driver"] == "parrot"
        lease = client.heartbeat.acquire("test")
        assert lease.beat()
        lease.release()
        stream.close()
    finally:
        await client.close()
    assert client.state is ConnectionState.CLOSED


def test_probe_reads_the_third_drivers_spec(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("probe", "sim?driver=parrot", "--json", "--seconds", "0.3", "--spin", "30")
    code, out, err = run_main(capsys, *argv)
    assert code == 0, err
    caps, *samples = (json.loads(line) for line in out.splitlines())
    assert (caps["driver"], caps["model"]) == ("parrot", "parrot-1")
    assert samples and {s["freq_hz"] for s in samples} == {30.0}
    assert all(s["force_n"] is None and s["contact"] is None for s in samples)  # unmeasured
