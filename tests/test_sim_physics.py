"""Behaviour of the simulator's physical models: motor slew, contact, battery, heat."""

from __future__ import annotations

import random

import pytest

from tpdevice_sim.physics import (
    DEFAULT_MODEL,
    PRESETS,
    BatteryModel,
    ContactModel,
    ContactScenario,
    GunModelSpec,
    GunPhysics,
    MotorModel,
    ThermalModel,
)

DT_S = 0.01


def _motor(seed: int = 1, **kwargs: float) -> MotorModel:
    return MotorModel(rng=random.Random(seed), **kwargs)


def _run_motor(motor: MotorModel, duration_s: float, force_n: float = 0.0) -> None:
    for _ in range(round(duration_s / DT_S)):
        motor.step(DT_S, force_n)


def _contact(scenario: ContactScenario, seed: int = 1, **kwargs: float) -> ContactModel:
    return ContactModel(rng=random.Random(seed), scenario=scenario, **kwargs)


def _forces(model: ContactModel, duration_s: float, target_n: float, tol_n: float) -> list[float]:
    return [model.step(0.05, target_n, tol_n) for _ in range(round(duration_s / 0.05))]


# --- motor -----------------------------------------------------------------------------------


def test_motor_slews_up_at_the_configured_rate() -> None:
    motor = _motor(slew_hz_per_s=40.0)
    motor.target_freq_hz = 35.0
    _run_motor(motor, 0.5)
    assert motor.freq_hz == pytest.approx(20.0, abs=0.05)
    _run_motor(motor, 0.38)  # 35 Hz / 40 Hz/s = 0.875 s
    assert motor.freq_hz == 35.0
    assert motor.measured_freq_hz == pytest.approx(35.0, abs=1.0)


def test_motor_ramps_to_zero_when_off_faster_than_it_spins_up() -> None:
    motor = _motor(slew_hz_per_s=40.0, slew_down_hz_per_s=100.0)
    motor.target_freq_hz = 40.0
    _run_motor(motor, 2.0)
    motor.target_freq_hz = 0.0
    _run_motor(motor, 0.2)
    assert motor.freq_hz == pytest.approx(20.0, abs=0.05)
    _run_motor(motor, 0.25)
    assert motor.freq_hz == 0.0
    assert motor.measured_freq_hz == 0.0
    assert not motor.running


@pytest.mark.parametrize(("target_hz", "expected_hz"), [(10.0, 29.0), (60.0, 40.0), (33.0, 33.0)])
def test_motor_clamps_target_to_model_range(target_hz: float, expected_hz: float) -> None:
    motor = _motor(freq_min_hz=29.0, freq_max_hz=40.0)
    motor.target_freq_hz = target_hz
    _run_motor(motor, 3.0)
    assert motor.freq_hz == expected_hz


def test_motor_rate_sags_above_stall_force_and_recovers() -> None:
    motor = _motor(stall_force_n=100.0)
    motor.target_freq_hz = 40.0
    _run_motor(motor, 2.0, force_n=90.0)
    assert motor.freq_hz == 40.0
    _run_motor(motor, 2.0, force_n=200.0)
    assert motor.freq_hz == pytest.approx(20.0)
    assert motor.stalling(200.0)
    _run_motor(motor, 2.0, force_n=50.0)
    assert motor.freq_hz == 40.0


def test_motor_unpowered_ramps_down() -> None:
    motor = _motor()
    motor.target_freq_hz = 35.0
    _run_motor(motor, 2.0)
    for _ in range(100):
        motor.step(DT_S, 0.0, powered=False)
    assert motor.freq_hz == 0.0


def test_motor_rejects_bad_range_and_negative_dt() -> None:
    with pytest.raises(ValueError, match="freq_min_hz"):
        _motor(freq_min_hz=45.0, freq_max_hz=40.0)
    with pytest.raises(ValueError, match="dt_s"):
        _motor().step(-0.1)


# --- contact ---------------------------------------------------------------------------------


def test_no_contact_scenario_gives_zero_force() -> None:
    model = _contact(ContactScenario.NONE)
    assert max(_forces(model, 5.0, 30.0, 5.0)) == 0.0
    assert not model.contact


def test_steady_scenario_holds_a_constant_force_with_noise() -> None:
    model = _contact(ContactScenario.STEADY, steady_force_n=25.0)
    tail = _forces(model, 10.0, 40.0, 5.0)[-100:]
    assert sum(tail) / len(tail) == pytest.approx(25.0, abs=0.5)
    assert len(set(tail)) > 50  # noisy, not flat
    assert model.contact


def test_follow_band_converges_into_band_within_a_few_time_constants() -> None:
    model = _contact(ContactScenario.FOLLOW_BAND, tau_s=0.8)
    forces = _forces(model, 10.0, 30.0, 5.0)
    assert forces[0] < 5.0  # starts from the air, lags behind
    settled = forces[round(3.2 / 0.05) :]  # four time constants on
    inside = [25.0 <= f <= 35.0 for f in settled]
    assert sum(inside) / len(inside) > 0.95


def test_follow_band_tracks_a_step_change() -> None:
    model = _contact(ContactScenario.FOLLOW_BAND)
    _forces(model, 5.0, 20.0, 3.0)
    after = _forces(model, 5.0, 45.0, 3.0)
    assert after[round(0.4 / 0.05)] < 42.0  # still lagging after half a time constant
    settled = after[round(3.2 / 0.05) :]
    assert sum(42.0 <= f <= 48.0 for f in settled) / len(settled) > 0.95


def test_scripted_lift_off_breaks_contact_then_returns() -> None:
    model = _contact(ContactScenario.FOLLOW_BAND)
    _forces(model, 5.0, 30.0, 5.0)
    assert model.contact
    model.lift_off(2.0)
    lifted = _forces(model, 1.9, 30.0, 5.0)
    assert not model.contact
    assert lifted[-1] == 0.0
    _forces(model, 3.0, 30.0, 5.0)
    assert model.contact


def test_random_lift_offs_happen_when_configured() -> None:
    model = _contact(ContactScenario.FOLLOW_BAND, lift_rate_per_s=0.1)
    forces = _forces(model, 120.0, 30.0, 5.0)[100:]
    assert any(f < 3.0 for f in forces)
    assert sum(f >= 3.0 for f in forces) / len(forces) > 0.7


def test_hand_lifts_when_motor_stops_and_band_is_zero() -> None:
    model = _contact(ContactScenario.STEADY)
    for _ in range(100):
        model.step(0.05, 0.0, 0.0, motor_running=True)
    assert model.contact
    for _ in range(40):
        model.step(0.05, 0.0, 0.0, motor_running=False)
    assert model.force_n == 0.0


def test_heavy_spikes_exceed_the_cap_sometimes() -> None:
    model = _contact(ContactScenario.HEAVY_SPIKES, seed=7)
    forces = [model.step(0.05, 30.0, 5.0, cap_n=40.0) for _ in range(1200)]
    over_cap = sum(f > 55.0 for f in forces)
    assert 10 < over_cap < len(forces) * 0.3


def test_set_scenario_accepts_the_string_value() -> None:
    model = _contact(ContactScenario.NONE)
    model.set_scenario("steady")
    assert model.scenario is ContactScenario.STEADY


# --- battery and heat ------------------------------------------------------------------------


def test_battery_drains_monotonically_faster_under_load() -> None:
    idle, busy = BatteryModel(capacity_wh=10.0), BatteryModel(capacity_wh=10.0)
    previous = busy.battery_pct
    for _ in range(600):
        idle.step(1.0)
        busy.step(1.0, freq_hz=40.0, force_n=60.0)
        assert busy.battery_pct <= previous
        previous = busy.battery_pct
    assert 99.0 < idle.battery_pct < 100.0
    assert busy.battery_pct < idle.battery_pct - 30.0


def test_battery_flags_low_and_stops_at_zero() -> None:
    battery = BatteryModel(capacity_wh=1.0, battery_pct=12.0)
    battery.step(60.0, freq_hz=40.0, force_n=50.0)
    assert battery.low_battery
    battery.step(3600.0, freq_hz=40.0, force_n=50.0)
    assert battery.battery_pct == 0.0
    assert battery.empty


def test_thermal_rises_under_load_trips_and_recovers_with_hysteresis() -> None:
    thermal = ThermalModel(cutoff_c=70.0, reset_c=55.0)
    minutes = 0
    while not thermal.overheated:
        thermal.step(60.0, freq_hz=45.0, force_n=100.0)
        minutes += 1
        assert minutes < 30
    assert thermal.motor_temp_c > 70.0
    while thermal.motor_temp_c > 60.0:
        thermal.step(5.0)
    assert thermal.overheated  # still tripped between reset and cutoff
    while thermal.motor_temp_c >= 55.0:
        thermal.step(5.0)
    assert not thermal.overheated
    for _ in range(200):
        thermal.step(60.0)
    assert thermal.motor_temp_c == pytest.approx(thermal.ambient_c, abs=0.01)


def test_thermal_stays_cool_at_moderate_load() -> None:
    thermal = ThermalModel()
    for _ in range(120):
        thermal.step(60.0, freq_hz=35.0, force_n=30.0)
    assert thermal.motor_temp_c < 55.0
    assert not thermal.overheated


# --- presets and aggregate -------------------------------------------------------------------


def test_presets_are_realistic() -> None:
    assert DEFAULT_MODEL in PRESETS
    for name, spec in PRESETS.items():
        assert spec.model == name
        assert 17.0 <= spec.freq_min_hz < spec.freq_max_hz <= 45.0
        assert 89.0 <= spec.stall_force_n <= 270.0
        assert 10.0 <= spec.stroke_mm <= 16.0
    assert PRESETS["tp-sim-mini"].stall_force_n == 89.0


def test_spec_rejects_force_above_stall() -> None:
    with pytest.raises(ValueError, match="force_max_n"):
        GunModelSpec(
            model="x", freq_min_hz=29.0, freq_max_hz=40.0, force_max_n=300.0,
            stall_force_n=200.0, stroke_mm=12.0, battery_capacity_wh=10.0,
        )  # fmt: skip


def _session_trace(seed: int) -> list[tuple[float, float, float, float]]:
    gun = GunPhysics.from_spec(PRESETS["tp-sim-mini"], random.Random(seed))
    gun.motor.target_freq_hz = 35.0
    trace = []
    for _ in range(200):
        r = gun.step(0.05, target_n=25.0, tolerance_n=5.0, cap_n=31.0)
        trace.append((r.freq_hz, r.force_n, r.battery_pct, r.motor_temp_c))
    return trace


def test_same_seed_same_sequence_different_seed_different() -> None:
    assert _session_trace(3) == _session_trace(3)
    assert _session_trace(3) != _session_trace(4)


def test_gun_physics_runs_a_hold_end_to_end() -> None:
    gun = GunPhysics.from_spec(PRESETS[DEFAULT_MODEL], random.Random(5))
    reading = gun.step(0.05)
    assert reading.force_n == 0.0
    assert not reading.contact
    gun.motor.target_freq_hz = 35.0
    for _ in range(100):
        reading = gun.step(0.05, target_n=30.0, tolerance_n=5.0)
    assert reading.contact
    assert reading.freq_hz == pytest.approx(35.0, abs=1.0)
    assert 20.0 < reading.force_n < 40.0
    assert reading.battery_pct < 100.0
    assert reading.motor_temp_c > 25.0
    gun.motor.target_freq_hz = 0.0
    for _ in range(40):
        reading = gun.step(0.05)
    assert reading.freq_hz == 0.0
    assert not reading.contact


def test_gun_with_empty_battery_cannot_run() -> None:
    gun = GunPhysics.from_spec(PRESETS[DEFAULT_MODEL], random.Random(5))
    gun.battery.battery_pct = 0.0
    gun.motor.target_freq_hz = 35.0
    for _ in range(40):
        gun.step(0.05)
    assert gun.motor.freq_hz == 0.0
