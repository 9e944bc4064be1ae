"""`tpdevice bench sim` at a tiny N: the JSON line's shape and sanity, and bad options."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from cli_helpers import run_main

_FIELDS = {
    "bench", "n", "p50_ms", "p99_ms", "max_ms", "floor_p50_ms", "ratio_p50", "devices",
    "transport", "sim_cpu_ms_per_gun_s", "sim_cpu_pct_one_core", "telemetry_hz_per_gun",
    "floor_cpu_ms_per_gun_s", "floor_telemetry_hz_per_gun", "heartbeats_sent", "links_lost",
    "keeps_up", "within_one_core", "goal_met", "load_avg_1m",
}  # fmt: skip


def _bench(*args: str) -> dict[str, Any]:
    """The bench as its own process, its last line parsed."""
    done = subprocess.run(
        [sys.executable, "-m", "tpdevice", "bench", "sim", "--devices", "3", "--seconds", "1",
         *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "bench sim: 3" in done.stderr and "floor" in done.stderr
    record: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return record


@pytest.mark.parametrize("transport", ["serial", "tcp"])
def test_tiny_run_counts_telemetry_from_the_simulator_and_the_floor(transport: str) -> None:
    record = _bench("--transport", transport)
    assert set(record) >= _FIELDS, _FIELDS - set(record)
    assert (record["bench"], record["devices"], record["transport"]) == ("sim", 3, transport)
    assert record["n"] == 1 and record["links_lost"] == 0
    assert record["max_ms"] >= record["p99_ms"] >= record["p50_ms"] >= 0
    assert record["telemetry_hz_per_gun"] > 0 and record["floor_telemetry_hz_per_gun"] > 0
    assert record["heartbeats_sent"] >= 3
    assert record["goal_met"] == (record["keeps_up"] and record["within_one_core"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--devices", "0"], "--devices: 0 must lie in 1..2000"),
        (["--transport", "ble"], "--transport: 'ble' is not one of serial, tcp"),
        (["--seconds", "0.5"], "--seconds: 0.5 must lie in 1..600"),
    ],
)
def test_bad_sim_bench_options_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run_main(capsys, "bench", "sim", *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
