"""One simulated BLE peripheral on bumble: advertising, one client, DIS + Battery, safe GATT.

bumble's GATT server neither checks characteristic properties on writes and reads nor keeps
notifications within the MTU (it cuts them silently); `GattPeripheral` does both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from bumble import att, core, data_types, gatt, gatt_server, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device, DeviceConfiguration
from bumble.transport.common import Transport

from tpdevice.protocol import gatt as contract
from tpdevice_sim.ble.spec import BleHciError, BleIdentity, PeripheralHci

__all__ = [
    "ADVERTISING_INTERVAL_MS",
    "GattPeripheral",
    "advertising_payloads",
    "bumble_uuid",
    "guard_server",
]

_LOGGER = logging.getLogger(__name__)

ADVERTISING_INTERVAL_MS = 20.0
LEGACY_ADVERTISING_MAX = 31
BATTERY_POLL_S = 1.0
_Props = gatt.Characteristic.Properties
ConnectionHandler = Callable[[Connection | None], None]


def bumble_uuid(text: str) -> UUID:
    """A contract UUID for bumble: SIG ones (on the base UUID) as 16 bits, as they go on air."""
    base_tail = contract.BLUETOOTH_BASE_UUID[8:]
    if text.lower().endswith(base_tail) and text.startswith("0000"):
        return UUID.from_16_bits(int(text[4:8], 16))
    return UUID(text)


def advertising_payloads(name: str, service_uuid: str, *, virtual: bool) -> tuple[bytes, bytes]:
    """(advertising data, scan response): the name moves to the scan response if 31 B overflow.

    bumble's virtual controller reports only the advertising data (also as the scan
    response) and takes more than 31 bytes, so on the radio everything stays in it.
    """
    uuid = bumble_uuid(service_uuid)
    uuids = (
        data_types.CompleteListOf16BitServiceUUIDs([uuid])
        if len(uuid.to_bytes()) == 2
        else data_types.CompleteListOf128BitServiceUUIDs([uuid])
    )
    flags = data_types.Flags(
        AdvertisingData.Flags.LE_GENERAL_DISCOVERABLE_MODE
        | AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED
    )
    named = bytes(AdvertisingData([flags, uuids, data_types.CompleteLocalName(name)]))
    if virtual or len(named) <= LEGACY_ADVERTISING_MAX:
        return named, b""
    local_name = bytes(AdvertisingData([data_types.CompleteLocalName(name)]))
    return bytes(AdvertisingData([flags, uuids])), local_name


_RULES: dict[str, tuple[_Props, int]] = {
    "on_att_write_request": (_Props.WRITE, att.ErrorCode.WRITE_NOT_PERMITTED),
    "on_att_prepare_write_request": (_Props.WRITE, att.ErrorCode.WRITE_NOT_PERMITTED),
    "on_att_read_request": (_Props.READ, att.ErrorCode.READ_NOT_PERMITTED),
    "on_att_read_blob_request": (_Props.READ, att.ErrorCode.READ_NOT_PERMITTED),
    "on_att_write_command": (_Props.WRITE_WITHOUT_RESPONSE, att.ErrorCode.WRITE_NOT_PERMITTED),
}
_WRITES = ("on_att_write_request", "on_att_write_command")


def _allowed(attribute: att.Attribute[object], needed: _Props) -> bool:
    """The characteristic has the property; any other attribute, the permission."""
    if isinstance(attribute, gatt.Characteristic):
        return bool(attribute.properties & needed)
    wanted = att.Attribute.READABLE if needed & _Props.READ else att.Attribute.WRITEABLE
    return bool(attribute.permissions & wanted)


def _refusal(
    server: gatt_server.Server, bearer: att.Bearer, name: str, request: att.ATT_PDU
) -> int | None:
    """The ATT error a real server answers this request with, or None to let bumble handle it."""
    attribute = server.get_attribute(getattr(request, "attribute_handle", 0))
    if attribute is None:
        return None  # bumble answers "invalid handle" itself
    needed, code = _RULES[name]
    if not _allowed(attribute, needed):
        return code
    value = getattr(request, "attribute_value", b"")
    mtu = int(getattr(bearer, "att_mtu", contract.ATT_DEFAULT_MTU))
    if name in _WRITES and len(value) > contract.att_payload_size(mtu):
        return att.ErrorCode.INVALID_PDU  # longer than the MTU allows: no real PDU is
    return None


def guard_server(server: gatt_server.Server) -> None:
    """Refuse what a real server refuses: reads/writes the properties deny, writes over MTU - 3."""
    for name in _RULES:
        original = getattr(server, name)

        def guarded(
            bearer: att.Bearer,
            request: att.ATT_PDU,
            original: Callable[[att.Bearer, att.ATT_PDU], None] = original,
            name: str = name,
        ) -> None:
            code = _refusal(server, bearer, name, request)
            if code is None:
                original(bearer, request)
            elif name == "on_att_write_command":
                _LOGGER.info("write command refused (ATT error %#04x)", code)
            else:
                server.send_response(
                    bearer,
                    att.ATT_Error_Response(
                        request_opcode_in_error=request.op_code,
                        attribute_handle_in_error=getattr(request, "attribute_handle", 0),
                        error_code=code,
                    ),
                )

        # bumble dispatches ATT requests with getattr(server, "on_<pdu name>").
        setattr(server, name, guarded)


class GattPeripheral:
    """A bumble Device advertising one service; serves one client at a time."""

    def __init__(
        self,
        hci_source: PeripheralHci,
        identity: BleIdentity,
        service_uuid: str,
        services: Sequence[gatt.Service],
        *,
        battery_pct: Callable[[], int],
        on_connection: ConnectionHandler,
    ) -> None:
        self.hci = hci_source
        self.identity = identity
        self.service_uuid = service_uuid
        self.connection: Connection | None = None
        self.device: Device | None = None
        self._services = list(services)
        self._battery_pct = battery_pct
        self._on_connection = on_connection
        self._transport: Transport | None = None
        self._battery: gatt.Characteristic[bytes] = gatt.Characteristic(
            bumble_uuid(contract.BATTERY_LEVEL_UUID),
            _Props.READ | _Props.NOTIFY,
            gatt.Characteristic.READABLE,
            gatt.CharacteristicValue(read=lambda _connection: bytes([self._battery_level()])),
        )
        self._battery_sent = -1
        self._battery_timer: asyncio.TimerHandle | None = None

    @property
    def address(self) -> str:
        """`ble://F0:7D:00:00:00:NN`, with `?hci=...` on a served virtual radio."""
        return f"ble://{self.identity.address}{self.hci.address_query}"

    @property
    def mtu(self) -> int:
        """The connection's ATT MTU (23 until the client exchanges a bigger one)."""
        connection = self.connection
        return contract.ATT_DEFAULT_MTU if connection is None else int(connection.att_mtu)

    async def open(self) -> None:
        """Power on, add the services and advertise every 20 ms (again after each disconnect)."""
        self._transport = await self.hci.open_peripheral_hci(self.identity.name)
        try:
            await self._power_up(self._transport)
        except (core.BaseBumbleError, TimeoutError) as err:
            await self.close()
            raise BleHciError(f"{self.identity.name}: the controller failed: {err}") from err

    async def _power_up(self, transport: Transport) -> None:
        config = DeviceConfiguration(
            name=self.identity.name, address=hci.Address(self.identity.address)
        )
        device = Device.from_config_with_hci(config, transport.source, transport.sink)
        device.add_services([*self._services, self._device_information(), self._battery_service()])
        guard_server(device.gatt_server)
        device.on(device.EVENT_CONNECTION, self._connected)
        self.device = device
        await device.power_on()
        advertising, scan_response = advertising_payloads(
            self.identity.name, self.service_uuid, virtual=self.hci.virtual
        )
        await device.start_advertising(
            auto_restart=True,
            advertising_data=advertising,
            scan_response_data=scan_response,
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )
        self._poll_battery()

    async def close(self) -> None:
        """Stop advertising and drop the client (it sees the link lost); idempotent."""
        if self._battery_timer is not None:
            self._battery_timer.cancel()
            self._battery_timer = None
        transport, self._transport = self._transport, None
        if transport is None:
            return
        if not self.hci.virtual:
            await self._hang_up()
        await transport.close()
        self._set_connection(None)
        self.device = None

    def notify(self, characteristic: gatt.Characteristic[bytes], value: bytes) -> bool:
        """Send value in chunks of at most MTU - 3; False if no client is subscribed."""
        connection = self.connection
        device = self.device
        if connection is None or device is None:
            return False
        server = device.gatt_server
        if not server.read_cccd(connection, characteristic)[0] & 0x01:
            return False
        for chunk in contract.split_for_att(value, int(connection.att_mtu)):
            pdu = att.ATT_Handle_Value_Notification(
                attribute_handle=characteristic.handle, attribute_value=chunk
            )
            server.send_gatt_pdu(connection, bytes(pdu))
        return True

    def drop_connection(self) -> None:
        """Lose the client's link now (fault injection): both ends see a supervision timeout."""
        connection = self.connection
        if connection is None:
            return
        reason = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
        source = self._transport.source if self._transport is not None else None
        drop_links = getattr(source, "drop_links", None)
        if drop_links is not None:
            drop_links(reason, tell_host=True)  # the virtual radio: the air itself fails
        else:
            asyncio.get_running_loop().create_task(connection.disconnect(reason))

    def _connected(self, connection: Connection) -> None:
        if connection.role != hci.Role.PERIPHERAL:
            return
        connection.on(connection.EVENT_DISCONNECTION, lambda _reason: self._gone(connection))
        self._battery_sent = -1
        self._set_connection(connection)

    def _gone(self, connection: Connection) -> None:
        if self.connection is connection:
            self._set_connection(None)

    def _set_connection(self, connection: Connection | None) -> None:
        changed = self.connection is not connection
        self.connection = connection
        if changed:
            self._on_connection(connection)

    async def _hang_up(self) -> None:
        """A real adapter keeps its links after we let go: end them and stop advertising."""
        device = self.device
        if device is None:
            return
        try:
            async with asyncio.timeout(1.0):
                await device.stop_advertising()
                for connection in list(device.connections.values()):
                    await connection.disconnect()
        except (TimeoutError, hci.HCI_Error) as err:
            _LOGGER.warning("%s: could not hang up cleanly: %s", self.identity.name, err)

    def _battery_level(self) -> int:
        return min(100, max(0, int(self._battery_pct())))

    def _poll_battery(self) -> None:
        """Notify the battery level when it changed (checked every second)."""
        level = self._battery_level()
        if level != self._battery_sent and self.notify(self._battery, bytes([level])):
            self._battery_sent = level
        loop = asyncio.get_running_loop()
        self._battery_timer = loop.call_later(BATTERY_POLL_S, self._poll_battery)

    def _device_information(self) -> gatt.Service:
        identity = self.identity
        fields = (
            (contract.MANUFACTURER_NAME_UUID, identity.manufacturer),
            (contract.MODEL_NUMBER_UUID, identity.model),
            (contract.SERIAL_NUMBER_UUID, identity.serial),
            (contract.FIRMWARE_REVISION_UUID, identity.firmware),
        )
        characteristics = [
            gatt.Characteristic(
                bumble_uuid(uuid), _Props.READ, gatt.Characteristic.READABLE, text.encode()
            )
            for uuid, text in fields
        ]
        return gatt.Service(bumble_uuid(contract.DEVICE_INFORMATION_SERVICE_UUID), characteristics)

    def _battery_service(self) -> gatt.Service:
        return gatt.Service(bumble_uuid(contract.BATTERY_SERVICE_UUID), [self._battery])
