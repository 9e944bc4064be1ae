"""`tpdevice bench startup`: whole processes timed, the floor beside them, one JSON line."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_bench, run_main


def test_startup_bench_reports_both_commands_and_the_floor(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    result, err = run_bench(capsys, "startup", "--runs", "3")
    assert result["bench"] == "startup" and result["n"] == 3
    for prefix in ("", "list_"):
        p50, p99, top = (result[f"{prefix}{key}_ms"] for key in ("p50", "p99", "max"))
        assert 0 < result["floor_p50_ms"] < p50 <= p99 <= top
    assert result["ratio_p50"] == round(result["p50_ms"] / result["floor_p50_ms"], 2)
    assert result["target_ms"] == 150.0
    assert isinstance(result["target_met"], bool)
    assert "python -c pass" in err and "first setpoint" in err


def test_a_run_that_never_starts_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    code, out, err = run_main(capsys, "bench", "startup", "--runs", "3", "--profile", "nope")
    assert (code, out) == (1, "")
    assert err == "tpdevice: error: run nope: ended (exit 2) before its first step\n"
