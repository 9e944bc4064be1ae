"""The native protocol's BLE contract: GATT UUIDs, advertised names, ATT sizes.

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
    "att_payload_size",
    "native_name",
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

# Standard services a native gun offers.
DEVICE_INFORMATION_SERVICE_UUID = uuid16(0x180A)
MANUFACTURER_NAME_UUID = uuid16(0x2A29)
MODEL_NUMBER_UUID = uuid16(0x2A24)
SERIAL_NUMBER_UUID = uuid16(0x2A25)
FIRMWARE_REVISION_UUID = uuid16(0x2A26)
BATTERY_SERVICE_UUID = uuid16(0x180F)
BATTERY_LEVEL_UUID = uuid16(0x2A19)  # uint8 percent, read + notify

# The advertised name of a native gun.
NATIVE_NAME_PREFIX = "tpdevice-"

# ATT sizes.
ATT_DEFAULT_MTU = 23
ATT_MAX_MTU = 517
ATT_HEADER_SIZE = 3  # opcode + handle in front of a write or notification value


def native_name(serial: str) -> str:
    """The advertised name of a native gun with this serial, e.g. `tpdevice-SIM-0000`."""
    return f"{NATIVE_NAME_PREFIX}{serial}"


def att_payload_size(mtu: int) -> int:
    """Largest write or notification value an ATT MTU allows (MTU - 3)."""
    if not ATT_DEFAULT_MTU <= mtu <= ATT_MAX_MTU:
        raise ValueError(f"ATT MTU must be {ATT_DEFAULT_MTU}..{ATT_MAX_MTU}, got {mtu}")
    return mtu - ATT_HEADER_SIZE


def split_for_att(encoded_frame: bytes, mtu: int) -> list[bytes]:
    """One SLIP-encoded frame cut into in-order chunks of at most MTU - 3 bytes each."""
    size = att_payload_size(mtu)
    return [encoded_frame[i : i + size] for i in range(0, len(encoded_frame), size)]
