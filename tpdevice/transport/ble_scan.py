"""Scan for guns over BLE: each registered driver says which advertisements are its guns.

A device no driver claims is left out.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tpdevice.transport.address import Driver
from tpdevice.transport.ble_errors import (
    HciOpenError,
    is_no_adapter,
    missing_package_error,
    no_adapter_error,
)
from tpdevice.transport.errors import TransportError, TransportOpenError
from tpdevice.transport.registry import DEFAULT_DRIVER, driver_for_advertisement

if TYPE_CHECKING:
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

    from tpdevice.transport.ble_bumble_host import HciTarget

__all__ = ["DEFAULT_SCAN_S", "ScanResult", "classify", "scan"]

_LOGGER = logging.getLogger(__name__)

DEFAULT_SCAN_S = 5.0


@dataclass(frozen=True, slots=True)
class ScanResult:
    """One gun heard while scanning: what it is called, where, how loud, which driver."""

    name: str | None
    address: str
    rssi: int
    driver: Driver
    hci: str | None = None

    @property
    def url(self) -> str:
        """The device address to give `probe`/`run`: ble://MAC with driver and hci as needed."""
        query = [f"driver={self.driver}"] if self.driver != DEFAULT_DRIVER else []
        if self.hci is not None:
            query.append(f"hci={self.hci}")
        return f"ble://{self.address}" + ("?" + "&".join(query) if query else "")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "name": self.name,
            "address": self.address,
            "rssi": self.rssi,
            "driver": self.driver,
            "url": self.url,
        }


def classify(name: str | None, service_uuids: list[str]) -> Driver | None:
    """The driver a gun advertising this name and these services needs; None if not a gun."""
    return driver_for_advertisement(name, service_uuids)


async def scan(timeout_s: float = DEFAULT_SCAN_S, hci: HciTarget | None = None) -> list[ScanResult]:
    """Listen `timeout_s` and return the guns heard, loudest first.

    `hci` selects the bumble backend on that HCI; None the platform one. Failures are
    one-line TransportErrors (no adapter, HCI cannot open).
    """
    from bleak import BleakScanner

    heard: dict[str, ScanResult] = {}
    label = hci if isinstance(hci, str) else None

    def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
        name = adv.local_name or device.name
        driver = classify(name, adv.service_uuids)
        if driver is not None:
            heard[device.address] = ScanResult(name, device.address, adv.rssi, driver, label)

    try:
        async with BleakScanner(on_advertisement, **_backend_kwargs(hci)):
            await asyncio.sleep(timeout_s)
    except TransportError:
        raise
    except Exception as err:
        raise _scan_error(err, hci) from err
    return sorted(heard.values(), key=lambda r: (-r.rssi, r.address))


def _backend_kwargs(hci: HciTarget | None) -> dict[str, Any]:
    """BleakScanner arguments choosing the backend."""
    if hci is None:
        return {}
    from tpdevice.transport.ble_bumble_scan import BumbleBleakScanner

    return {"backend": BumbleBleakScanner, "hci": hci}


def _scan_error(err: Exception, hci: HciTarget | None) -> TransportError:
    """One line for a scan that could not run."""
    if isinstance(err, ImportError):
        return missing_package_error("BLE scan", err)
    if isinstance(err, HciOpenError):
        return TransportOpenError(f"BLE scan: {err}")
    if hci is None and is_no_adapter(err):
        return no_adapter_error("BLE scan", err)
    where = f" on HCI {hci if isinstance(hci, str) else 'in-process radio'}" if hci else ""
    return TransportError(f"BLE scan{where} failed: {str(err) or 'no details given'}")
