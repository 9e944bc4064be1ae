"""Simulated guns as BLE peripherals on a bumble virtual radio (needs the `ble-sim` extra).

Importing this package does not import bumble; `simulator.ble.spec` is bumble-free too, and
`open_hci` says in one line when bumble is missing.
"""

from tpdevice_sim.ble.spec import (
    BleHciError,
    BleIdentity,
    BleSlot,
    BleUnavailableError,
    PeripheralHci,
    open_hci,
)

__all__ = [
    "BleHciError",
    "BleIdentity",
    "BleSlot",
    "BleUnavailableError",
    "PeripheralHci",
    "open_hci",
]
