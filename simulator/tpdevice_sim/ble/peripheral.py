"""A native gun's BLE link: frames arrive as writes, leave as notifications of at most MTU - 3.

A FrameLink, so SimulatedGun (and its watchdog) runs on it unchanged. The battery level the
Battery service reports is the one the firmware last sent in TELEMETRY (100 before any).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

from bumble import gatt
from bumble.device import Connection

from tpdevice.protocol import (
    FrameError,
    MessageError,
    MsgType,
    StreamDecoder,
    Telemetry,
    decode_frame,
)
from tpdevice.protocol import gatt as contract
from tpdevice.protocol.codec import decode_message
from tpdevice.protocol.slip import END
from tpdevice_sim.ble.server import GattPeripheral, bumble_uuid
from tpdevice_sim.ble.spec import BleSlot
from tpdevice_sim.faults import FaultSpec
from tpdevice_sim.framelink import LINE_DOWN_S, FrameLink

__all__ = ["BlePeripheralLink"]

_LOGGER = logging.getLogger(__name__)

_Props = gatt.Characteristic.Properties
_TYPE_OFFSET = 1  # header: version, type, ...


class BlePeripheralLink(FrameLink):
    """A native gun advertising its service on a radio; one client at a time."""

    def __init__(
        self,
        faults: FaultSpec | None = None,
        *,
        slot: BleSlot,
        rng: random.Random | None = None,
        line_down_s: float = LINE_DOWN_S,
    ) -> None:
        super().__init__(faults, rng=rng, line_down_s=line_down_s)
        self.slot = slot
        self.command: gatt.Characteristic[bytes] = gatt.Characteristic(
            bumble_uuid(contract.COMMAND_CHAR_UUID),
            _Props.WRITE | _Props.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_command),
        )
        self.event: gatt.Characteristic[bytes] = gatt.Characteristic(
            bumble_uuid(contract.EVENT_CHAR_UUID),
            _Props.NOTIFY,
            gatt.Characteristic.READABLE,
            b"",
        )
        service = gatt.Service(
            bumble_uuid(contract.NATIVE_SERVICE_UUID), [self.command, self.event]
        )
        self.peripheral = GattPeripheral(
            slot.hci,
            slot.identity,
            contract.NATIVE_SERVICE_UUID,
            [service],
            battery_pct=self._battery_pct,
            on_connection=self._on_connection,
        )

    def _init_link(self) -> None:
        self._last_telemetry: bytes | None = None

    @property
    def connected(self) -> bool:
        """True while a client is connected (the gun does not advertise meanwhile)."""
        return self.peripheral.connection is not None

    def send(self, frames: Sequence[bytes]) -> None:
        """Send raw frames; the newest TELEMETRY is kept for the Battery service."""
        for raw in frames:
            if len(raw) > _TYPE_OFFSET and raw[_TYPE_OFFSET] == MsgType.TELEMETRY:
                self._last_telemetry = raw
        super().send(frames)

    async def _open(self) -> None:
        await self.peripheral.open()
        self.address = self.peripheral.address

    async def _close(self) -> None:
        await self.peripheral.close()

    def _write(self, data: bytes) -> None:
        """Whole SLIP frames: each goes out alone, cut to the connection's MTU - 3."""
        for chunk in data.split(END):
            if chunk and not self.peripheral.notify(self.event, END + chunk + END):
                return  # no subscribed client: like a UART nobody listens to

    def _drop(self) -> None:
        """Injected disconnect: the radio link is lost (both ends see a supervision timeout)."""
        self.peripheral.drop_connection()

    def _on_command(self, connection: Connection, value: bytes) -> None:
        if connection is self.peripheral.connection:
            self._received(bytes(value))

    def _on_connection(self, connection: Connection | None) -> None:
        """A new client starts from a clean decoder; nothing delayed reaches it."""
        self._rx_line.clear()
        self._tx_line.clear()
        self.decoder = StreamDecoder()
        if connection is not None:
            _LOGGER.info("%s: client %s connected", self.address, connection.peer_address)
            self._connected()

    def _battery_pct(self) -> int:
        raw = self._last_telemetry
        if raw is None:
            return 100
        try:
            message = decode_message(decode_frame(raw))
        except (FrameError, MessageError):
            return 100
        return message.battery_pct if isinstance(message, Telemetry) else 100
