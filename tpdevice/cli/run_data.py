"""What the run's outputs are given: the run's header and the gun's latest reading."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Reading", "RunHeader"]


@dataclass(frozen=True, slots=True)
class Reading:
    """What the gun measures now: percussion rate and pressure."""

    freq_hz: float
    force_n: float
    contact: bool = False
    battery_pct: int | None = None  # None: the gun does not report it
    motor_temp_c: float | None = None


@dataclass(slots=True)
class RunHeader:
    """What the run is; session.started fills in the plan's length and the mode."""

    profile_id: str
    title: str
    region: str
    side: str
    device: str
    total_s: float = 0.0
    step_count: int = 0
    mode: str = ""
    force_sensing: bool = True  # session.started: False when the gun measures no force
