"""What a simulated BLE gun needs before any bumble object exists: identity and an HCI to use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tpdevice.protocol.gatt import native_name

if TYPE_CHECKING:
    from bumble.transport.common import Transport

__all__ = [
    "SIM_ADDRESS_PREFIX",
    "SIM_MAX_GUNS",
    "BleHciError",
    "BleIdentity",
    "BleSlot",
    "BleUnavailableError",
    "PeripheralHci",
    "open_hci",
    "sim_address",
]

SIM_ADDRESS_PREFIX = "F0:7D:00:00:00:"  # static random (top bits 11); last byte = gun index + 1
SIM_MAX_GUNS = 254


def sim_address(index: int) -> str:
    """The BLE address of simulated gun `index` (0-based): F0:7D:00:00:00:01 for the first."""
    if not 0 <= index < SIM_MAX_GUNS:
        raise ValueError(f"simulated gun index must be 0..{SIM_MAX_GUNS - 1}, got {index}")
    return f"{SIM_ADDRESS_PREFIX}{index + 1:02X}"


MANUFACTURER = "tpdevice simulator"
BUMBLE_HINT = (
    'BLE simulation needs bumble, the "ble-sim" extra: pip install "tpdevice[ble-sim]" '
    '(from a source checkout: pip install -e ".[ble-sim]")'
)


class BleUnavailableError(RuntimeError):
    """bumble (the `ble-sim` extra) is not installed, or needs a newer Python."""


class BleHciError(OSError):
    """A controller could not be opened or did not act like one (one line, names the HCI)."""


@dataclass(frozen=True, slots=True)
class BleIdentity:
    """What a gun shows over BLE before any protocol: address, name, Device Information."""

    index: int
    name: str
    model: str
    serial: str
    firmware: str
    manufacturer: str = MANUFACTURER

    @classmethod
    def native(cls, index: int, serial: str, model: str, firmware: str) -> BleIdentity:
        """A native gun: named `tpdevice-<serial>`."""
        return cls(index, native_name(serial), model, serial, firmware)

    @property
    def address(self) -> str:
        """The static random address of gun `index`: F0:7D:00:00:00:NN."""
        return sim_address(self.index)


class PeripheralHci(Protocol):
    """Where a peripheral's controller comes from: the virtual radio or a real adapter."""

    @property
    def virtual(self) -> bool:
        """True on the virtual radio (no 31-byte advertising limit; clients attach over HCI)."""
        ...

    @property
    def address_query(self) -> str:
        """What follows `ble://ADDRESS` in a gun's address (e.g. `?hci=tcp-client:...`)."""
        ...

    async def open_peripheral_hci(self, name: str) -> Transport:
        """A controller for one more peripheral, as a bumble Transport (source + sink)."""
        ...

    async def close(self) -> None:
        """Release what is shared (the HCI server); idempotent."""
        ...


@dataclass(frozen=True, slots=True)
class BleSlot:
    """One gun's place on a radio: the HCI its controller comes from, and who it is."""

    hci: PeripheralHci
    identity: BleIdentity


def open_hci(spec: str | None = None) -> PeripheralHci:
    """A new VirtualRadio (spec None) or a real controller (`usb:0`); BleUnavailableError."""
    try:
        from tpdevice_sim.ble.radio import ExternalHci, VirtualRadio
    except ImportError as err:
        raise BleUnavailableError(BUMBLE_HINT) from err
    return VirtualRadio() if spec is None else ExternalHci(spec)
