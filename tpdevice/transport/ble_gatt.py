"""GATT profiles the BLE transport speaks, finding their characteristics, reading device names."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tpdevice.protocol.gatt import (
    COMMAND_CHAR_UUID,
    EVENT_CHAR_UUID,
    MODEL_NUMBER_UUID,
    NATIVE_SERVICE_UUID,
    uuid16,
)
from tpdevice.transport.ble_errors import BleProfileError

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic

__all__ = [
    "GAP_DEVICE_NAME_UUID",
    "NATIVE_PROFILE",
    "GattProfile",
    "find_characteristics",
    "read_names",
]

_LOGGER = logging.getLogger(__name__)

GAP_DEVICE_NAME_UUID = uuid16(0x2A00)


@dataclass(frozen=True, slots=True)
class GattProfile:
    """Which GATT service carries the bytes, and how writes are made (a driver's layout)."""

    name: str
    service_uuid: str
    write_uuid: str
    notify_uuid: str
    write_with_response: bool
    missing_hint: str = "another kind of gun? name its driver: ?driver=NAME"


NATIVE_PROFILE = GattProfile(
    "native", NATIVE_SERVICE_UUID, COMMAND_CHAR_UUID, EVENT_CHAR_UUID, write_with_response=False
)


def find_characteristics(
    client: BleakClient, profile: GattProfile, address: str
) -> tuple[BleakGATTCharacteristic, BleakGATTCharacteristic]:
    """The profile's (write, notify) characteristics; BleProfileError naming what is missing."""
    service = client.services.get_service(profile.service_uuid)
    if service is None:
        raise BleProfileError(
            f"{address}: no {profile.name} GATT service {profile.service_uuid} "
            f"on the device ({profile.missing_hint})"
        )
    write = service.get_characteristic(profile.write_uuid)
    notify = service.get_characteristic(profile.notify_uuid)
    if write is None or notify is None:
        missing = profile.write_uuid if write is None else profile.notify_uuid
        raise BleProfileError(
            f"{address}: {profile.name} GATT service lacks characteristic {missing}"
        )
    return write, notify


async def read_names(client: BleakClient, address: str, timeout_s: float) -> list[str]:
    """The GAP Device Name and the Device Information model string, as far as readable.

    Each read is bounded by timeout_s; what is absent or fails is left out, never raised.
    """
    names: list[str] = []
    for uuid in (GAP_DEVICE_NAME_UUID, MODEL_NUMBER_UUID):
        text = await _read_text(client, uuid, address, timeout_s)
        if text and text not in names:
            names.append(text)
    return names


async def _read_text(client: BleakClient, uuid: str, address: str, timeout_s: float) -> str | None:
    """A readable characteristic's value as text; None if absent or unreadable."""
    char = client.services.get_characteristic(uuid)
    if char is None or "read" not in char.properties:
        return None  # BlueZ hides the GAP service; many devices lack Device Information
    try:
        async with asyncio.timeout(timeout_s):
            value = await client.read_gatt_char(char)
    except Exception as err:  # each backend fails its own way; a name is optional
        _LOGGER.debug("%s: reading %s failed: %s", address, uuid, err)
        return None
    return bytes(value).decode("utf-8", "replace").strip("\x00 \t\r\n") or None
