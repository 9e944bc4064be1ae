"""The engine's contact sense (host-mode holds): a force band with hysteresis and a debounce."""

from __future__ import annotations

from tpdevice.protocol import MotorState, Telemetry
from tpdevice.therapy.modes import CONTACT_DEBOUNCE_MS, ContactSense


def _sample(time_ms: int, force_n: float, contact: bool = False) -> Telemetry:
    return Telemetry(time_ms, 35.0, force_n, contact, 90, 30.0, MotorState.RUNNING, 0)


def _changes(sense: ContactSense, samples: list[tuple[int, float]]) -> list[tuple[int, bool]]:
    """(device time, new contact) for every change the samples make."""
    return [
        (time_ms, sense.in_contact)
        for time_ms, force_n in samples
        if sense.update(_sample(time_ms, force_n))
    ]


def test_noise_around_the_threshold_does_not_flicker_a_hold() -> None:
    sense = ContactSense(3.0, by_force=True)
    flicker = [(t, 3.2 if (t // 20) % 2 == 0 else 1.5) for t in range(0, 1000, 20)]
    assert _changes(sense, flicker) == []
    assert not sense.in_contact


def test_a_change_counts_once_it_has_held_for_the_debounce() -> None:
    sense = ContactSense(3.0, by_force=True)
    pressed = [(t, 5.0) for t in range(1000, 1300, 50)]
    released = [(t, 0.5) for t in range(1300, 1600, 50)]
    assert CONTACT_DEBOUNCE_MS == 100
    assert _changes(sense, pressed + released) == [(1100, True), (1400, False)]


def test_the_hysteresis_band_keeps_contact_above_its_lower_edge() -> None:
    sense = ContactSense(3.0, by_force=True)
    _changes(sense, [(0, 3.0), (100, 3.0)])
    assert sense.in_contact
    assert _changes(sense, [(t, 2.1) for t in range(200, 600, 50)]) == []  # above 2 N: held


def test_the_contact_sensor_is_debounced_too() -> None:
    sense = ContactSense(3.0, by_force=False)
    changed = [sense.update(_sample(t, 0.0, contact=t >= 100)) for t in range(0, 400, 50)]
    assert changed == [False, False, False, False, True, False, False, False]  # at 200 ms
    assert sense.in_contact


def test_device_time_wrapping_does_not_stall_the_debounce() -> None:
    sense = ContactSense(3.0, by_force=True)
    start_ms = 0xFFFF_FFFF - 40
    times = [(start_ms + i * 50) & 0xFFFF_FFFF for i in range(4)]
    assert _changes(sense, [(t, 5.0) for t in times]) == [(times[2], True)]
