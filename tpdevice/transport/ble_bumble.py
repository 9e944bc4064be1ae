"""A bleak backend over bumble: BLE through any HCI bumble opens (virtual radio, USB dongle).

`BleakClient(device, backend=BumbleBleakClient, hci=SPEC)` (and the scanner in
`ble_bumble_scan`) drive a bumble host on the HCI named by a bumble transport spec
(`tcp-client:127.0.0.1:PORT`, `usb:0`) or on a new adapter of an in-process radio (anything
with `attach_host_controller()`, like the simulator's VirtualRadio). One host per HCI and
event loop is shared by every scanner and client of the process, as an OS shares one adapter.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bumble import core, gatt_client, hci
from bumble.device import Connection, Device, Peer
from bumble.hci import Address as HciAddress

from tpdevice.transport.ble_bumble_host import HciOpenError, HciTarget, acquire_host

__all__ = [
    "DEFAULT_MTU",
    "BumbleBleakClient",
    "BumbleDeviceDetails",
    "HciOpenError",
    "HciTarget",
    "ble_address",
    "bleak_uuid",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_MTU = 247
MIN_MTU = 23
ATT_HEADER_BYTES = 3
ABANDON_TIMEOUT_S = 2.0
_MAC_TEXT_LEN = 17
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class BumbleDeviceDetails:
    """BLEDevice.details of this backend: which HCI saw the device, and its typed address."""

    hci: HciTarget
    address: HciAddress


def bleak_uuid(value: core.UUID) -> str:
    """A bumble UUID in bleak's form: 128-bit, lower case, with dashes."""
    return str(uuid.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))


def ble_address(text: str) -> HciAddress:
    """A typed address from `AA:BB:..`: random static when the top two bits are 11, else public.

    BleakError for anything but a MAC address (a macOS device id names no radio address).
    """
    if len(text) != _MAC_TEXT_LEN or not all(c in _HEX for c in text.replace(":", "")):
        raise BleakError(f"{text}: the bumble backend needs a MAC address AA:BB:CC:DD:EE:FF")
    address_type = (
        HciAddress.RANDOM_DEVICE_ADDRESS
        if int(text[:2], 16) >> 6 == 0b11
        else HciAddress.PUBLIC_DEVICE_ADDRESS
    )
    return HciAddress(text, address_type)


def _properties(flags: int) -> list[CharacteristicPropertyName]:
    """bleak's property names for a characteristic's property bits."""
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if flags & bit]


class BumbleBleakClient(BaseBleakClient):
    """A bleak client backend on a bumble host; extra keyword arguments `hci` and `mtu`."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        hci: HciTarget | None = None,
        mtu: int = DEFAULT_MTU,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        details = getattr(address_or_ble_device, "details", None)
        known = details if isinstance(details, BumbleDeviceDetails) else None
        target = hci if hci is not None else (known.hci if known is not None else None)
        if target is None:
            raise BleakError(f"{self.address}: the bumble backend needs an hci= transport")
        if not MIN_MTU <= mtu <= 517:
            raise BleakError(f"{self.address}: mtu {mtu} out of range 23..517")
        self._hci: HciTarget = target
        self._peer_address = known.address if known is not None else ble_address(self.address)
        self._mtu_wanted = mtu
        self._name = getattr(address_or_ble_device, "name", None) or self.address
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._release: Callable[[], asyncio.Future[None]] | None = None
        self._released: asyncio.Future[None] | None = None  # host give-back after a drop
        self._closing = False

    @property
    def name(self) -> str:
        """The advertised name when the device came from a scan, else the address."""
        return self._name

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU (23 until an exchange raised it)."""
        connection = self._connection
        return MIN_MTU if connection is None else int(connection.att_mtu)

    @property
    def is_connected(self) -> bool:
        """True while the LE connection is up."""
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, exchange the MTU, discover every service; BleakError/TimeoutError on failure."""
        if pair:
            _LOGGER.debug("%s: pairing is not supported by the bumble backend", self.address)
        timeout_s = min(float(kwargs.get("timeout", self._timeout)), self._timeout)
        self._closing = False
        host, self._release = await acquire_host(self._hci)
        try:
            async with asyncio.timeout(timeout_s):
                connection = await self._connect_le(host.device)
                self._adopt(connection)
                await self._set_up(connection)
        except BaseException:
            await self._drop_connection()
            raise

    async def _connect_le(self, device: Device) -> Connection:
        """Create the LE connection; bumble's errors become BleakError.

        Cancelled (a timeout), the controller's pending connect is cancelled as well: left
        pending, it refuses the next attempt (command disallowed).
        """
        connecting = asyncio.ensure_future(device.connect(self._peer_address, timeout=None))
        try:
            return await asyncio.shield(connecting)
        except core.BaseBumbleError as err:
            raise BleakError(f"{self.address}: connection failed: {err}") from err
        except asyncio.CancelledError:
            await asyncio.shield(self._abandon(device, connecting))
            raise

    async def _abandon(self, device: Device, connecting: asyncio.Future[Connection]) -> None:
        """Cancel a pending LE connect; a link that came up all the same is ended."""
        try:
            async with asyncio.timeout(ABANDON_TIMEOUT_S):
                if device.is_le_connecting:
                    await device.send_command(
                        hci.HCI_LE_Create_Connection_Cancel_Command(), check_result=True
                    )
                connection = await connecting
                await connection.disconnect()
        except (core.BaseBumbleError, TimeoutError) as err:  # refused or failed: nothing to end
            _LOGGER.debug("%s: abandoned connect: %s", self.address, err)
        finally:
            connecting.cancel()

    def _adopt(self, connection: Connection) -> None:
        """Keep the connection and follow its end."""
        self._connection = connection
        self._peer = Peer(connection)
        on_disconnection = functools.partial(self._on_disconnection, connection)
        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)

    async def _set_up(self, connection: Connection) -> None:
        """MTU exchange (skipped when 23 is asked for), then the GATT database."""
        peer = self._peer
        assert peer is not None
        try:
            if self._mtu_wanted > MIN_MTU:
                await peer.request_mtu(self._mtu_wanted)
            self.services = await self._discover(peer)
        except core.BaseBumbleError as err:
            raise BleakError(f"{self.address}: GATT discovery failed: {err}") from err

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        """Every service, characteristic and descriptor, as bleak's objects."""
        collection = BleakGATTServiceCollection()
        for service in await peer.discover_services():
            collection.add_service(
                BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
            )
            for char in await service.discover_characteristics():
                collection.add_characteristic(self._characteristic(char, collection, service))
                for descriptor in await char.discover_descriptors():
                    bleak_char = collection.get_characteristic(char.handle)
                    assert bleak_char is not None
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, bleak_uuid(descriptor.type), bleak_char
                        )
                    )
        return collection

    def _characteristic(
        self,
        char: gatt_client.CharacteristicProxy[bytes],
        collection: BleakGATTServiceCollection,
        service: gatt_client.ServiceProxy,
    ) -> BleakGATTCharacteristic:
        """A bleak characteristic whose write-without-response size follows the live MTU."""
        bleak_service = collection.get_service(service.handle)
        assert bleak_service is not None
        return BleakGATTCharacteristic(
            char,
            char.handle,
            bleak_uuid(char.uuid),
            _properties(int(char.properties)),
            lambda: self.mtu_size - ATT_HEADER_BYTES,
            bleak_service,
        )

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        """The link ended: tell bleak's owner unless we asked for it or it is an old link."""
        if connection is not self._connection:
            _LOGGER.debug("%s: late disconnect of an earlier link ignored", self.address)
            return
        _LOGGER.debug("%s: disconnected (reason 0x%02X)", self.address, reason)
        self._connection = self._peer = None
        release, self._release = self._release, None
        if release is not None:
            self._released = release()
        if not self._closing and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        """Disconnect (idempotent) and release the shared host."""
        self._closing = True
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        """End the LE connection if any, then give the host back."""
        connection = self._connection
        if connection is not None:
            self._closing = True
            try:
                async with asyncio.timeout(self._timeout):
                    await connection.disconnect()
            except (core.BaseBumbleError, TimeoutError) as err:
                _LOGGER.debug("%s: disconnect failed: %s", self.address, err)
            self._connection = self._peer = None
        release, self._release = self._release, None
        if release is not None:
            await release()
        released, self._released = self._released, None
        if released is not None:
            await released

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Not supported: the simulated guns and the known GATT layouts need no bonding."""
        raise BleakError(f"{self.address}: pairing is not supported by the bumble backend")

    async def unpair(self) -> None:
        """Not supported (nothing is ever bonded)."""
        raise BleakError(f"{self.address}: pairing is not supported by the bumble backend")

    def _live_peer(self) -> Peer:
        """The peer of the live connection; BleakError when not connected."""
        if self._peer is None:
            raise BleakError(f"{self.address}: not connected")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic value."""
        return bytearray(await self._att(self._live_peer().read_value(characteristic.handle)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor value."""
        return bytearray(await self._att(self._live_peer().read_value(descriptor.handle)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        """Write a value, with or without response."""
        peer = self._live_peer()
        await self._att(
            peer.write_value(characteristic.handle, bytes(data), with_response=response)
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        """Write a descriptor value (with response)."""
        peer = self._live_peer()
        await self._att(peer.write_value(descriptor.handle, bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Subscribe; every notification or indication value goes to `callback`."""
        proxy = self._proxy(characteristic)
        await self._att(proxy.subscribe(lambda value: callback(bytearray(value))))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Unsubscribe from a characteristic."""
        await self._att(self._proxy(characteristic).unsubscribe(force=True))

    def _proxy(
        self, characteristic: BleakGATTCharacteristic
    ) -> gatt_client.CharacteristicProxy[bytes]:
        """bumble's proxy behind a bleak characteristic of this connection."""
        self._live_peer()
        proxy = characteristic.obj
        if not isinstance(proxy, gatt_client.CharacteristicProxy):
            raise BleakError(f"{self.address}: {characteristic.uuid} is not from this backend")
        return proxy

    async def _att(self, operation: Any) -> Any:
        """Await an ATT operation; bumble's protocol errors become BleakError."""
        try:
            return await operation
        except core.BaseBumbleError as err:
            raise BleakError(f"{self.address}: {err}") from err
