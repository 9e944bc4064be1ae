"""Theragun Gen 4 dialect over BLE, pure: speed and request frames out, notifications in.

Layout after the public buttplug.io notes (stpihkal issue #127): host frames start 0xAA,
gun notifications 0xBB; byte 1 is a checksum, the low byte of the sum of bytes 2..end;
byte 2 says what the frame is. Only what those notes show is decoded; no force field is known.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tpdevice.errors import TpDeviceError

__all__ = [
    "ASSUMED_KEEPALIVE_MS",
    "COMMON",
    "ELITE",
    "MODELS",
    "PRIME",
    "PRO",
    "RPM_LIMIT",
    "STATUS_REQUEST",
    "VERSION_REQUEST",
    "Notification",
    "SpeedCommand",
    "StatusInfo",
    "TheragunError",
    "TheragunModel",
    "UnknownNotification",
    "VersionInfo",
    "checksum",
    "encode_speed",
    "find_model",
    "is_theragun_name",
    "model_for_name",
    "model_for_names",
    "parse_notification",
    "rpm_for_freq",
]

HOST_START = 0xAA
GUN_START = 0xBB
CMD_SPEED = 0x01
CMD_STATUS = 0x10
CMD_VERSION = 0x20
_SPEED_MODE = 0x03  # byte 3 of a speed frame, as the notes show it
_SPEED_TAIL = 0x03  # byte 6 of a speed frame
RPM_LIMIT = 3616  # the highest speed any Gen 4 model takes
# Our assumption, not a documented figure: how long a gun keeps running without a new speed
# frame. The client beats well inside it; the simulated gun enforces it.
ASSUMED_KEEPALIVE_MS = 3000
_VERSION_MIN_LEN = 14  # version in bytes 12..13
_STATUS_MIN_LEN = 15  # running flag in byte 4, rpm in bytes 13..14


class TheragunError(TpDeviceError, ValueError):
    """A value that does not fit a Theragun frame, or a model that cannot exist."""


def checksum(body: bytes) -> int:
    """The low byte of the sum of `body` (bytes 2..end of a frame)."""
    return sum(body) & 0xFF


def _frame(start: int, body: bytes) -> bytes:
    """start byte, checksum of body, body."""
    return bytes((start, checksum(body))) + body


VERSION_REQUEST = _frame(HOST_START, bytes((CMD_VERSION, 0x00)))  # AA 20 20 00
STATUS_REQUEST = _frame(HOST_START, bytes((CMD_STATUS, 0x00)))  # AA 10 10 00


@dataclass(frozen=True, slots=True)
class TheragunModel:
    """One gun model: its name and the speed range it runs, in rpm."""

    name: str
    rpm_min: int
    rpm_max: int

    def __post_init__(self) -> None:
        """Reject ranges no Gen 4 gun has."""
        if not 0 <= self.rpm_min <= self.rpm_max <= RPM_LIMIT:
            raise TheragunError(
                f"Theragun {self.name}: need 0 <= rpm_min <= rpm_max <= {RPM_LIMIT}, "
                f"got {self.rpm_min}..{self.rpm_max}"
            )

    @property
    def freq_min_hz(self) -> float:
        """The lowest percussion rate, in Hz."""
        return self.rpm_min / 60.0

    @property
    def freq_max_hz(self) -> float:
        """The highest percussion rate, in Hz."""
        return self.rpm_max / 60.0


# DESIGN section 2: PRO/Elite/Prime run 1750-2400 per minute. The frame takes up to
# RPM_LIMIT, but nothing runs above a model's range; a gun whose model is not known gets
# COMMON, the range all three share (never the whole 0..RPM_LIMIT of the frame).
PRO = TheragunModel("Pro", 1750, 2400)
ELITE = TheragunModel("Elite", 1750, 2400)
PRIME = TheragunModel("Prime", 1750, 2400)
COMMON = TheragunModel("Gen 4", 1750, 2400)
MODELS = {model.name.lower(): model for model in (PRO, ELITE, PRIME)}
_WORD_RE = re.compile(r"[a-z0-9]+")


def is_theragun_name(ble_name: str | None) -> bool:
    """True for a name a Gen 4 gun uses: a bare model name (`Pro`), or one naming Theragun.

    Service 0xFFE0 alone does not make a Theragun: HM-10 / CC254x serial modules and many
    other gadgets advertise it too, so the name decides.
    """
    words = _WORD_RE.findall((ble_name or "").lower())
    return "theragun" in words or (len(words) == 1 and words[0] in MODELS)


def find_model(ble_name: str | None) -> TheragunModel | None:
    """The model a name denotes ("Pro", "Theragun Elite"); None when it names none."""
    if not is_theragun_name(ble_name):
        return None
    for word in _WORD_RE.findall(str(ble_name).lower()):
        if word in MODELS:
            return MODELS[word]
    return None


def model_for_name(ble_name: str | None) -> TheragunModel:
    """The model a name denotes, else COMMON (the range every Gen 4 model runs)."""
    return find_model(ble_name) or COMMON


def model_for_names(names: Iterable[str]) -> TheragunModel:
    """The model the first name denoting one says (advertised, GAP, DIS), else COMMON."""
    for name in names:
        if (model := find_model(name)) is not None:
            return model
    return COMMON


def rpm_for_freq(freq_hz: float, model: TheragunModel) -> int:
    """Hz x 60 rounded and clamped to the model's range; 0 Hz is 0 rpm (motor off)."""
    if not (math.isfinite(freq_hz) and freq_hz >= 0.0):
        raise TheragunError(f"freq_hz={freq_hz:g} must be a number >= 0")
    if freq_hz == 0.0:
        return 0
    return min(max(round(freq_hz * 60.0), model.rpm_min), model.rpm_max)


@dataclass(frozen=True, slots=True)
class SpeedCommand:
    """Host -> gun, written with response: run at `rpm` (0 stops the motor)."""

    rpm: int

    def __post_init__(self) -> None:
        """Only whole speeds the gun takes."""
        if isinstance(self.rpm, bool) or not isinstance(self.rpm, int):
            raise TheragunError(f"rpm={self.rpm!r} must be an int")
        if not 0 <= self.rpm <= RPM_LIMIT:
            raise TheragunError(f"rpm={self.rpm} is outside 0..{RPM_LIMIT}")

    def encode(self) -> bytes:
        """AA cs 01 03 rpmHi rpmLo 03."""
        body = bytes((CMD_SPEED, _SPEED_MODE, self.rpm >> 8, self.rpm & 0xFF, _SPEED_TAIL))
        return _frame(HOST_START, body)


def encode_speed(rpm: int) -> bytes:
    """The speed frame for `rpm`; TheragunError outside 0..RPM_LIMIT."""
    return SpeedCommand(rpm).encode()


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """Gun -> host, answering VERSION_REQUEST: the firmware version (bytes 12..13)."""

    version: int

    @property
    def text(self) -> str:
        """The version as four hex digits (its meaning beyond that is not documented)."""
        return f"0x{self.version:04X}"


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """Gun -> host, answering STATUS_REQUEST: whether the motor runs, and at what speed."""

    running: bool
    rpm: int


@dataclass(frozen=True, slots=True)
class UnknownNotification:
    """A notification this side cannot decode; `reason` says why."""

    data: bytes
    reason: str


Notification = VersionInfo | StatusInfo | UnknownNotification


def parse_notification(data: bytes) -> Notification:
    """Decode one notification; anything undecodable becomes UnknownNotification."""
    data = bytes(data)
    if len(data) < 3 or data[0] != GUN_START:
        return UnknownNotification(data, "not a notification frame")
    if checksum(data[2:]) != data[1]:
        return UnknownNotification(data, "bad checksum")
    kind = data[2]
    if kind == CMD_VERSION and len(data) >= _VERSION_MIN_LEN:
        return VersionInfo(data[12] << 8 | data[13])
    if kind == CMD_STATUS and len(data) >= _STATUS_MIN_LEN:
        return StatusInfo(running=data[4] != 0, rpm=data[13] << 8 | data[14])
    if kind in (CMD_VERSION, CMD_STATUS):
        return UnknownNotification(data, f"too short for kind 0x{kind:02X}")
    return UnknownNotification(data, f"unknown kind 0x{kind:02X}")
