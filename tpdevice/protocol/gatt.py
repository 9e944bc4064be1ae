"""The BLE contract of the guns: GATT UUIDs, advertised names, simulated addresses, ATT sizes.

Native guns carry the same SLIP-encoded frames as a serial line: host -> gun as writes to
COMMAND_CHAR_UUID, gun -> host as notifications of EVENT_CHAR_UUID. Every write or
notification carries part of exactly one frame, at most `att_payload_size(mtu)` bytes; the
receiver feeds the chunks, in order (ATT keeps it), into its SLIP stream decoder.
"""

from __future__ import annotations

__all__ = [
    "ATT_DEFAULT_MTU",
    "ATT_HEADER_SIZE",
    "ATT_MAX_MTU",
    "BATTERY_LEVEL_UUID",
    "BATTERY_SERVICE_UUID",
    "BLUETOOTH_BASE_UUID",
    "COMMAND_CHAR_UUID",
    "DEVICE_INFORMATION_SERVICE_UUID",
    "EVENT_CHAR_UUID",
    "FIRMWARE_REVISION_UUID",
    "MANUFACTURER_NAME_UUID",
    "MODEL_NUMBER_UUID",
    "NATIVE_NAME_PREFIX",
    "NATIVE_SERVICE_UUID",
    "SERIAL_NUMBER_UUID",
    "SIM_ADDRESS_PREFIX",
    "SIM_MAX_GUNS",
    "THERAGUN_NAMES",
    "THERAGUN_NOTIFY_UUID",
    "THERAGUN_SERVICE_UUID",
    "THERAGUN_WRITE_UUID",
    "att_payload_size",
    "native_name",
    "sim_address",
    "split_for_att",
    "uuid16",
]

BLUETOOTH_BASE_UUID = "00000000-0000-1000-8000-00805f9b34fb"


def uuid16(short: int) -> str:
    """A 16-bit SIG UUID as its full 128-bit string (lower case, on the Bluetooth base UUID)."""
    if not 0 <= short <= 0xFFFF:
        raise ValueError(f"a 16-bit UUID must be 0..0xFFFF, got {short:#x}")
    return f"0000{short:04x}{BLUETOOTH_BASE_UUID[8:]}"


# Native protocol over BLE.
NATIVE_SERVICE_UUID = "7e1a0001-5c2b-4d8e-9f21-3b6a7c0d9e10"
COMMAND_CHAR_UUID = "7e1a0002-5c2b-4d8e-9f21-3b6a7c0d9e10"  # write + write without response
EVENT_CHAR_UUID = "7e1a0003-5c2b-4d8e-9f21-3b6a7c0d9e10"  # notify

# Theragun Gen 4 (public write-up: the buttplug.io protocol notes).
THERAGUN_SERVICE_UUID = uuid16(0xFFE0)
THERAGUN_NOTIFY_UUID = uuid16(0xFFE1)
THERAGUN_WRITE_UUID = uuid16(0xFFE2)  # written with response
THERAGUN_NAMES = ("Pro", "Elite", "Prime")

# Standard services every simulated gun offers.
DEVICE_INFORMATION_SERVICE_UUID = uuid16(0x180A)
MANUFACTURER_NAME_UUID = uuid16(0x2A29)
MODEL_NUMBER_UUID = uuid16(0x2A24)
SERIAL_NUMBER_UUID = uuid16(0x2A25)
FIRMWARE_REVISION_UUID = uuid16(0x2A26)
BATTERY_SERVICE_UUID = uuid16(0x180F)
BATTERY_LEVEL_UUID = uuid16(0x2A19)  # uint8 percent, read + notify

# Names and addresses of simulated guns.
NATIVE_NAME_PREFIX = "tpdevice-"
SIM_ADDRESS_PREFIX = "F0:7D:00:00:00:"  # static random (top bits 11); last byte = gun index + 1
SIM_MAX_GUNS = 254

# ATT sizes.
ATT_DEFAULT_MTU = 23
ATT_MAX_MTU = 517
ATT_HEADER_SIZE = 3  # opcode + handle in front of a write or notification value


def native_name(serial: str) -> str:
    """The advertised name of a native gun with this serial, e.g. `tpdevice-SIM-0000`."""
    return f"{NATIVE_NAME_PREFIX}{serial}"


def sim_address(index: int) -> str:
    """The BLE address of simulated gun `index` (0-based): F0:7D:00:00:00:01 for the first."""
    if not 0 <= index < SIM_MAX_GUNS:
        raise ValueError(f"simulated gun index must be 0..{SIM_MAX_GUNS - 1}, got {index}")
    return f"{SIM_ADDRESS_PREFIX}{index + 1:02X}"


def att_payload_size(mtu: int) -> int:
    """Largest write or notification value an ATT MTU allows (MTU - 3)."""
    if not ATT_DEFAULT_MTU <= mtu <= ATT_MAX_MTU:
        raise ValueError(f"ATT MTU must be {ATT_DEFAULT_MTU}..{ATT_MAX_MTU}, got {mtu}")
    return mtu - ATT_HEADER_SIZE


def split_for_att(encoded_frame: bytes, mtu: int) -> list[bytes]:
    """One SLIP-encoded frame cut into in-order chunks of at most MTU - 3 bytes each."""
    size = att_payload_size(mtu)
    return [encoded_frame[i : i + size] for i in range(0, len(encoded_frame), size)]
