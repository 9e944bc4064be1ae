"""Telemetry thinning: at most the configured rate per gun, and a gun at exactly that rate with
jitter is not halved."""

from __future__ import annotations

import random

from tpdevice.mqtt.bridge import TelemetryPacer


def _passed(pacer: TelemetryPacer, times_s: list[float], key: str = "gun-1") -> int:
    return sum(pacer.due(key, t) for t in times_s)


def test_a_gun_at_the_configured_rate_keeps_every_sample_despite_jitter() -> None:
    rng = random.Random(7)
    times_s = [i * 0.05 + rng.uniform(-0.004, 0.004) for i in range(1000)]  # 20 Hz, +-4 ms
    assert _passed(TelemetryPacer(0.05), times_s) == 1000


def test_a_faster_gun_is_thinned_to_the_rate() -> None:
    times_s = [i * 0.01 for i in range(1000)]  # 100 Hz for 10 s, 20 Hz allowed
    passed = _passed(TelemetryPacer(0.05), times_s)
    assert 199 <= passed <= 201


def test_a_burst_lets_one_through_and_a_pause_earns_no_burst() -> None:
    pacer = TelemetryPacer(0.5)
    assert _passed(pacer, [0.0 + i * 0.005 for i in range(20)]) == 1
    assert _passed(pacer, [10.0 + i * 0.005 for i in range(20)]) == 1  # after 10 s of nothing


def test_each_gun_has_its_own_schedule() -> None:
    pacer = TelemetryPacer(0.5)
    assert pacer.due("gun-1", 0.0) and pacer.due("gun-2", 0.0)
    assert not pacer.due("gun-1", 0.1)
