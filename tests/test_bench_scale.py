"""`tpdevice bench scale` at a tiny N and a high time scale: the JSON line's shape and sanity."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from cli_helpers import run_main

_FIELDS = {
    "bench", "n", "p50_ms", "p99_ms", "max_ms", "floor_p50_ms", "ratio_p50", "ratio_p99",
    "devices", "transport", "floor_p99_ms", "incomplete", "event_lag_p50_ms", "event_lag_p99_ms",
    "events_journaled", "cpu_pct_per_gun", "rss_kib_per_gun", "sim_cpu", "sim_cpu_pct_per_gun",
    "daemon_one_cpu", "goal_met",
}  # fmt: skip


def _bench(*args: str) -> dict[str, Any]:
    """The bench as its own process (it pins itself to one CPU), its last line parsed."""
    done = subprocess.run(
        [sys.executable, "-m", "tpdevice", "bench", "scale", "--time-scale", "20",
         "--seconds", "4", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "step lateness" in done.stderr and "timer floor" in done.stderr
    record: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return record


def _check_run(record: dict[str, Any], devices: int) -> None:
    assert set(record) >= _FIELDS, _FIELDS - set(record)
    assert (record["bench"], record["devices"], record["incomplete"]) == ("scale", devices, 0)
    assert record["n"] == devices * record["steps_per_session"] > 0
    assert record["max_ms"] >= record["p99_ms"] >= record["p50_ms"] >= 0
    assert record["floor_p99_ms"] >= record["floor_p50_ms"] >= 0
    assert record["ratio_p99"] == round(record["p99_ms"] / record["floor_p99_ms"], 2)
    assert record["events_journaled"] >= devices * record["steps_per_session"]
    assert record["event_lag_p99_ms"] >= record["event_lag_p50_ms"] >= 0
    assert record["cpu_pct_per_gun"] > 0 and record["rss_kib_per_gun"] is not None


def test_in_process_guns_report_the_simulator_as_part_of_the_daemon() -> None:
    record = _bench("--devices", "3", "--transport", "sim")
    _check_run(record, 3)
    assert record["sim_cpu"] == "included in the daemon's"
    assert record["sim_cpu_pct_per_gun"] is None
    assert record["goal_met"] is None  # judged at 200 guns and more


def test_serial_guns_find_max_reports_each_n_and_the_simulator_apart() -> None:
    record = _bench("--devices", "2", "--transport", "serial", "--find-max", "--max-devices", "4")
    _check_run(record, record["devices"])
    assert record["sim_cpu"] == "own process" and record["sim_cpu_pct_per_gun"] >= 0
    counts = [run["devices"] for run in record["runs"]]
    assert counts in ([2], [2, 4])
    assert record["max_devices_meeting_goal"] in (0, *[r["devices"] for r in record["runs"]])
    assert record["goal_met"] in (None, False)  # fewer than 200 guns never meet it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--transport", "tcp"], "--transport: 'tcp' is not one of serial, sim"),
        (["--devices", "0"], "--devices: 0 must lie in 1..1000"),
        (["--seconds", "1"], "--seconds: 1 must lie in 2..64"),
        (["--devices", "8", "--max-devices", "4"], "--max-devices: 4 must lie in 8..1000"),
    ],
)
def test_bad_scale_options_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run_main(capsys, "bench", "scale", *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
