"""A profile against a device: the ranges both allow and what the device can sense or run."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tpdevice.errors import TpDeviceError
from tpdevice.protocol import Capabilities, Feature
from tpdevice.therapy.profile import Profile, SafetyCaps, fmt_num

__all__ = ["CompatibilityError", "DeviceFit", "SessionError", "fit_device"]


class SessionError(TpDeviceError):
    """A session cannot start or go on (one line naming profile, device and cause)."""


class CompatibilityError(SessionError):
    """The profile and the device share no usable range."""


@dataclass(frozen=True, slots=True)
class DeviceFit:
    """Limits of one profile on one device: every setpoint stays inside these."""

    freq_min_hz: float  # motor-on frequencies lie in [freq_min_hz, freq_max_hz]
    freq_max_hz: float
    force_cap_n: float  # min(profile caps.max_force_n, device force_max_n)
    force_sensing: bool  # the device measures force (coaching, contact by force)
    contact_sensing: bool  # force or a contact sensor tells contact
    program: bool  # the device runs programs (firmware mode)
    max_program_steps: int
    model: str = ""
    force_output: bool = True  # the device takes force fields (False: they go out as 0)

    @classmethod
    def unlimited(cls, caps: SafetyCaps) -> DeviceFit:
        """The profile's own caps, for compiling without a device."""
        return cls(
            freq_min_hz=caps.freq_min_hz, freq_max_hz=caps.freq_max_hz,
            force_cap_n=_floor(caps.max_force_n, 1), force_sensing=True, contact_sensing=True,
            program=True, max_program_steps=0xFFFF,
        )  # fmt: skip

    def clamp_freq(self, freq_hz: float) -> float:
        """0 stays 0 (motor off); anything else lands in the range, on the 0.01 Hz wire grid."""
        if freq_hz <= 0:
            return 0.0
        low, high = _ceil(self.freq_min_hz, 2), _floor(self.freq_max_hz, 2)
        return min(max(round(freq_hz, 2), low), high)


def _floor(value: float, digits: int) -> float:
    """value rounded down to `digits` decimals (a wire unit), never above value."""
    scale = 10**digits
    return float(math.floor(value * scale + 1e-9) / scale)


def _ceil(value: float, digits: int) -> float:
    """value rounded up to `digits` decimals, never below value."""
    scale = 10**digits
    return float(math.ceil(value * scale - 1e-9) / scale)


def fit_device(profile: Profile, caps: Capabilities | None, address: str = "") -> DeviceFit:
    """The limits for this profile on this device; CompatibilityError if none fit."""
    if caps is None:
        return DeviceFit.unlimited(profile.caps)
    where = f"{profile.id} on {address or caps.model}"
    low = max(profile.caps.freq_min_hz, caps.freq_min_hz)
    high = min(profile.caps.freq_max_hz, caps.freq_max_hz)
    if _ceil(low, 2) > _floor(high, 2):
        raise CompatibilityError(
            f"{where}: the profile's {fmt_num(profile.caps.freq_min_hz)}.."
            f"{fmt_num(profile.caps.freq_max_hz)} Hz and the device's "
            f"{fmt_num(caps.freq_min_hz)}..{fmt_num(caps.freq_max_hz)} Hz do not overlap"
        )
    features = Feature(caps.features)
    device_force_n = caps.force_max_n
    force_output = device_force_n > 0
    if not force_output and not features & Feature.FORCE_SENSOR:
        device_force_n = math.inf  # a gun that knows nothing of force: the band is a cue only
    force_cap_n = _floor(min(profile.caps.max_force_n, device_force_n), 1)
    if force_cap_n <= 0:
        raise CompatibilityError(f"{where}: the device reports no usable force range")
    return DeviceFit(
        freq_min_hz=low,
        freq_max_hz=high,
        force_cap_n=force_cap_n,
        force_sensing=bool(features & Feature.FORCE_SENSOR),
        contact_sensing=bool(features & (Feature.FORCE_SENSOR | Feature.CONTACT_SENSOR)),
        program=bool(features & Feature.PROGRAM),
        max_program_steps=caps.max_program_steps,
        model=caps.model,
        force_output=force_output,
    )
