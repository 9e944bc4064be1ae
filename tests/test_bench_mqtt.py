"""`tpdevice bench mqtt` ends with a complete JSON line; speed is reported, not asserted."""

from __future__ import annotations

import shutil

import pytest
from cli_helpers import run_bench, run_main

REQUIRED = {
    "bench", "n", "p50_ms", "p99_ms", "max_ms", "floor_p50_ms", "floor_p99_ms", "ratio_p50",
    "ratio_p99", "goal_met", "telemetry_p99_ms", "events_p99_ms", "events_per_s", "cpu_pct",
    "replay_events_per_s", "ramp", "max_sustained_events_per_s",
}  # fmt: skip


@pytest.mark.timeout(60)
def test_a_tiny_run_reports_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("mosquitto") is None:
        pytest.skip("the bench starts its own mosquitto")
    argv = ("--devices", "2", "--rate-hz", "5", "--seconds", "1", "--replay-events", "50")
    result, err = run_bench(capsys, "mqtt", *argv, "--transport", "sim", "--ramp", "--ramp-max",
                            "250")  # fmt: skip
    assert set(result) >= REQUIRED
    assert (result["bench"], result["devices"], result["rate_hz"]) == ("mqtt", 2, 5.0)
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert 0 < result["floor_p50_ms"] <= result["floor_p99_ms"]
    met = result["p99_ms"] <= 5.0 and result["p99_ms"] <= 2 * result["floor_p99_ms"]
    assert result["goal_met"] is met
    assert result["replay_events"] == 50 and result["replay_events_per_s"] > 0
    assert [step["target_per_s"] for step in result["ramp"]] == [250.0]
    assert "floor: bare aiomqtt" in err and "pending publish" not in err


def test_an_unreachable_broker_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "bench", "mqtt", "--broker", "mqtt://127.0.0.1:1")
    assert code != 0 and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("tpdevice: error: mqtt://127.0.0.1:1: ")


def test_a_bad_broker_url_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "bench", "mqtt", "--broker", "http://broker")
    assert code == 2
    assert err.strip().splitlines() == [
        "tpdevice: error: --broker: http://broker: the scheme must be mqtt:// or mqtts://"
    ]
    code, _, err = run_main(capsys, "bench", "mqtt", "--transport", "ble")
    assert (code, err.strip()) == (2, "tpdevice: error: --transport: 'ble' is not one of tcp, "
                                      "serial, sim")  # fmt: skip
