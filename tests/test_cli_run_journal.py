"""`tpdevice run` journals its session (events, steps, telemetry) unless --no-journal; a journal
it cannot use stops it before the gun is touched, in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_main


def _run(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run_main(
        capsys, "run", "upper-trapezius", "--side", "left", "--time-scale", "500", "--json",
        *extra,
    )  # fmt: skip


def test_a_run_is_journaled_and_shows_in_history_and_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite3"
    code, out, _ = _run(capsys, "--journal", str(journal))
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    code, out, _ = run_main(capsys, "history", "--journal", str(journal), "--json")
    (record,) = json.loads(out)
    assert record["session_id"] == summary["session_id"]
    assert (record["outcome"], record["steps_done"], record["region"]) == (
        "completed", 13, "neck-shoulder",
    )  # fmt: skip
    plot = tmp_path / "r.png"
    code, out, _ = run_main(
        capsys, "report", record["session_id"], "--journal", str(journal), "--plot", str(plot)
    )
    assert code == 0 and plot.stat().st_size > 10_000 and "13/13 steps" in out


def test_the_default_journal_is_the_users(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys)[0] == 0
    code, out, _ = run_main(capsys, "history", "--json")
    assert code == 0 and len(json.loads(out)) == 1


def test_no_journal_keeps_no_record(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    assert _run(capsys, "--journal", str(journal), "--no-journal")[0] == 0
    assert not journal.exists()


def test_an_unusable_journal_stops_the_run_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite3"
    journal.write_bytes(b"not a database" * 100)
    code, out, err = _run(capsys, "--journal", str(journal))
    assert (code, out) == (1, "")
    assert "not a usable journal" in err and "--no-journal" in err and err.count("\n") == 1
