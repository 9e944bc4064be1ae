"""`tpdevice run` on a gun without a force sensor (a Theragun): its rate polled and shown, no
made-up force in the live view, the summary table or the JSON; a native gun keeps its figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import json_lines, run_main, write_sweeps
from rich.console import Console

from tpdevice.cli.run_cmd import parse_settings, run
from tpdevice.cli.run_output import JsonRunOutput, summary_json
from tpdevice.cli.run_summary import summary_renderable
from tpdevice.cli.run_view import Reading, RunHeader, RunView
from tpdevice.therapy.summary import StepSummary, Summary


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    """A profiles dir with gun-run: two 10 s sweeps (time-scaled in process)."""
    write_sweeps(tmp_path, "gun-run", 10, 10)
    return tmp_path


class RecordingOutput(JsonRunOutput):
    """JSON lines, keeping every reading the view would draw."""

    def __init__(self) -> None:
        self.readings: list[Reading | None] = []

    def refresh(self, now_s: float, reading: Reading | None) -> None:
        self.readings.append(reading)


def test_a_theragun_run_shows_its_rate_and_no_force(
    capsys: pytest.CaptureFixture[str], profiles: Path
) -> None:
    settings = parse_settings(
        "gun-run", "sim?driver=theragun", None, 20.0, True, [profiles], "host", 100.0
    )
    out = RecordingOutput()
    run(settings, lambda: out)
    lines = json_lines(capsys.readouterr().out)
    started = next(line for line in lines if line["type"] == "session.started")
    assert started["force_sensing"] is False
    # The status polls are the Theragun's telemetry: the measured rate reaches the view.
    rates = [r.freq_hz for r in out.readings if r is not None]
    assert any(rate > 25 for rate in rates), rates
    summary = lines[-1]
    assert (summary["type"], summary["outcome"], summary["force_sensing"]) == (
        "summary", "completed", False,
    )  # fmt: skip
    assert (summary["time_in_band_s"], summary["peak_force_n"]) == (None, None)
    assert all(s["time_in_band_s"] is None and s["peak_force_n"] is None for s in summary["steps"])


def test_a_native_run_keeps_its_force_figures(
    capsys: pytest.CaptureFixture[str], profiles: Path
) -> None:
    code, out, err = run_main(
        capsys, "run", "gun-run", "--json", "--time-scale", "40", "--profiles-dir", str(profiles)
    )
    assert code == 0, err
    summary = json_lines(out)[-1]
    assert summary["force_sensing"] is True
    assert summary["peak_force_n"] > 0 and summary["time_in_band_s"] > 0


def gun_summary(force_sensing: bool) -> Summary:
    step = StepSummary(
        index=0, kind="sweep", side="midline", cycle=0, planned_start_s=0, planned_duration_s=30,
        actual_start_s=0.0, actual_duration_s=30.0, completed=True, time_in_band_s=12.5,
        peak_force_n=17.0,
    )  # fmt: skip
    return Summary(
        session_id="s", profile_id="p", device="sim?driver=theragun", side="midline",
        mode="host", outcome="completed", planned_duration_s=30, actual_duration_s=30,
        steps_planned=1, steps_completed=1, time_in_band_s=12.5, peak_force_n=17.0,
        force_sensing=force_sensing, steps=[step],
    )  # fmt: skip


def table_text(summary: Summary) -> str:
    console = Console(record=True, width=100, color_system=None)
    console.print(summary_renderable(summary))
    return console.export_text()


def test_the_summary_table_shows_dashes_without_a_force_sensor() -> None:
    text = table_text(gun_summary(force_sensing=False))
    row = next(line for line in text.splitlines() if "sweep" in line).split()
    assert row[-3:] == ["-", "-", "-"]  # in band, peak, notes
    assert "Pressure: not measured (the gun has no force sensor)" in text
    assert "12.5" not in text and "17.0" not in text
    measured = table_text(gun_summary(force_sensing=True))
    assert "12.5" in measured and "peak 17.0 N" in measured


def test_json_summary_nulls_force_only_without_a_sensor() -> None:
    assert summary_json(gun_summary(True))["peak_force_n"] == 17.0
    data = summary_json(gun_summary(False))
    assert (data["time_in_band_s"], data["peak_force_n"], data["force_sensing"]) == (
        None, None, False,
    )  # fmt: skip
    assert (data["steps"][0]["time_in_band_s"], data["steps"][0]["peak_force_n"]) == (None, None)


def test_the_live_view_says_pressure_is_not_measured() -> None:
    view = RunView(RunHeader("gun-run", "Gun run", "test region", "midline", "sim"))
    view.apply({"type": "session.started", "mono_s": 0.0, "planned_duration_s": 20.0,
                "step_count": 2, "mode": "host", "force_sensing": False})  # fmt: skip
    view.apply({"type": "step.started", "mono_s": 0.0, "step_index": 0, "kind": "sweep",
                "duration_s": 10.0, "freq_hz": 30.0, "band_low_n": 5.0,
                "band_high_n": 15.0})  # fmt: skip
    console = Console(record=True, width=100, color_system=None)
    console.print(view.render(1.0, Reading(30.2, 0.0)))
    text = console.export_text()
    assert "30.2 Hz (target 30 Hz)" in text
    assert "not measured (band 5\u201315 N)" in text
    assert "too light" not in text
