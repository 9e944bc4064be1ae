"""Behaviour of the simulator's clocks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest

from tpdevice_sim.clock import ManualClock, RealClock, ScaledClock, SimClock


class _FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_scaled_clock_runs_scale_times_faster() -> None:
    real = _FakeMonotonic()
    clock = ScaledClock(10.0, monotonic=real)
    assert clock.now_s() == 0.0
    real.now += 0.5
    assert clock.now_s() == pytest.approx(5.0)
    assert clock.real_delay_s(5.0) == pytest.approx(0.5)
    assert clock.real_delay_s(-1.0) == 0.0


def test_scaled_clock_starts_at_start_s() -> None:
    real = _FakeMonotonic()
    clock = ScaledClock(2.0, start_s=100.0, monotonic=real)
    real.now += 1.0
    assert clock.now_s() == pytest.approx(102.0)


@pytest.mark.parametrize("scale", [0.0, -1.0, math.inf, math.nan])
def test_scaled_clock_rejects_bad_scale(scale: float) -> None:
    with pytest.raises(ValueError, match="time scale must be a finite number > 0"):
        ScaledClock(scale)


def test_real_clock_follows_monotonic() -> None:
    clock = RealClock()
    first = clock.now_s()
    time.sleep(0.01)
    assert clock.now_s() - first >= 0.009
    assert clock.real_delay_s(0.25) == 0.25


def test_manual_clock_moves_only_when_advanced() -> None:
    clock = ManualClock(start_s=3.0)
    assert clock.now_s() == 3.0
    assert clock.advance(0.5) == 3.5
    assert clock.now_s() == 3.5
    assert clock.real_delay_s(10.0) == 0.0


@pytest.mark.parametrize("dt_s", [-0.1, math.nan, math.inf])
def test_manual_clock_rejects_bad_advance(dt_s: float) -> None:
    with pytest.raises(ValueError, match="dt_s"):
        ManualClock().advance(dt_s)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RealClock(start_s=5.0),
        lambda: ScaledClock(4.0, start_s=5.0),
        lambda: ManualClock(start_s=5.0),
    ],
    ids=["real", "scaled", "manual"],
)
def test_every_clock_starts_at_start_s_and_never_goes_back(make: Callable[[], SimClock]) -> None:
    clock = make()
    readings = [clock.now_s() for _ in range(1000)]
    assert 5.0 <= readings[0] < 6.0
    assert readings == sorted(readings)
    assert clock.real_delay_s(-1.0) == 0.0
    assert 0.0 <= clock.real_delay_s(1.0) <= 1.0
