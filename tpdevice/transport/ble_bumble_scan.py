"""The bumble scanner backend for bleak: advertisements heard on a bumble host, as bleak's.

`BleakScanner(backend=BumbleBleakScanner, hci=SPEC)`; SPEC as for the client backend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.exc import BleakError
from bumble import core
from bumble.device import Advertisement, Device

from tpdevice.transport.ble_bumble import BumbleDeviceDetails, bleak_uuid
from tpdevice.transport.ble_bumble_host import HciTarget, acquire_host, hci_label

__all__ = ["BumbleBleakScanner"]

_LOGGER = logging.getLogger(__name__)

_AD = core.AdvertisingData
_UUID_LISTS = (
    _AD.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    _AD.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    _AD.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    _AD.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    _AD.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    _AD.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)
_SERVICE_DATA = (_AD.SERVICE_DATA_16_BIT_UUID, _AD.SERVICE_DATA_32_BIT_UUID)


class BumbleBleakScanner(BaseBleakScanner):
    """A bleak scanner backend on a bumble host; extra keyword argument `hci`."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        hci: HciTarget | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        if hci is None:
            raise BleakError("the bumble scanner backend needs an hci= transport")
        self._hci: HciTarget = hci
        self._active = scanning_mode != "passive"
        self._device: Device | None = None
        self._release: Callable[[], asyncio.Future[None]] | None = None

    async def start(self) -> None:
        """Start scanning (seen devices are forgotten first)."""
        if self._device is not None:
            return
        host, release = await acquire_host(self._hci)
        self.seen_devices = {}
        device = host.device
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)
        try:
            await device.start_scanning(active=self._active, filter_duplicates=False)
        except BaseException:
            device.remove_listener(device.EVENT_ADVERTISEMENT, self._on_advertisement)
            await release()
            raise
        self._device, self._release = device, release

    async def stop(self) -> None:
        """Stop scanning and give the host back."""
        device, release = self._device, self._release
        self._device = self._release = None
        if device is None or release is None:
            return
        device.remove_listener(device.EVENT_ADVERTISEMENT, self._on_advertisement)
        try:
            if device.scanning:
                await device.stop_scanning()
        except core.BaseBumbleError as err:
            _LOGGER.debug("%s: stop scanning failed: %s", hci_label(self._hci), err)
        finally:
            await release()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        """One report: merge it with what this device advertised before, then tell bleak."""
        address = advertisement.address
        key = address.to_string(with_type_qualifier=False)
        previous = self.seen_devices.get(key)
        adv = _advertisement_data(advertisement, previous[1] if previous else None)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        details = BumbleDeviceDetails(self._hci, address)
        device = self.create_or_update_device(key, key, adv.local_name, details, adv)
        self.call_detection_callbacks(device, adv)


def _advertisement_data(
    advertisement: Advertisement, previous: AdvertisementData | None
) -> AdvertisementData:
    """bleak's view of one report, keeping what an earlier report of the device carried."""
    data = advertisement.data
    name = data.get(_AD.COMPLETE_LOCAL_NAME) or data.get(_AD.SHORTENED_LOCAL_NAME)
    tx_power = data.get(_AD.TX_POWER_LEVEL)
    return AdvertisementData(
        local_name=name if isinstance(name, str) else (previous.local_name if previous else None),
        manufacturer_data=_manufacturer_data(data, previous),
        service_data=_service_data(data, previous),
        service_uuids=_service_uuids(data, previous),
        tx_power=tx_power if isinstance(tx_power, int) else None,
        rssi=int(advertisement.rssi),
        platform_data=(advertisement,),
    )


def _service_uuids(data: core.AdvertisingData, previous: AdvertisementData | None) -> list[str]:
    """Every advertised service UUID (16, 32 and 128-bit lists), in bleak's form."""
    uuids: list[str] = list(previous.service_uuids) if previous else []
    for kind in _UUID_LISTS:
        values = data.get(kind)
        for value in values if isinstance(values, list) else []:
            if (text := bleak_uuid(value)) not in uuids:
                uuids.append(text)
    return uuids


def _manufacturer_data(
    data: core.AdvertisingData, previous: AdvertisementData | None
) -> dict[int, bytes]:
    """Manufacturer-specific data by company id."""
    found = dict(previous.manufacturer_data) if previous else {}
    for item in data.get_all(_AD.MANUFACTURER_SPECIFIC_DATA):
        if isinstance(item, tuple) and isinstance(item[0], int):
            found[item[0]] = bytes(item[1])
    return found


def _service_data(
    data: core.AdvertisingData, previous: AdvertisementData | None
) -> dict[str, bytes]:
    """Service data by service UUID."""
    found = dict(previous.service_data) if previous else {}
    for kind in _SERVICE_DATA:
        for item in data.get_all(kind):
            if isinstance(item, tuple) and isinstance(item[0], core.UUID):
                found[bleak_uuid(item[0])] = bytes(item[1])
    return found
