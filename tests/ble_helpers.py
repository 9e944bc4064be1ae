"""Helpers for the BLE tests; importing this skips the importing module without the BLE stack.

Import it before any bumble or bleak import: the BLE stack is the optional ble-sim extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator

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


@contextlib.contextmanager
def served_from_a_thread(
    serve: Callable[[Callable[[str], None], asyncio.Event], Awaitable[None]],
) -> Iterator[str]:
    """Run `serve(ready, stop)` on a loop in another thread; yield the value it passes to ready.

    `serve` calls ready(hci_spec) once its radio is up, then waits for stop.
    """
    ready: queue.Queue[str | BaseException] = queue.Queue()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        try:
            await serve(ready.put, stop)
        except BaseException as err:
            ready.put(err)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),))
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
