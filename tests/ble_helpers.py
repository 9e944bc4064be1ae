"""Helpers for the BLE tests; importing this skips the importing module without the BLE stack.

Import it before any bumble or bleak import: the BLE stack is the optional ble-sim extra.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("bumble", reason="BLE tests need bumble (the ble-sim extra)")
pytest.importorskip("bleak_retry_connector", reason="BLE tests need bleak-retry-connector")

from tpdevice.transport.ble import HCI_ENV
from tpdevice_sim.ble.peripheral import BlePeripheralLink
from tpdevice_sim.gun import SimulatedGun

# A system D-Bus that is not there: bleak finds no Bluetooth adapter, at once.
NO_BUS = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/tpdevice-test-bus"}


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without an HCI override (the addresses name their own), plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key != HCI_ENV}
    return {**env, **extra}


def hide_adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process sees no Bluetooth adapter: no HCI override and no system bus."""
    monkeypatch.delenv(HCI_ENV, raising=False)
    for key, value in NO_BUS.items():
        monkeypatch.setenv(key, value)


def ignore(*args: object) -> None:
    """An on_bytes / on_lost that keeps nothing."""


def drop_connection(gun: SimulatedGun) -> None:
    """The BLE gun drops its connection, as a gun going out of range does."""
    assert isinstance(gun.link, BlePeripheralLink)
    gun.link.peripheral.drop_connection()
