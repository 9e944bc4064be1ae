"""`tpdevice bench stop` runs end to end and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_stop_reports_the_stop_time_against_its_floor() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tpdevice", "bench", "stop", "--devices", "2", "--runs", "1"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bench"] == "stop" and result["n"] == 1 and result["devices"] == 2
    assert result["p50_ms"] > 0 and result["floor_p50_ms"] > 0
    assert isinstance(result["goal_met"], bool)
