"""`tpdevice bench soak`: a short run ends with one JSON line; bad options are one line, rc 2."""

from __future__ import annotations

import pytest
from cli_helpers import run_bench, run_main


def test_a_short_soak_prints_progress_and_one_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record, err = run_bench(capsys, "soak", "--seconds", "3", "--sessions", "2")
    assert record["bench"] == "soak"
    assert record["sessions"] == 2 == record["completed"]
    assert record["failed"] == 0 and record["violations"] == 0 and record["motors_running"] == 0
    assert record["n"] > 0 and record["p99_ms"] >= record["p50_ms"] >= 0.0
    assert record["faults"] == "drop=0.05,corrupt=0.01,dup=0.02,disconnect_every_s=5"
    assert record["transport"] == "tcp"
    assert err.count(": completed") == 2  # one progress line per session


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--transport", "usb"], "--transport: 'usb' is not one of serial, tcp"),
        (["--faults", "drop=2"], "--faults: drop=2 is out of range (0..1)"),
        (["--minutes", "1", "--seconds", "5"], "give --minutes or --seconds, not both"),
        (["--seconds", "0"], "soak length 0 s is out of range"),
    ],
)
def test_bad_soak_options_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run_main(capsys, "bench", "soak", *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
