"""Pure physical models of a percussive gun: motor, hand contact, battery, heat. No I/O, seeded."""

from __future__ import annotations

import enum
import math
import random
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "DEFAULT_MODEL",
    "PRESETS",
    "BatteryModel",
    "ContactModel",
    "ContactScenario",
    "GunModelSpec",
    "GunPhysics",
    "MotorModel",
    "PhysicsReading",
    "ThermalModel",
]


def _check_dt(dt_s: float) -> None:
    """Raise ValueError unless dt_s is a finite number >= 0."""
    if not (dt_s >= 0.0 and math.isfinite(dt_s)):
        raise ValueError(f"dt_s must be a finite number >= 0, got {dt_s}")


def _approach(value: float, goal: float, dt_s: float, tau_s: float) -> float:
    """First-order lag of value toward goal over dt_s; exact for any step size."""
    if tau_s <= 0.0:
        return goal
    return goal + (value - goal) * math.exp(-dt_s / tau_s)


# Bounds on random terms reach 4 standard deviations: a sample beyond is rarer than 1 in 15 000.
_BOUND_SIGMAS = 4.0


def _event_in(rng: random.Random, rate_per_s: float, dt_s: float) -> bool:
    """True if a Poisson event of rate_per_s happens within dt_s."""
    if rate_per_s <= 0.0 or dt_s <= 0.0:
        return False
    return rng.random() < -math.expm1(-rate_per_s * dt_s)


@dataclass(kw_only=True)
class MotorModel:
    """Percussion motor: the rate slews toward the target clamped to the range; target 0 = off."""

    rng: random.Random = field(repr=False, compare=False)
    freq_min_hz: float = 29.0
    freq_max_hz: float = 40.0
    stall_force_n: float = 200.0
    slew_hz_per_s: float = 40.0
    # Braking is quicker than spinning up: the controller shorts the windings.
    slew_down_hz_per_s: float = 100.0
    noise_hz: float = 0.15
    target_freq_hz: float = 0.0
    freq_hz: float = 0.0
    measured_freq_hz: float = 0.0

    def __post_init__(self) -> None:
        """Reject ranges and rates that no motor has."""
        if not 0.0 < self.freq_min_hz <= self.freq_max_hz:
            raise ValueError(
                f"need 0 < freq_min_hz <= freq_max_hz, got {self.freq_min_hz}, {self.freq_max_hz}"
            )
        if min(self.slew_hz_per_s, self.slew_down_hz_per_s, self.stall_force_n) <= 0.0:
            raise ValueError("slew rates and stall_force_n must be > 0")

    @property
    def goal_freq_hz(self) -> float:
        """Rate the motor heads for with no load: 0 when off, else the target clamped to range."""
        if self.target_freq_hz <= 0.0:
            return 0.0
        return min(max(self.target_freq_hz, self.freq_min_hz), self.freq_max_hz)

    @property
    def running(self) -> bool:
        """True while the motor turns (including a ramp down to 0)."""
        return self.freq_hz > 0.0

    def stalling(self, force_n: float) -> bool:
        """True if force_n is above the stall force, so the rate sags."""
        return force_n > self.stall_force_n

    def step(self, dt_s: float, force_n: float = 0.0, *, powered: bool = True) -> float:
        """Advance dt_s under force_n; return the measured (noisy) rate in Hz."""
        _check_dt(dt_s)
        return self._advance(dt_s, force_n, powered)

    def _advance(self, dt_s: float, force_n: float, powered: bool) -> float:
        """`step` for a checked dt_s (goal_freq_hz and stalling inlined: once per step)."""
        target_hz = self.target_freq_hz
        goal_hz = (
            min(max(target_hz, self.freq_min_hz), self.freq_max_hz)
            if powered and target_hz > 0.0
            else 0.0
        )
        stall_n = self.stall_force_n
        if force_n > stall_n:
            # Torque is exhausted above stall: the rate falls roughly inversely with load.
            goal_hz *= stall_n / force_n
        if goal_hz > self.freq_hz:
            self.freq_hz = min(goal_hz, self.freq_hz + self.slew_hz_per_s * dt_s)
        else:
            self.freq_hz = max(goal_hz, self.freq_hz - self.slew_down_hz_per_s * dt_s)
        noisy_hz = self.freq_hz + self.rng.gauss(0.0, self.noise_hz)
        self.measured_freq_hz = max(0.0, noisy_hz) if self.freq_hz > 0.0 else 0.0
        return self.measured_freq_hz


class ContactScenario(enum.StrEnum):
    """How the simulated therapist's hand presses the gun on the tissue."""

    NONE = "none"
    STEADY = "steady"
    FOLLOW_BAND = "follow_band"
    HEAVY_SPIKES = "heavy_spikes"


@dataclass(kw_only=True)
class ContactModel:
    """Force of the head on the tissue per scenario; contact means force >= the threshold."""

    rng: random.Random = field(repr=False, compare=False)
    scenario: ContactScenario = ContactScenario.FOLLOW_BAND
    contact_threshold_n: float = 3.0
    tau_s: float = 0.8
    # Lifting the gun off is much quicker than pressing into tissue.
    release_tau_s: float = 0.1
    noise_n: float = 0.5
    steady_force_n: float = 20.0
    wander_fraction: float = 0.3
    wander_tau_s: float = 3.0
    lift_rate_per_s: float = 0.0
    lift_duration_s: float = 1.0
    spike_rate_per_s: float = 0.25
    spike_factor: float = 1.6
    spike_duration_s: float = 0.3
    spike_tau_s: float = 0.05
    time_s: float = 0.0
    force_n: float = 0.0
    _hand_n: float = field(default=0.0, init=False, repr=False)
    _wander: float = field(default=0.0, init=False, repr=False)
    _lifted_until_s: float = field(default=-math.inf, init=False, repr=False)
    _spike_until_s: float = field(default=-math.inf, init=False, repr=False)
    # Bumped by every scripted change (scenario, lift-off, touch-down): force bounds given
    # before it no longer hold.
    revision: int = field(default=0, init=False, repr=False, compare=False)

    @property
    def contact(self) -> bool:
        """True while the measured force is at or above contact_threshold_n."""
        return self.force_n >= self.contact_threshold_n

    @property
    def lifted(self) -> bool:
        """True during a lift-off (scripted or random)."""
        return self.time_s < self._lifted_until_s

    def set_scenario(self, scenario: ContactScenario | str) -> None:
        """Switch scenario from the next step on; accepts the enum or its value."""
        self.scenario = ContactScenario(scenario)
        self.revision += 1

    def lift_off(self, duration_s: float) -> None:
        """Lift the gun off the tissue for duration_s of model time from now."""
        self._lifted_until_s = self.time_s + max(0.0, duration_s)
        self.revision += 1

    def touch_down(self) -> None:
        """End a lift-off now."""
        self._lifted_until_s = -math.inf
        self.revision += 1

    def force_bounds_n(
        self,
        low_target_n: float,
        high_target_n: float,
        tolerance_n: float,
        span_s: float,
        *,
        motor_running: bool = True,
    ) -> tuple[float, float] | None:
        """Range of the measured force over span_s with the band target in [low, high]; None if
        a lift-off or spike (random or scripted) may start or end in it."""
        if self.lifted or self.time_s < self._spike_until_s:
            return None
        engaged = motor_running or high_target_n > 0.0
        if self.scenario is ContactScenario.NONE or not engaged:
            return 0.0, max(0.0, self._hand_n)  # no noise while the goal is 0
        spikes = self.scenario is ContactScenario.HEAVY_SPIKES and self.spike_rate_per_s > 0.0
        if spikes or self.lift_rate_per_s > 0.0:
            return None
        if self.scenario is ContactScenario.STEADY:
            goal_low_n = goal_high_n = self.steady_force_n
        else:
            decay = math.exp(-span_s / self.wander_tau_s)
            reach = abs(self._wander) + _BOUND_SIGMAS * math.sqrt(1.0 - decay * decay)
            drift_n = reach * self.wander_fraction * max(0.0, tolerance_n)
            goal_low_n, goal_high_n = max(0.0, low_target_n - drift_n), high_target_n + drift_n
        noise_n = _BOUND_SIGMAS * self.noise_n
        low_n = min(self._hand_n, goal_low_n) - noise_n
        return max(0.0, low_n), max(self._hand_n, goal_high_n) + noise_n

    def step(
        self,
        dt_s: float,
        target_n: float = 0.0,
        tolerance_n: float = 0.0,
        *,
        motor_running: bool = True,
        cap_n: float | None = None,
    ) -> float:
        """Advance dt_s toward the band target_n ± tolerance_n; return the measured force in N."""
        _check_dt(dt_s)
        return self._advance(dt_s, target_n, tolerance_n, motor_running, cap_n)

    def _advance(
        self, dt_s: float, target_n: float, tolerance_n: float, motor_running: bool,
        cap_n: float | None,
    ) -> float:  # fmt: skip
        """`step` for a checked dt_s."""
        self.time_s += dt_s
        goal_n, tau_s = self._goal(dt_s, target_n, tolerance_n, motor_running, cap_n)
        self._hand_n = _approach(self._hand_n, goal_n, dt_s, tau_s)
        if goal_n > 0.0:
            self.force_n = max(0.0, self._hand_n + self.rng.gauss(0.0, self.noise_n))
        else:
            self.force_n = self._hand_n if self._hand_n >= 0.01 else 0.0
        return self.force_n

    def _goal(
        self, dt_s: float, target_n: float, tol_n: float, motor_running: bool, cap_n: float | None
    ) -> tuple[float, float]:
        """Force the hand aims at now and the time constant it gets there with."""
        engaged = motor_running or target_n > 0.0
        # Ask _lifting only when it could say yes: a lift-off under way or random ones possible.
        may_lift = self.lift_rate_per_s > 0.0 or self.time_s < self._lifted_until_s
        if (
            self.scenario is ContactScenario.NONE
            or not engaged
            or (may_lift and self._lifting(dt_s))
        ):
            return 0.0, self.release_tau_s
        if self.scenario is ContactScenario.STEADY:
            return self.steady_force_n, self.tau_s
        if self.scenario is ContactScenario.HEAVY_SPIKES and self._spiking(dt_s):
            limit_n = cap_n if cap_n is not None else target_n + tol_n
            return limit_n * self.spike_factor, self.spike_tau_s
        return max(0.0, target_n + self._wander_n(dt_s, tol_n)), self.tau_s

    def _lifting(self, dt_s: float) -> bool:
        """Scripted lift-off, or start a random one in the band-following scenarios."""
        if self.lifted:
            return True
        if _event_in(self.rng, self.lift_rate_per_s, dt_s):
            self._lifted_until_s = self.time_s + self.lift_duration_s * self.rng.uniform(0.5, 1.5)
            return True
        return False

    def _spiking(self, dt_s: float) -> bool:
        """True during a pressure spike; starts new ones at spike_rate_per_s."""
        if self.time_s < self._spike_until_s:
            return True
        if _event_in(self.rng, self.spike_rate_per_s, dt_s):
            self._spike_until_s = self.time_s + self.spike_duration_s
            return True
        return False

    def _wander_n(self, dt_s: float, tol_n: float) -> float:
        """Slow hand drift inside the band (Ornstein-Uhlenbeck, std wander_fraction * tol_n)."""
        decay = math.exp(-dt_s / self.wander_tau_s)
        kick = math.sqrt(max(0.0, 1.0 - decay * decay)) * self.rng.gauss(0.0, 1.0)
        self._wander = self._wander * decay + kick
        return self._wander * self.wander_fraction * max(0.0, tol_n)


@dataclass(kw_only=True)
class BatteryModel:
    """Battery charge: drains with motor load (rate and force) and slowly at idle."""

    capacity_wh: float = 37.0
    battery_pct: float = 100.0
    idle_power_w: float = 0.05
    no_load_w_per_hz: float = 0.3
    load_w_per_hz_n: float = 0.01
    low_pct: float = 10.0
    power_w: float = 0.0

    def __post_init__(self) -> None:
        """Reject a battery that cannot hold charge."""
        if self.capacity_wh <= 0.0:
            raise ValueError(f"capacity_wh must be > 0, got {self.capacity_wh}")

    @property
    def low_battery(self) -> bool:
        """True below low_pct (10 % by default)."""
        return self.battery_pct < self.low_pct

    @property
    def empty(self) -> bool:
        """True when no charge is left."""
        return self.battery_pct <= 0.0

    def step(self, dt_s: float, freq_hz: float = 0.0, force_n: float = 0.0) -> float:
        """Drain for dt_s at this load; return battery_pct (never rises, never below 0)."""
        _check_dt(dt_s)
        return self._advance(dt_s, freq_hz, force_n)

    def _advance(self, dt_s: float, freq_hz: float, force_n: float) -> float:
        """`step` for a checked dt_s."""
        freq_hz, force_n = max(0.0, freq_hz), max(0.0, force_n)
        self.power_w = (
            self.idle_power_w
            + self.no_load_w_per_hz * freq_hz
            + self.load_w_per_hz_n * freq_hz * force_n
        )
        # W·s over Wh·3600 as a percentage: divide by capacity_wh * 36.
        self.battery_pct = max(
            0.0, self.battery_pct - self.power_w * dt_s / (self.capacity_wh * 36)
        )
        return self.battery_pct


@dataclass(kw_only=True)
class ThermalModel:
    """Motor temperature: heats with rate * force, cools toward ambient; trips with hysteresis."""

    ambient_c: float = 25.0
    motor_temp_c: float = 25.0
    tau_s: float = 240.0
    heat_c_per_hz: float = 0.2
    heat_c_per_hz_n: float = 0.012
    cutoff_c: float = 70.0
    reset_c: float = 55.0
    overheated: bool = False

    def __post_init__(self) -> None:
        """Reject a hysteresis band that could never reset."""
        if not self.reset_c < self.cutoff_c:
            raise ValueError(f"need reset_c < cutoff_c, got {self.reset_c}, {self.cutoff_c}")

    def steady_temp_c(self, freq_hz: float, force_n: float) -> float:
        """Temperature the motor settles at under a constant load."""
        heat_c = self.heat_c_per_hz * freq_hz + self.heat_c_per_hz_n * freq_hz * force_n
        return self.ambient_c + max(0.0, heat_c)

    def step(self, dt_s: float, freq_hz: float = 0.0, force_n: float = 0.0) -> float:
        """Advance dt_s at this load; return motor_temp_c and update overheated."""
        _check_dt(dt_s)
        return self._advance(dt_s, freq_hz, force_n)

    def _advance(self, dt_s: float, freq_hz: float, force_n: float) -> float:
        """`step` for a checked dt_s."""
        goal_c = self.steady_temp_c(max(0.0, freq_hz), max(0.0, force_n))
        self.motor_temp_c = _approach(self.motor_temp_c, goal_c, dt_s, self.tau_s)
        if self.motor_temp_c > self.cutoff_c:
            self.overheated = True
        elif self.motor_temp_c < self.reset_c:
            self.overheated = False
        return self.motor_temp_c


@dataclass(frozen=True, kw_only=True)
class GunModelSpec:
    """What one gun model can do: rate range, force range, stall force, stroke, battery."""

    model: str
    freq_min_hz: float
    freq_max_hz: float
    force_max_n: float
    stall_force_n: float
    stroke_mm: float
    battery_capacity_wh: float
    slew_hz_per_s: float = 40.0

    def __post_init__(self) -> None:
        """Reject specs no gun could have."""
        if not 0.0 < self.freq_min_hz <= self.freq_max_hz:
            raise ValueError(f"{self.model}: need 0 < freq_min_hz <= freq_max_hz")
        if not 0.0 < self.force_max_n <= self.stall_force_n:
            raise ValueError(f"{self.model}: need 0 < force_max_n <= stall_force_n")
        if min(self.stroke_mm, self.battery_capacity_wh, self.slew_hz_per_s) <= 0.0:
            raise ValueError(f"{self.model}: stroke, battery and slew must be > 0")


# Ranges after DESIGN §2: Theragun PRO/Elite/Prime 1750-2400 per minute (29-40 Hz), 16 mm,
# up to 60 lbf (267 N) stall; a mini at 20 lbf (89 N); others reach about 45 Hz with 10 mm.
PRESETS: Mapping[str, GunModelSpec] = types.MappingProxyType(
    {
        "tp-sim-pro": GunModelSpec(
            model="tp-sim-pro", freq_min_hz=29.0, freq_max_hz=40.0, force_max_n=120.0,
            stall_force_n=267.0, stroke_mm=16.0, battery_capacity_wh=37.0,
        ),
        "tp-sim-mini": GunModelSpec(
            model="tp-sim-mini", freq_min_hz=29.0, freq_max_hz=40.0, force_max_n=60.0,
            stall_force_n=89.0, stroke_mm=12.0, battery_capacity_wh=11.0, slew_hz_per_s=50.0,
        ),
        "tp-sim-wide": GunModelSpec(
            model="tp-sim-wide", freq_min_hz=20.0, freq_max_hz=45.0, force_max_n=100.0,
            stall_force_n=180.0, stroke_mm=10.0, battery_capacity_wh=26.0,
        ),
    }
)  # fmt: skip
DEFAULT_MODEL = "tp-sim-pro"


class PhysicsReading(NamedTuple):
    """What the gun's sensors report after a step (a tuple: one is built per physics step)."""

    freq_hz: float
    force_n: float
    contact: bool
    battery_pct: float
    low_battery: bool
    motor_temp_c: float
    overheated: bool
    stalling: bool


@dataclass(kw_only=True)
class GunPhysics:
    """One gun's physics: motor, contact, battery and thermal models stepped together."""

    spec: GunModelSpec
    motor: MotorModel
    contact: ContactModel
    battery: BatteryModel
    thermal: ThermalModel

    @classmethod
    def from_spec(
        cls,
        spec: GunModelSpec,
        rng: random.Random,
        scenario: ContactScenario = ContactScenario.FOLLOW_BAND,
    ) -> GunPhysics:
        """Build the models for spec; each noisy model gets its own stream seeded from rng."""
        motor = MotorModel(
            rng=random.Random(rng.getrandbits(64)),
            freq_min_hz=spec.freq_min_hz,
            freq_max_hz=spec.freq_max_hz,
            stall_force_n=spec.stall_force_n,
            slew_hz_per_s=spec.slew_hz_per_s,
        )
        contact = ContactModel(rng=random.Random(rng.getrandbits(64)), scenario=scenario)
        battery = BatteryModel(capacity_wh=spec.battery_capacity_wh)
        return cls(spec=spec, motor=motor, contact=contact, battery=battery, thermal=ThermalModel())

    def step(
        self,
        dt_s: float,
        *,
        target_n: float = 0.0,
        tolerance_n: float = 0.0,
        cap_n: float | None = None,
    ) -> PhysicsReading:
        """Advance every model by dt_s under the current pressure band; return the readings."""
        _check_dt(dt_s)  # once here: the models' own checks are skipped
        motor, contact, battery, thermal = self.motor, self.contact, self.battery, self.thermal
        engaged = motor.freq_hz > 0.0 or motor.target_freq_hz > 0.0
        force_n = contact._advance(dt_s, target_n, tolerance_n, engaged, cap_n)
        motor._advance(dt_s, force_n, battery.battery_pct > 0.0)
        freq_hz = motor.freq_hz
        battery._advance(dt_s, freq_hz, force_n)
        thermal._advance(dt_s, freq_hz, force_n)
        return self._reading(motor, contact, battery, thermal)

    def reading(self) -> PhysicsReading:
        """The sensors' values now."""
        return self._reading(self.motor, self.contact, self.battery, self.thermal)

    @staticmethod
    def _reading(
        motor: MotorModel, contact: ContactModel, battery: BatteryModel, thermal: ThermalModel
    ) -> PhysicsReading:
        force_n, battery_pct = contact.force_n, battery.battery_pct
        return PhysicsReading(
            motor.measured_freq_hz,
            force_n,
            force_n >= contact.contact_threshold_n,
            battery_pct,
            battery_pct < battery.low_pct,
            thermal.motor_temp_c,
            thermal.overheated,
            force_n > motor.stall_force_n,
        )
