"""`tpdevice run` outputs: a dead output stops the run, a second Ctrl-C changes nothing,
no library traceback reaches stderr, a Theragun run shows its rate and no made-up force."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import json_lines, run_main
from rich.console import Console

from tpdevice.cli.run_cmd import load_run_profile, parse_settings, run
from tpdevice.cli.run_output import JsonRunOutput, summary_json
from tpdevice.cli.run_summary import summary_renderable
from tpdevice.cli.run_view import Reading, RunHeader, RunView
from tpdevice.protocol import FaultCode, MotorState
from tpdevice.therapy.summary import StepSummary, Summary
from tpdevice_sim.firmware import Firmware
from tpdevice_sim.gun import SimulatorFleet

HEAD = """\
title: Regression run
region: test region
muscles: [test muscle]
laterality: midline
attachment: ball
avoid_zones: [bone]
contraindications: [injury]
caps: {max_force_n: 30, freq_min_hz: 28, freq_max_hz: 40, max_hold_s: 60,
       max_work_s: 300, min_recovery_h: 24}
steps:
"""
SWEEP = (
    "  - {{kind: sweep, freq_hz: 30, force_target_n: 10, force_tolerance_n: 5, duration_s: {}}}\n"
)
# Twenty 1 s sweeps: an event (a write to stdout) every second.
SHORT_STEPS = "id: pipe-run\n" + HEAD + SWEEP.format(1) * 20
# One long sweep: no event for a minute, only the redraws notice a dead reader.
LONG_STEP = "id: pipe-long\n" + HEAD + SWEEP.format(60)
# Two 10 s sweeps for the simulated Theragun (time-scaled in process).
GUN_RUN = "id: gun-run\n" + HEAD + SWEEP.format(10) * 2


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    """A profiles dir with the profiles above."""
    for text in (SHORT_STEPS, LONG_STEP, GUN_RUN):
        (tmp_path / f"{text.split()[1]}.yaml").write_text(text)
    return tmp_path


async def wait_running(firmware: Firmware) -> None:
    """Until the simulated motor runs (the START follows the first step's SET_OUTPUT)."""
    for _ in range(1500):
        if firmware.state is MotorState.RUNNING:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the motor never started")


# --- the reader of stdout goes away ------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile_id", "output"),
    [("pipe-run", "--json"), ("pipe-long", "--json"), ("pipe-long", "--live")],
    ids=["json-events-flowing", "json-long-step", "live-view-not-a-terminal"],
)
async def test_the_motor_stops_soon_after_the_reader_goes_away(
    profiles: Path, profile_id: str, output: str
) -> None:
    flags = ["--json"] if output == "--json" else []
    async with SimulatorFleet("serial", 1, seed=3) as fleet:
        firmware = fleet.guns[0].firmware
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpdevice", "run", profile_id, *flags, "--mode", "host",
            "--device", fleet.addresses[0], "--profiles-dir", str(profiles),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await wait_running(firmware)
            transport = child._transport  # type: ignore[attr-defined]
            transport.get_pipe_transport(1).close()  # the reader dies (e.g. `| head -2`)
            async with asyncio.timeout(10):  # the profile runs 20 s or 60 s
                await child.wait()
            assert child.stderr is not None
            err = (await child.stderr.read()).decode()
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        assert firmware.state is not MotorState.RUNNING
        assert FaultCode.WATCHDOG not in firmware.faults.active  # STOPped by the host
        assert child.returncode == 1
        assert err.splitlines()[-1] == (
            "tpdevice: error: stdout: broken pipe (its reader went away); session aborted (host)"
        )
        assert "Traceback" not in err and "Exception ignored" not in err
    assert fleet.violations == []


# --- Ctrl-C twice ------------------------------------------------------------------------------


@pytest.mark.parametrize("gap_s", [0.001, 0.02])
async def test_a_second_ctrl_c_still_prints_the_summary_and_exits_130(gap_s: float) -> None:
    async with SimulatorFleet("serial", 1, seed=3) as fleet:
        firmware = fleet.guns[0].firmware
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpdevice", "run", "upper-trapezius", "--json", "--mode",
            "host", "--device", fleet.addresses[0],
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await wait_running(firmware)
            await asyncio.sleep(0.3)
            child.send_signal(signal.SIGINT)
            await asyncio.sleep(gap_s)
            child.send_signal(signal.SIGINT)  # pressed twice (or GNU timeout forwarding it)
            async with asyncio.timeout(15):
                out, err = await child.communicate()
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        types = [json.loads(line)["type"] for line in out.decode().splitlines()]
        assert "Traceback" not in err.decode()
        assert types[-2:] == ["session.aborted", "summary"]
        assert json.loads(out.decode().splitlines()[-1])["reason"] == "user"
        assert err.decode().splitlines()[-1] == "tpdevice: interrupted"
        assert child.returncode == 130
        assert firmware.state is not MotorState.RUNNING
        assert FaultCode.WATCHDOG not in firmware.faults.active


# --- library logs ------------------------------------------------------------------------------

LOG_AN_ASYNCIO_ERROR = (
    "import logging; from tpdevice.cli.app import quiet_library_logs; quiet_library_logs(); "
    "logging.getLogger('asyncio').error('Exception in callback boom')"
)


@pytest.mark.parametrize(("debug", "shown"), [(False, False), (True, True)])
def test_asyncio_errors_stay_off_stderr_unless_debugging(debug: bool, shown: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TPDEVICE_DEBUG"}
    if debug:
        env["TPDEVICE_DEBUG"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", LOG_AN_ASYNCIO_ERROR],
        capture_output=True, text=True, timeout=20, check=True, env=env,
    )  # fmt: skip
    assert ("Exception in callback boom" in result.stderr) is shown


# --- a Theragun: its rate polled, no force measured --------------------------------------------


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
    assert "not measured (band 5-15 N)" in text
    assert "too light" not in text


# --- usage mistakes exit 2 ---------------------------------------------------------------------


def test_an_unknown_profile_id_is_a_usage_error(profiles: Path) -> None:
    from tpdevice.cli.errors import CliError

    with pytest.raises(CliError, match="unknown profile 'gun-rnu' \\(did you mean gun-run\\?\\)"):
        load_run_profile("gun-rnu", (profiles,), None)
