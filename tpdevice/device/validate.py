"""Check commands against the device's CAPABILITIES before anything is sent."""

from __future__ import annotations

import math

from tpdevice.device.errors import DeviceRangeError, DeviceUnsupportedError
from tpdevice.protocol import Capabilities, Feature, ProgramStep, SetOutput

__all__ = ["check_feature", "check_output", "check_program"]

_FORCE_FIELDS = ("force_target_n", "force_tolerance_n", "force_cap_n", "force_ramp_n_per_s")


def check_output(address: str, caps: Capabilities, output: SetOutput | ProgramStep) -> None:
    """DeviceRangeError (naming field, value and range) unless the device accepts the values."""
    where = f"{address}: " if isinstance(output, SetOutput) else f"{address}: step {output.index}: "
    freq_hz = output.freq_hz
    if not math.isfinite(freq_hz) or (
        freq_hz != 0 and not caps.freq_min_hz <= freq_hz <= caps.freq_max_hz
    ):
        raise DeviceRangeError(
            f"{where}freq_hz={freq_hz:g} is outside the device range "
            f"{caps.freq_min_hz:g}..{caps.freq_max_hz:g} Hz (or 0 for off)"
        )
    for name in _FORCE_FIELDS:
        value = getattr(output, name)
        if not (math.isfinite(value) and value >= 0):
            raise DeviceRangeError(f"{where}{name}={value:g} must be a number >= 0")
    for name in ("force_target_n", "force_tolerance_n", "force_cap_n"):
        value = getattr(output, name)
        if value > caps.force_max_n:
            raise DeviceRangeError(
                f"{where}{name}={value:g} exceeds the device maximum {caps.force_max_n:g} N"
            )
    if output.force_cap_n and output.force_target_n > output.force_cap_n:
        raise DeviceRangeError(
            f"{where}force_target_n={output.force_target_n:g} exceeds its "
            f"force_cap_n={output.force_cap_n:g} N"
        )


def check_program(address: str, caps: Capabilities, steps: list[ProgramStep]) -> None:
    """DeviceRangeError unless the device runs programs and takes this many valid steps."""
    check_feature(address, caps, Feature.PROGRAM, "programs")
    if not 1 <= len(steps) <= caps.max_program_steps:
        raise DeviceRangeError(
            f"{address}: a program of {len(steps)} steps; the device takes "
            f"1..{caps.max_program_steps}"
        )
    for step in steps:
        check_output(address, caps, step)


def check_feature(address: str, caps: Capabilities, feature: Feature, what: str) -> None:
    """DeviceUnsupportedError when the device does not report the feature bit."""
    if not caps.features & feature:
        raise DeviceUnsupportedError(
            f"{address}: the device ({caps.model}) does not support {what}"
        )
