"""Fixtures shared by the test modules (helpers live in the *_helpers modules and fakes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from engine_helpers import FakeGun
from mqtt_broker import Broker

from tpdevice.therapy.clock import VirtualClock

if TYPE_CHECKING:  # bumble is optional: the BLE fixtures import it only when used
    from tpdevice.cli.bench_ble_echo import BleEchoPeripheral
    from tpdevice_sim.ble.radio import VirtualRadio


@pytest.fixture(autouse=True)
def _private_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test caches profiles, journals sessions and keeps its config in its own dirs,
    never in the user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
async def gun() -> AsyncIterator[FakeGun]:
    """A recording fake gun on a fresh virtual clock, fed nothing; its timers stop after."""
    fake = FakeGun(VirtualClock())
    yield fake
    fake.shutdown()


@pytest.fixture
async def radio() -> AsyncIterator[VirtualRadio]:
    """A started bumble virtual radio (BLE test modules only), closed after."""
    from tpdevice_sim.ble.radio import VirtualRadio

    radio = VirtualRadio()
    await radio.start()
    yield radio
    await radio.close()


@pytest.fixture
async def echo(radio: VirtualRadio) -> AsyncIterator[BleEchoPeripheral]:
    """A raw GATT echo peripheral on the radio, closed after."""
    from tpdevice.cli.bench_ble_echo import BleEchoPeripheral

    peripheral = BleEchoPeripheral(radio)
    await peripheral.open()
    yield peripheral
    await peripheral.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real MQTT broker of this test's own (killed at the end)."""
    folder = tmp_path / "broker"
    folder.mkdir()
    running = Broker(folder)
    running.start()
    try:
        yield running
    finally:
        running.kill()
