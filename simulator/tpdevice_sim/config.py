"""What one simulated firmware is, as data: gun model, identity, limits and features."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from tpdevice.protocol import Feature
from tpdevice_sim.physics import DEFAULT_MODEL, PRESETS, GunModelSpec

__all__ = ["ALL_FEATURES", "FirmwareConfig", "spread_phase"]

ALL_FEATURES = (
    Feature.FORCE_SENSOR
    | Feature.CONTACT_SENSOR
    | Feature.PROGRAM
    | Feature.TIME_SYNC
    | Feature.BATTERY
    | Feature.TEMPERATURE
)


_GOLDEN_STEP = 0.6180339887498949  # consecutive multiples stay evenly spread over 0..1


def spread_phase(seed: int) -> float:
    """A telemetry phase for the gun of this seed: seed 0 at 0, the next ones spread evenly."""
    return (seed * _GOLDEN_STEP) % 1.0


@dataclass(frozen=True, kw_only=True)
class FirmwareConfig:
    """One firmware build on one gun model; remove FORCE_SENSOR for a 'no force sensor' gun."""

    spec: GunModelSpec = field(default_factory=lambda: PRESETS[DEFAULT_MODEL])
    serial: str = "SIM-0000"
    firmware_version: str = "sim-1.0.0"
    watchdog_default_ms: int = 1000
    watchdog_min_ms: int = 100
    watchdog_max_ms: int = 10_000
    telemetry_max_hz: int = 50
    max_program_steps: int = 512
    features: Feature = ALL_FEATURES
    # Longest physics step while the motor turns; bounds cap/contact detection lateness.
    tick_s: float = 0.01
    # Longest physics step while the motor turns but the force cannot reach a threshold the
    # firmware watches (cap, contact, stall): rate slews and lags are exact for any step.
    quiet_step_s: float = 0.25
    # Longest physics step while idle: only heat and charge change, both slowly.
    idle_step_s: float = 1.0
    # Where this gun's telemetry falls within a period (0..1): each gun samples on its own
    # clock, so guns greeted at one instant do not all send at one instant.
    telemetry_phase: float = 0.0
    # Device seconds per real second. The link timers (watchdog, event retransmits, pull
    # repeats) guard a real host connection, so they keep real time under a time scale.
    time_scale: float = 1.0
    # has() answers per physics step: enum flag arithmetic is too slow for that, so memoize.
    _has_memo: dict[Feature, bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Raise ValueError for limits no firmware could grant."""
        if not 1 <= self.watchdog_min_ms <= self.watchdog_default_ms <= self.watchdog_max_ms:
            raise ValueError("need 1 <= watchdog_min_ms <= watchdog_default_ms <= watchdog_max_ms")
        if self.watchdog_max_ms > 0xFFFF:
            raise ValueError(f"watchdog_max_ms={self.watchdog_max_ms} does not fit in u16")
        if not 1 <= self.telemetry_max_hz <= 0xFF:
            raise ValueError(f"telemetry_max_hz={self.telemetry_max_hz} must be 1..255")
        if not 1 <= self.max_program_steps <= 0xFFFF:
            raise ValueError(f"max_program_steps={self.max_program_steps} must be 1..65535")
        if not 0.0 < self.tick_s <= self.idle_step_s:
            raise ValueError("need 0 < tick_s <= idle_step_s")
        if not self.quiet_step_s > 0.0:
            raise ValueError(f"quiet_step_s={self.quiet_step_s} must be > 0")
        if not 0.0 <= self.telemetry_phase < 1.0:
            raise ValueError(f"telemetry_phase={self.telemetry_phase} must be in [0, 1)")
        if not self.time_scale > 0.0:
            raise ValueError(f"time_scale={self.time_scale} must be > 0")

    @functools.cached_property
    def busy_step_s(self) -> float:
        """Longest busy physics step far from any watched threshold (tick_s..idle_step_s)."""
        return min(self.idle_step_s, max(self.tick_s, self.quiet_step_s))

    def link_s(self, real_s: float) -> float:
        """A link timer's span in device seconds (link timers keep real time)."""
        return real_s * self.time_scale

    def has(self, feature: Feature) -> bool:
        """True if the firmware advertises this feature bit."""
        known = self._has_memo.get(feature)
        if known is None:
            known = self._has_memo[feature] = bool(self.features & feature)
        return known

    def grant_watchdog_ms(self, requested_ms: int) -> int:
        """The request clamped to the limits; 0 means the default (it cannot be switched off)."""
        if requested_ms == 0:
            return self.watchdog_default_ms
        return min(max(requested_ms, self.watchdog_min_ms), self.watchdog_max_ms)

    def grant_telemetry_hz(self, requested_hz: int) -> int:
        """The request clamped to 1..telemetry_max_hz."""
        return min(max(requested_hz, 1), self.telemetry_max_hz)
