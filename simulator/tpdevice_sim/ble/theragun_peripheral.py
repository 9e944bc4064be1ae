"""Simulated Theragun Gen 4 guns as BLE peripherals: service 0xFFE0, notify 0xFFE1, write 0xFFE2.

Each write to 0xFFE2 goes to a TheragunFirmware as one frame; what it answers goes out as
notifications of 0xFFE1. The firmware's keep-alive ticks on a timer, on the sim clock.
"""

from __future__ import annotations

import asyncio
import logging

from bumble import gatt
from bumble.device import Connection

from tpdevice.protocol import gatt as contract
from tpdevice_sim.ble.server import GattPeripheral, bumble_uuid
from tpdevice_sim.ble.spec import BleIdentity, BleSlot, PeripheralHci, open_hci
from tpdevice_sim.clock import RealClock, ScaledClock, SimClock
from tpdevice_sim.fleet import Fleet, serve
from tpdevice_sim.invariants import Violation
from tpdevice_sim.theragun import THERAGUN_PRESETS, TheragunFirmware

__all__ = [
    "MANUFACTURER",
    "NOTIFY_UUID",
    "SERVICE_UUID",
    "TICK_S",
    "WRITE_UUID",
    "TheragunFleet",
    "TheragunPeripheral",
    "serve",
]

_LOGGER = logging.getLogger(__name__)

# The gun's GATT layout (public write-up: the buttplug.io protocol notes).
SERVICE_UUID = contract.uuid16(0xFFE0)
NOTIFY_UUID = contract.uuid16(0xFFE1)
WRITE_UUID = contract.uuid16(0xFFE2)  # written with response
MANUFACTURER = "Therabody (simulated)"
TICK_S = 0.05  # real seconds between keep-alive checks
_Props = gatt.Characteristic.Properties


class TheragunPeripheral:
    """One TheragunFirmware behind a GATT server; serves one client at a time."""

    def __init__(
        self,
        firmware: TheragunFirmware,
        slot: BleSlot,
        *,
        clock: SimClock | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        self.firmware = firmware
        self.serial = slot.identity.serial
        self.clock: SimClock = clock or RealClock()
        self.tick_s = tick_s
        self.notify_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            bumble_uuid(NOTIFY_UUID),
            _Props.NOTIFY,
            gatt.Characteristic.READABLE,
            b"",
        )
        # Written with response (the notes say so); a write without response is refused.
        self.write_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            bumble_uuid(WRITE_UUID),
            _Props.WRITE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_write),
        )
        service = gatt.Service(bumble_uuid(SERVICE_UUID), [self.notify_char, self.write_char])
        self.peripheral = GattPeripheral(
            slot.hci,
            slot.identity,
            SERVICE_UUID,
            [service],
            battery_pct=lambda: 100,
            on_connection=self._on_connection,
        )
        self._timer: asyncio.TimerHandle | None = None

    @property
    def address(self) -> str:
        """`ble://F0:7D:00:00:00:NN?driver=theragun` (`&hci=...` on a served virtual radio)."""
        target, _, query = self.peripheral.address.partition("?")
        return f"{target}?driver=theragun" + (f"&{query}" if query else "")

    @property
    def connected(self) -> bool:
        """True while a client is connected."""
        return self.peripheral.connection is not None

    @property
    def violations(self) -> list[Violation]:
        """What the firmware's monitor caught (tests expect none)."""
        return self.firmware.violations

    async def start(self) -> None:
        """Advertise and start the keep-alive ticks."""
        await self.peripheral.open()
        self._tick()

    async def stop(self) -> None:
        """Stop ticking and leave the radio; idempotent."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.peripheral.close()
        for violation in self.violations:
            _LOGGER.warning("%s: invariant violated: %s", self.address, violation)

    def _on_write(self, connection: Connection, value: bytes) -> None:
        if connection is self.peripheral.connection:
            self._send(self.firmware.on_write(bytes(value), self.clock.now_s()))

    def _tick(self) -> None:
        self._send(self.firmware.tick(self.clock.now_s()))
        self._timer = asyncio.get_running_loop().call_later(self.tick_s, self._tick)

    def _send(self, notifications: list[bytes]) -> None:
        for notification in notifications:
            self.peripheral.notify(self.notify_char, notification)

    def _on_connection(self, connection: Connection | None) -> None:
        if connection is not None:
            _LOGGER.info("%s: client %s connected", self.address, connection.peer_address)


def theragun_identity(index: int, model: str, firmware: TheragunFirmware) -> BleIdentity:
    """Name = the model (`Pro`, `Elite`, `Prime`), as the real guns advertise."""
    version = f"{firmware.version >> 8}.{firmware.version & 0xFF}"
    serial = f"TG-SIM-{index:04d}"
    return BleIdentity(index, model, f"Theragun {model}", serial, version, MANUFACTURER)


class TheragunFleet(Fleet[TheragunPeripheral]):
    """N simulated Theragun guns of one model on one radio; an async context."""

    def __init__(
        self,
        count: int = 1,
        *,
        model: str = "Pro",
        time_scale: float = 1.0,
        ble_hci: str | None = None,
    ) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if model not in THERAGUN_PRESETS:
            known = ", ".join(THERAGUN_PRESETS)
            raise ValueError(f"unknown Theragun model {model!r} (known: {known})")
        if ble_hci is not None and count != 1:
            raise ValueError(f"a real BLE controller ({ble_hci}) serves one gun")
        clock: SimClock = RealClock() if time_scale == 1.0 else ScaledClock(time_scale)
        self.radio: PeripheralHci = open_hci(ble_hci)
        self.guns: list[TheragunPeripheral] = []
        for index in range(count):
            firmware = TheragunFirmware(model)
            slot = BleSlot(self.radio, theragun_identity(index, model, firmware))
            self.guns.append(TheragunPeripheral(firmware, slot, clock=clock))
