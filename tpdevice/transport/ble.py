"""BLE transport: bytes over one GATT write characteristic out and one notify characteristic in.

The platform bleak backend (BlueZ, CoreBluetooth, WinRT) is used unless an HCI is named
(`?hci=SPEC` or TPDEVICE_BLE_HCI), which selects the bumble backend on that HCI. Each
`write()` carries one whole frame; it is cut into chunks of at most ATT MTU - 3 bytes,
queued, and written in order by one task. Notifications are handed on as they come.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tpdevice.protocol.gatt import ATT_DEFAULT_MTU, ATT_HEADER_SIZE, ATT_MAX_MTU
from tpdevice.transport.base import Transport
from tpdevice.transport.ble_errors import open_error
from tpdevice.transport.ble_gatt import (
    NATIVE_PROFILE,
    GattProfile,
    find_characteristics,
    read_names,
)
from tpdevice.transport.errors import AddressError, TransportOpenError

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic
    from bleak.backends.device import BLEDevice
    from bumble.hci import Address as HciAddress

    from tpdevice.transport.address import DeviceAddress
    from tpdevice.transport.ble_bumble_host import HciTarget

__all__ = [
    "DEFAULT_MTU",
    "HCI_ENV",
    "NATIVE_PROFILE",
    "BleTransport",
    "GattProfile",
    "ble_transport_for",
    "hci_from",
]

_LOGGER = logging.getLogger(__name__)

HCI_ENV = "TPDEVICE_BLE_HCI"
DEFAULT_MTU = 247
_MIN_CHUNK = ATT_DEFAULT_MTU - ATT_HEADER_SIZE
_DRAIN_TIMEOUT_S = 1.0
_DISCONNECT_TIMEOUT_S = 3.0
_NAME_READ_TIMEOUT_S = 2.0


def hci_from(address: DeviceAddress) -> str | None:
    """The bumble HCI of an address: its `hci=` query, else TPDEVICE_BLE_HCI, else None."""
    spec = address.params.get("hci") or os.environ.get(HCI_ENV, "").strip()
    return spec or None


def _driver_gatt(address: DeviceAddress) -> GattProfile:
    """The GATT layout of the address's driver (from the registry)."""
    from tpdevice.transport.registry import get_driver

    spec = get_driver(address.driver, where=address.text)
    if spec.gatt is None:
        raise AddressError(f"{address.text}: driver {spec.name} is not reachable over BLE")
    return spec.gatt


def ble_transport_for(address: DeviceAddress, profile: GattProfile | None = None) -> BleTransport:
    """The (unopened) transport of a ble:// address; the profile follows `driver=`."""
    mtu_text = address.params.get("mtu")
    mtu = int(mtu_text) if mtu_text is not None else DEFAULT_MTU
    return BleTransport(
        mac=address.ble_address,
        name=address.ble_name,
        profile=profile or _driver_gatt(address),
        hci=hci_from(address),
        mtu=mtu,
        address=address.text,
    )


@dataclass(slots=True)
class _Queued:
    """One frame waiting for (or in) its GATT writes, and the slot it may be replaced in."""

    frame: bytes
    slot: str | None


class BleTransport(Transport):
    """One GATT connection to a device named by MAC or by advertised name."""

    def __init__(
        self,
        mac: str | None = None,
        *,
        name: str | None = None,
        profile: GattProfile = NATIVE_PROFILE,
        hci: HciTarget | None = None,
        mtu: int = DEFAULT_MTU,
        connect_timeout_s: float = 10.0,
        scan_timeout_s: float = 5.0,
        max_attempts: int = 2,
        address: str | None = None,
    ) -> None:
        if (mac is None) == (name is None):
            raise AddressError(f"{address or mac or name}: give either a BLE MAC or a name")
        super().__init__(address or (f"ble://{mac}" if mac else f"ble://name={name}"))
        if not ATT_DEFAULT_MTU <= mtu <= ATT_MAX_MTU:
            raise AddressError(f"{self.address}: mtu {mtu} out of range 23..517")
        self.mac, self.name, self.profile, self.hci, self.mtu = mac, name, profile, hci, mtu
        self.connect_timeout_s = connect_timeout_s
        self.scan_timeout_s = scan_timeout_s
        self.max_attempts = max_attempts
        self.chunk_size = _MIN_CHUNK
        self._client: BleakClient | None = None
        self._write_char: BleakGATTCharacteristic | None = None
        self._queue: collections.deque[_Queued] = collections.deque()  # head: in flight
        self._queued_bytes = 0
        self._dropped_bytes = 0  # queued, then dropped when the link was lost
        self._writer: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._disconnecting: asyncio.Task[None] | None = None
        self._seen_name: str | None = None

    @property
    def write_buffer_bytes(self) -> int:
        """Bytes queued for GATT writes not yet completed."""
        return self._queued_bytes

    @property
    def mtu_size(self) -> int:
        """The ATT MTU of the open connection (23 when closed)."""
        client = self._client
        return ATT_DEFAULT_MTU if client is None else int(client.mtu_size)

    @property
    def backend_name(self) -> str:
        """`bumble` with an HCI named, else `platform`."""
        return "platform" if self.hci is None else "bumble"

    async def _open(self) -> None:
        """Find the device, connect, subscribe; one-line TransportOpenError on any failure.

        Cancelled (Ctrl-C, close() during a reconnect), the link is dropped before re-raising.
        """
        self._dropped_bytes = 0
        try:
            async with contextlib.AsyncExitStack() as stack:
                await self._hold_hci(stack)
                device = await self._find_device()
                self._seen_name = device.name or self.name
                self._client = await self._connect(device)
                await self._subscribe(self._client)
        except TransportOpenError:
            await self._disconnect_now()
            raise
        except Exception as err:
            await self._disconnect_now()
            timeout_s, attempts = self.connect_timeout_s, self.max_attempts
            raise open_error(self.address, err, self.hci, timeout_s, attempts) from err
        except BaseException:
            await asyncio.shield(self._disconnect_now())
            raise

    async def _hold_hci(self, stack: contextlib.AsyncExitStack) -> None:
        """Keep the bumble host up from the scan to the connection (one HCI power-on)."""
        if self.hci is None:
            return
        from tpdevice.transport.ble_bumble_host import acquire_host

        _, release = await acquire_host(self.hci)
        stack.push_async_callback(release)

    def _backend_kwargs(self, scanner: bool) -> dict[str, Any]:
        """Keyword arguments selecting the bleak backend (empty for the platform one)."""
        if self.hci is None:
            return {}
        from tpdevice.transport.ble_bumble import BumbleBleakClient
        from tpdevice.transport.ble_bumble_scan import BumbleBleakScanner

        if scanner:
            return {"backend": BumbleBleakScanner, "hci": self.hci}
        return {"backend": BumbleBleakClient, "hci": self.hci, "mtu": self.mtu}

    async def _find_device(self) -> BLEDevice:
        """The BLEDevice to connect to: scanned for, except a MAC over bumble."""
        from bleak import BleakScanner

        if self.mac is not None and self.hci is not None:
            from bleak.backends.device import BLEDevice

            from tpdevice.transport.ble_bumble import BumbleDeviceDetails

            return BLEDevice(self.mac, None, BumbleDeviceDetails(self.hci, self._hci_address()))
        kwargs = self._backend_kwargs(scanner=True)
        if self.mac is not None:
            found = await BleakScanner.find_device_by_address(
                self.mac, timeout=self.scan_timeout_s, **kwargs
            )
        else:
            found = await BleakScanner.find_device_by_name(
                str(self.name), timeout=self.scan_timeout_s, **kwargs
            )
        if found is None:
            what = self.mac or f"named {self.name!r}"
            raise TransportOpenError(
                f"{self.address}: no BLE device {what} seen within {self.scan_timeout_s:g} s"
            )
        return found

    def _hci_address(self) -> HciAddress:
        """The bumble address of the MAC; a permanent error for a macOS device id."""
        from bleak.exc import BleakError

        from tpdevice.transport.ble_bumble import ble_address

        try:
            return ble_address(str(self.mac))
        except BleakError:
            error = TransportOpenError(
                f"{self.address}: {self.mac} is a macOS device id; with hci= give the device's "
                "MAC address (AA:BB:CC:DD:EE:FF, as `tpdevice devices scan --hci` shows it)"
            )
            error.permanent = True  # type: ignore[attr-defined]
            raise error from None

    async def _connect(self, device: BLEDevice) -> BleakClient:
        """Up to max_attempts connects, each bounded by connect_timeout_s; the last error raised.

        Each attempt is one bleak-retry-connector attempt (its clean-up and back-off on
        errors); the bound is ours, as the retry connector gives BleakClient its own 20 s.
        """
        from bleak.exc import BleakError

        for attempt in range(1, self.max_attempts + 1):
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    return await self._connect_once(device)
            except (TimeoutError, BleakError) as err:
                if attempt >= self.max_attempts:
                    raise
                _LOGGER.debug("%s: connect attempt %d failed: %s", self.address, attempt, err)
        raise AssertionError("unreachable: max_attempts >= 1")

    async def _connect_once(self, device: BLEDevice) -> BleakClient:
        """One bleak-retry-connector attempt."""
        from bleak import BleakClient
        from bleak_retry_connector import establish_connection

        return await establish_connection(
            BleakClient,
            device,
            self.address,
            disconnected_callback=self._on_disconnected,
            max_attempts=1,
            timeout=self.connect_timeout_s,
            **self._backend_kwargs(scanner=False),
        )

    async def _subscribe(self, client: BleakClient) -> None:
        """Find the profile's characteristics, size the chunks, start notifications."""
        write, notify = find_characteristics(client, self.profile, self.address)
        self._write_char = write
        self.chunk_size = max(_MIN_CHUNK, write.max_write_without_response_size)
        await client.start_notify(notify, self._on_notify)
        _LOGGER.debug(
            "%s: connected, MTU %d, chunks of %d bytes",
            self.address,
            client.mtu_size,
            self.chunk_size,
        )

    async def read_peer_names(self, timeout_s: float = _NAME_READ_TIMEOUT_S) -> list[str]:
        """The names the open device gives: advertised (if scanned), GAP name, DIS model."""
        names = [self._seen_name] if self._seen_name else []
        if self._client is not None:
            read = await read_names(self._client, self.address, timeout_s)
            names += [name for name in read if name not in names]
        return names

    def _on_notify(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        """A notification: its bytes go on as they are."""
        self._deliver(bytes(data))

    def _on_disconnected(self, client: BleakClient) -> None:
        """bleak says the link dropped: a lost link unless it is an old client or we closed it."""
        if client is self._client:
            self._connection_lost(self._lost_error("the device disconnected"))

    def write(self, data: bytes, *, slot: str | None = None) -> None:
        """Queue one frame; one task writes it in chunks of at most MTU - 3 bytes, in order.

        Frames given the same `slot` (an opaque name) replace each other while they wait:
        a frame that is a whole state (a speed setting) makes the waiting one stale, so a
        stop never queues behind keep-alives and the queue stays short on a slow radio.
        """
        self._check_writable()
        if not data:
            return
        if slot is None or not self._replace_queued(data, slot):
            self._queue.append(_Queued(bytes(data), slot))
        self._queued_bytes += len(data)
        if self._writer is None:
            self._idle.clear()
            loop = self._loop or asyncio.get_running_loop()
            self._writer = loop.create_task(self._write_queued(), name=f"ble write {self.address}")

    def _replace_queued(self, data: bytes, slot: str) -> bool:
        """Put data in place of the waiting frame of `slot`, if any (never the one in flight)."""
        for queued in itertools.islice(self._queue, 1, None):
            if queued.slot == slot:
                self._queued_bytes -= len(queued.frame)
                queued.frame = bytes(data)
                return True
        return False

    async def _write_queued(self) -> None:
        """Write chunks until the queue is empty; a failed write is a lost link."""
        client, char = self._client, self._write_char
        assert client is not None and char is not None
        response = self.profile.write_with_response
        try:
            while self._queue:
                frame, size = self._queue[0].frame, self.chunk_size
                for start in range(0, len(frame), size):
                    chunk = frame[start : start + size]
                    await client.write_gatt_char(char, chunk, response=response)
                    self._queued_bytes -= len(chunk)
                self._queue.popleft()
        except Exception as err:
            self._connection_lost(self._lost_error(f"GATT write failed: {_text(err)}"))
        finally:
            self._writer = None
            self._idle.set()

    async def flush(self, timeout_s: float = 1.0) -> bool:
        """Wait until every queued chunk was written (acknowledged when writing with response).

        False when timeout_s passed first, or when the link was lost with chunks unwritten.
        """
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return self._dropped_bytes == 0

    async def _drain(self) -> None:
        """Wait (bounded) for queued writes, then disconnect (bounded)."""
        try:
            await asyncio.wait_for(self._idle.wait(), _DRAIN_TIMEOUT_S)
        except TimeoutError:
            _LOGGER.warning("%s: %d bytes not written; dropping", self.address, self._queued_bytes)
        await self._disconnect_now()

    def _release(self) -> None:
        """Stop writing, drop the queue; disconnect in the background if still connected."""
        writer, self._writer = self._writer, None
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
        self._dropped_bytes += self._queued_bytes
        self._queue.clear()
        self._queued_bytes = 0
        self._idle.set()
        if self._client is not None:
            loop = self._loop or asyncio.get_running_loop()
            self._disconnecting = loop.create_task(self._disconnect_now())

    async def close(self) -> None:
        """Close as every transport does, then wait for a background disconnect to finish."""
        await super().close()
        task, self._disconnecting = self._disconnecting, None
        if task is not None:
            await asyncio.wait([task])

    async def _disconnect_now(self) -> None:
        """Disconnect the client if any (bounded, errors logged, never raised)."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await asyncio.wait_for(client.disconnect(), _DISCONNECT_TIMEOUT_S)
        except Exception as err:
            _LOGGER.debug("%s: disconnect failed: %s", self.address, _text(err))


def _text(err: BaseException) -> str:
    return str(err) or "no details given"
