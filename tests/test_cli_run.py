"""`tpdevice run`: events and summary end to end, the live view, keys, Ctrl-C and bad inputs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import termios
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import json_lines, run_main
from rich.console import Console

from tpdevice.cli.keys import KeyAction, KeyReader, action_for_key
from tpdevice.cli.run_cmd import RunError, apply_key, check_outcome, load_run_profile
from tpdevice.cli.run_output import JsonRunOutput
from tpdevice.cli.run_summary import shift_text, summary_renderable, totals_text
from tpdevice.cli.run_view import (
    BandState,
    Reading,
    RunHeader,
    RunView,
    band_state,
    format_mmss,
)
from tpdevice.protocol import FaultCode, MotorState
from tpdevice.therapy.commands import CommandResult, SessionCommand
from tpdevice.therapy.events import SessionStarted
from tpdevice.therapy.profile_errors import ProfileError
from tpdevice.therapy.summary import StepSummary, Summary
from tpdevice_sim.gun import SimulatorFleet

# sweep 2 s, hold 2 s + release 1 s twice (wall timer), rest 1 s, sweep 1 s: 10 s, 7 steps.
SHORT = """\
id: run-short
title: Short run
region: test region
muscles: [test muscle]
laterality: midline
attachment: ball
avoid_zones: [spine, kidneys]
contraindications: [blood thinners, pregnancy]
caps: {max_force_n: 30, freq_min_hz: 28, freq_max_hz: 40, max_hold_s: 60,
       max_work_s: 300, min_recovery_h: 24}
steps:
  - {kind: sweep, freq_hz: 30, force_target_n: 10, force_tolerance_n: 5, duration_s: 2,
     cue: Glide along the muscle.}
  - {kind: hold, freq_hz: 30, force_target_n: 15, force_tolerance_n: 5, hold_s: 2,
     release_s: 1, cycles: 2, cue: Sink in and hold.}
  - {kind: rest, duration_s: 1, cue: Rest.}
  - {kind: sweep, freq_hz: 29, force_target_n: 8, force_tolerance_n: 4, duration_s: 1,
     cue: Light glide to finish.}
"""
# Three 10 s sweeps: long enough for keys and signals to act mid-step.
SLOW = """\
id: run-slow
title: Slow run
region: test region
muscles: [test muscle]
laterality: bilateral
attachment: ball
avoid_zones: [bone]
contraindications: [injury]
caps: {max_force_n: 30, freq_min_hz: 28, freq_max_hz: 40, max_hold_s: 60,
       max_work_s: 300, min_recovery_h: 24}
steps:
  - {kind: sweep, freq_hz: 33, force_target_n: 10, force_tolerance_n: 5, duration_s: 10}
  - {kind: sweep, freq_hz: 30, force_target_n: 10, force_tolerance_n: 5, duration_s: 10}
  - {kind: sweep, freq_hz: 29, force_target_n: 8, force_tolerance_n: 4, duration_s: 10}
"""
SHORT_KINDS = ["sweep", "hold", "release", "hold", "release", "rest", "sweep"]


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    """A profiles dir with the two fixture profiles."""
    (tmp_path / "run-short.yaml").write_text(SHORT)
    (tmp_path / "run-slow.yaml").write_text(SLOW)
    return tmp_path


# --- end to end through the CLI ------------------------------------------------------------


def check_telemetry_lines(lines: list[dict[str, Any]]) -> None:
    """Telemetry lines come only while the session runs, each with what the gun measures."""
    kinds = [line["type"] for line in lines]
    telemetry = [line for line in lines if line["type"] == "telemetry"]
    assert telemetry, "no telemetry lines"
    first = kinds.index("telemetry")
    assert kinds.index("session.started") < first
    assert "telemetry" not in kinds[kinds.index(lines[-1]["type"]) :]  # none after the end
    session_id = lines[0]["session_id"]
    for line in telemetry:
        assert set(line) == {
            "type", "session_id", "mono_s", "freq_hz", "force_n", "contact", "battery_pct",
            "motor_temp_c",
        }  # fmt: skip
        assert line["session_id"] == session_id
        assert isinstance(line["battery_pct"], int) and isinstance(line["motor_temp_c"], float)
    mono = [line["mono_s"] for line in telemetry]
    assert mono == sorted(mono)


@pytest.mark.parametrize("mode", ["host", "firmware"])
def test_json_run_end_to_end(capsys: pytest.CaptureFixture[str], profiles: Path, mode: str) -> None:
    code, out, err = run_main(
        capsys, "run", "run-short", "--json", "--time-scale", "40", "--mode", mode,
        "--profiles-dir", str(profiles),
    )  # fmt: skip
    assert code == 0, err
    assert err.splitlines() == [
        "tpdevice run: no --device given: using the built-in simulator (in process)"
    ]
    safety, *lines, summary = json_lines(out)
    events = [line for line in lines if line["type"] != "telemetry"]
    check_telemetry_lines(lines)
    assert safety["type"] == "profile.safety"
    assert safety["avoid_zones"] == ["spine", "kidneys"]
    assert safety["contraindications"] == ["blood thinners", "pregnancy"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "session.started"
    assert (events[0]["mode"], events[0]["step_count"]) == (mode, 7)
    assert events[0]["planned_duration_s"] == 10.0
    starts = [e for e in events if e["type"] == "step.started"]
    assert [e["kind"] for e in starts] == SHORT_KINDS
    assert [e["step_index"] for e in starts] == list(range(7))
    done = [e["step_index"] for e in events if e["type"] == "step.completed"]
    assert done == list(range(7))
    assert sum(e["type"] == "hold.started" for e in events) == 2
    assert sum(e["type"] == "release.started" for e in events) == 2
    assert events[-1]["type"] == "session.completed"
    assert summary["type"] == "summary"
    assert (summary["outcome"], summary["mode"], summary["side"]) == ("completed", mode, "midline")
    assert summary["steps_completed"] == summary["steps_planned"] == 7
    assert [s["planned_start_s"] for s in summary["steps"]] == [0, 2, 4, 5, 7, 8, 9]
    assert all(s["actual_start_s"] is not None for s in summary["steps"])
    assert summary["steps"][1]["peak_force_n"] > 0  # the simulated hand pressed during the hold
    assert summary == {"type": "summary", **events[-1]["summary"]}


def test_live_view_and_summary_table(capsys: pytest.CaptureFixture[str], profiles: Path) -> None:
    code, out, err = run_main(
        capsys, "run", "run-short", "--device", "sim", "--time-scale", "40",
        "--profiles-dir", str(profiles),
    )  # fmt: skip
    assert code == 0, err
    assert err == "tpdevice run: using the built-in simulator (in process)\n"
    before = out.index("Before you start")
    assert before < out.index("Short run (run-short)") < out.index("Steps: planned")
    for text in (
        "Avoid: spine, kidneys",
        "blood thinners",
        "24 h",
        "status",
        "completed",
        "7/7 steps done",
        "100%",
        "0:00 remaining",
        "Light glide to finish.",
    ):
        assert text in out, text  # fmt: skip
    assert "Traceback" not in out + err


def test_both_sides_run_left_then_right(capsys: pytest.CaptureFixture[str], profiles: Path) -> None:
    code, out, err = run_main(
        capsys, "run", "run-slow", "--json", "--time-scale", "200", "--side", "both",
        "--profiles-dir", str(profiles),
    )  # fmt: skip
    assert code == 0, err
    sides = [e["side"] for e in json_lines(out) if e["type"] == "step.started"]
    assert sides == ["left"] * 3 + ["right"] * 3


# --- the live view from events ---------------------------------------------------------------


def header() -> RunHeader:
    return RunHeader("run-short", "Short run", "test region", "midline", "sim")


def render(view: RunView, now_s: float, reading: Reading | None = None) -> str:
    console = Console(record=True, width=100, color_system=None)
    console.print(view.render(now_s, reading))
    return console.export_text()


def step_event(index: int, kind: str, mono_s: float, **fields: Any) -> dict[str, Any]:
    return {
        "type": "step.started", "mono_s": mono_s, "step_index": index, "kind": kind,
        "side": "midline", "cycle": 1 if kind in ("hold", "release") else 0,
        "planned_start_s": fields.pop("planned", 0.0), "duration_s": fields.pop("duration", 2.0),
        **fields,
    }  # fmt: skip


def test_view_countdown_band_and_progress() -> None:
    view = RunView(header())
    assert "waiting for the first step" in render(view, 0.0)
    view.apply({"type": "session.started", "mono_s": 100.0, "planned_duration_s": 60.0,
                "step_count": 4, "mode": "host"})  # fmt: skip
    view.apply(step_event(1, "hold", 130.0, planned=30.0, duration=20.0, freq_hz=30.0,
                          band_low_n=15.0, band_high_n=25.0, cue="Sink in and hold."))  # fmt: skip
    text = render(view, 135.0, Reading(29.6, 10.0))
    assert "2/4 · hold · cycle 1 · midline" in text
    assert "hold 0:15 left" in text
    assert "29.6 Hz (target 30 Hz)" in text
    assert "10.0 N  (band 15\u201325 N)  too light" in text
    assert "58%  0:25 remaining" in text  # 35 of 60 s of the plan
    assert "Sink in and hold." in text
    assert "host" in text
    assert "in band" in render(view, 135.0, Reading(30.0, 25.0))
    assert "too heavy" in render(view, 135.0, Reading(30.0, 25.1))
    assert "hold 0:01 left" in render(view, 149.2)  # rounded up: never 0:00 early
    view.apply({"type": "step.completed", "mono_s": 150.0, "step_index": 1})
    view.apply({"type": "session.completed", "mono_s": 190.0})
    text = render(view, 190.0)
    assert "completed" in text
    assert "100%  0:00 remaining" in text


def test_the_whole_view_fits_80_columns() -> None:
    long_header = RunHeader(
        "upper-trapezius", "Upper trapezius", "neck-shoulder", "both",
        "ble://name=Theragun PRO?driver=theragun&hci=tcp-client:127.0.0.1:40123",
    )  # fmt: skip
    view = RunView(long_header)
    view.apply({"type": "session.started", "mono_s": 0.0, "planned_duration_s": 790.0,
                "step_count": 26, "mode": "firmware", "force_sensing": False})  # fmt: skip
    hold = step_event(12, "hold", 300.0, planned=300.0, duration=45.0, freq_hz=1750 / 60,
                      band_low_n=15.0, band_high_n=25.0, cue="Sink in and hold. " * 6)  # fmt: skip
    view.apply(hold)
    view.apply({"type": "cue", "mono_s": 300.0, "reason": "freq_clamped",
                "cue": "steps[1]: 29 Hz clamped to 29.2 Hz (allowed 29.2\u201340 Hz)"})  # fmt: skip
    view.apply({"type": "pressure.low", "mono_s": 301.0, "cue": "More pressure"})
    console = Console(record=True, width=80, color_system=None)
    console.print(view.render(310.0, Reading(1750 / 60, 0.0)))
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "\u2026" not in "".join(lines)  # nothing cut off with an ellipsis
    assert lines[-1].strip("\u2500\u2570\u256f ") == "space pause \u00b7 s skip \u00b7 q stop"
    assert "Upper trapezius (upper-trapezius) \u00b7 both" in lines[0]
    text = " ".join(" ".join(line.strip("\u2502 ") for line in lines).split())
    assert "29.2 Hz (target 29.2 Hz)" in text
    assert "29.1667" not in text
    assert "theragun&hci=tcp-client:127.0.0.1:40123" in text.replace(" ", "")
    assert "not measured" in text


def test_view_pause_freezes_the_countdown() -> None:
    view = RunView(
        header(),
    )
    view.apply({"type": "session.started", "mono_s": 0.0, "planned_duration_s": 10.0,
                "step_count": 1})  # fmt: skip
    view.apply(step_event(0, "sweep", 0.0, duration=10.0, band_low_n=5, band_high_n=15))
    view.apply({"type": "session.paused", "mono_s": 4.0, "reason": "user", "remaining_s": 6.0})
    assert "paused" in render(view, 50.0)
    assert "sweep 0:06 left" in render(view, 50.0)  # however long the pause lasts
    view.apply({"type": "session.resumed", "mono_s": 50.0, "remaining_s": 6.0})
    assert "sweep 0:03 left" in render(view, 53.0)
    view.apply({"type": "session.aborted", "mono_s": 54.0, "reason": "user"})
    assert "aborted (user)" in render(view, 54.0)


def test_view_contact_hold_waits() -> None:
    view = RunView(header())
    view.apply(step_event(0, "hold", 0.0, duration=20.0, band_low_n=10, band_high_n=20))
    view.apply({"type": "hold.paused", "mono_s": 0.0, "step_index": 0, "remaining_s": 20.0})
    text = render(view, 7.0)
    assert "waits for contact" in text
    assert "hold 0:20 left" in text
    view.apply({"type": "hold.resumed", "mono_s": 7.0, "step_index": 0, "remaining_s": 20.0})
    text = render(view, 12.0)
    assert "hold 0:15 left" in text
    assert "waits for contact" not in text


def test_view_notices() -> None:
    view = RunView(header())
    view.apply({"type": "pressure.low", "mono_s": 1.0, "cue": "More pressure"})
    view.apply({"type": "device.fault", "mono_s": 2.0, "code": "overheat", "active": True})
    assert "More pressure · fault overheat raised" in render(view, 2.0)


def test_view_pressure_notice_clears_with_its_condition() -> None:
    view = RunView(header())
    view.apply(step_event(0, "hold", 0.0, duration=20.0, band_low_n=10, band_high_n=20))
    view.apply({"type": "pressure.low", "mono_s": 1.0, "cue": "More pressure"})
    view.apply({"type": "cue", "mono_s": 1.5, "reason": "freq_clamped", "cue": "clamped"})
    assert "More pressure · clamped" in render(view, 2.0)
    view.apply({"type": "pressure.in_band", "mono_s": 3.0, "after": "low"})
    assert "More pressure" not in render(view, 3.0)
    assert "clamped" in render(view, 3.0)  # a one-off notice stays


@pytest.mark.parametrize("ending", ["step.started", "session.paused", "hold.paused"])
def test_view_pressure_notice_ends_with_its_step_or_contact(ending: str) -> None:
    view = RunView(header())
    view.apply(step_event(0, "hold", 0.0, duration=20.0, band_low_n=10, band_high_n=20))
    view.apply({"type": "pressure.high", "mono_s": 1.0, "cue": "Less pressure"})
    assert "Less pressure" in render(view, 1.0)
    if ending == "step.started":
        view.apply(step_event(1, "release", 2.0, duration=10.0))
    else:
        view.apply({"type": ending, "mono_s": 2.0, "step_index": 0, "remaining_s": 18.0})
    assert "Less pressure" not in render(view, 2.0)


@pytest.mark.parametrize(
    ("force_n", "band", "state"),
    [
        (9.9, (10.0, 20.0), BandState.TOO_LIGHT),
        (10.0, (10.0, 20.0), BandState.IN_BAND),
        (20.0, (10.0, 20.0), BandState.IN_BAND),
        (20.1, (10.0, 20.0), BandState.TOO_HEAVY),
        (5.0, (None, None), BandState.NO_BAND),
        (5.0, (0.0, 0.0), BandState.NO_BAND),
    ],
)
def test_band_state(force_n: float, band: tuple[Any, Any], state: BandState) -> None:
    assert band_state(force_n, *band) is state


def test_format_mmss() -> None:
    assert [format_mmss(s) for s in (0, 0.2, 59.0, 60.0, 61.5, -3)] == [
        "0:00", "0:01", "0:59", "1:00", "1:02", "0:00",
    ]  # fmt: skip


# --- the summary -------------------------------------------------------------------------------


def test_summary_shows_plan_actual_band_peak_cues_faults() -> None:
    steps = [
        StepSummary(index=0, kind="sweep", side="left", cycle=0, planned_start_s=0,
                    planned_duration_s=30, actual_start_s=0.0, actual_duration_s=30.0,
                    lateness_ms=0.2, completed=True, time_in_band_s=27.5, peak_force_n=14.2,
                    pressure_low=2),
        StepSummary(index=1, kind="hold", side="left", cycle=1, planned_start_s=30,
                    planned_duration_s=45, actual_start_s=30.4, actual_duration_s=12.0,
                    completed=True, skipped=True, peak_force_n=31.0, faults=["overheat"]),
        StepSummary(index=2, kind="rest", side="left", cycle=0, planned_start_s=75,
                    planned_duration_s=20),
    ]  # fmt: skip
    summary = Summary(
        session_id="s1", profile_id="p", device="sim", side="left", mode="host",
        outcome="aborted", reason="device_fault", planned_duration_s=95,
        actual_duration_s=42.4, steps_planned=3, steps_completed=2, steps_skipped=1,
        faults=["overheat"], steps=steps, lateness_p50_ms=0.2, lateness_max_ms=0.2,
    )  # fmt: skip
    console = Console(record=True, width=100, color_system=None)
    console.print(summary_renderable(summary))
    text = console.export_text()
    assert "0.0→0.0" in text and "30.0→30.0" in text  # start and duration, planned → actual
    assert "30.0→30.4" in text and "45.0→12.0" in text
    assert "27.5" in text and "14.2" in text and "31.0" in text
    assert "2x more pressure" in text
    assert "skipped; fault overheat" in text
    assert "not run" in text
    assert "Session aborted (device_fault): 2/3 steps done, 1 skipped" in text
    assert "Faults: overheat" in text


def test_summary_labels_shift_and_scheduling_lateness_apart() -> None:
    steps = [
        StepSummary(index=0, kind="hold", side="left", cycle=1, planned_start_s=0,
                    planned_duration_s=30, actual_start_s=0.0, actual_duration_s=30.0,
                    lateness_ms=0.0, shift_s=0.0, completed=True),
        StepSummary(index=1, kind="release", side="left", cycle=1, planned_start_s=30,
                    planned_duration_s=15, actual_start_s=33.3017, actual_duration_s=15.0,
                    lateness_ms=1.7, shift_s=3.3, completed=True),
    ]  # fmt: skip
    summary = Summary(
        session_id="s1", profile_id="p", device="sim", side="left", mode="host",
        outcome="completed", planned_duration_s=45, actual_duration_s=48.3, paused_s=3.3,
        steps_planned=2, steps_completed=2, steps=steps, lateness_p50_ms=0.85,
        lateness_max_ms=1.7, shift_max_s=3.3,
    )  # fmt: skip
    lines = totals_text(summary).plain.splitlines()
    assert "30.0→33.3" in render_summary(summary)
    assert "Shift from the plan: up to 3.3 s (pauses, contact waits, reconnects)" in lines
    assert "Scheduling lateness (issued after due): 0.8 ms at p50, 1.7 ms at worst" in lines
    assert all(len(line) <= 80 for line in lines)
    assert "Step timing" not in " ".join(lines)


def test_summary_without_shift_says_none() -> None:
    assert "none" in shift_text(0.0)
    assert "up to 2.0 s" in shift_text(2.0)


def render_summary(summary: Summary) -> str:
    console = Console(record=True, width=100, color_system=None)
    console.print(summary_renderable(summary))
    return console.export_text()


def test_json_telemetry_lines_are_rate_limited_and_bounded_by_the_session(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wall = [0.0]
    out = JsonRunOutput(wall_s=lambda: wall[0])
    reading = Reading(30.04, 12.345, True, battery_pct=88, motor_temp_c=31.5)
    out.refresh(0.0, reading)  # before session.started: nothing
    out.event(session_started(force_sensing=True))
    for step_s in (0.0, 0.1, 0.15, 0.25, 0.3, 0.45, 0.5, 0.9):
        wall[0] = step_s
        out.refresh(100.0 + step_s, reading)
    started, *lines = json_lines(capsys.readouterr().out)
    assert started["type"] == "session.started"
    assert [line["mono_s"] for line in lines] == [100.0, 100.25, 100.45, 100.9]  # >= 0.2 s apart
    assert lines[0] == {
        "type": "telemetry", "session_id": "s1", "mono_s": 100.0, "freq_hz": 30.04,
        "force_n": 12.35, "contact": True, "battery_pct": 88, "motor_temp_c": 31.5,
    }  # fmt: skip
    out.event(session_started(force_sensing=False))  # a gun that measures no force
    wall[0] = 2.0
    out.refresh(102.0, Reading(29.17, 0.0))
    _, line = json_lines(capsys.readouterr().out)
    assert (line["force_n"], line["contact"], line["battery_pct"]) == (None, None, None)


def session_started(*, force_sensing: bool) -> SessionStarted:
    return SessionStarted(
        session_id="s1", seq=1, mono_s=100.0, wall_time="2026-01-01T00:00:00Z", profile_id="p",
        device="sim", side="left", mode="host", step_count=1, planned_duration_s=10.0,
        force_cap_n=30.0, freq_min_hz=28.0, freq_max_hz=40.0, force_sensing=force_sensing,
    )  # fmt: skip


def test_outcomes_that_fail_the_command() -> None:
    base: dict[str, Any] = {"session_id": "s", "profile_id": "p", "device": "sim", "side": "left",
            "mode": "host", "planned_duration_s": 1.0, "steps_planned": 1}  # fmt: skip
    check_outcome(Summary(**base, outcome="completed"), "p on sim")
    check_outcome(Summary(**base, outcome="aborted", reason="user"), "p on sim")
    with pytest.raises(RunError, match=r"p on sim: session aborted \(over_pressure\)"):
        check_outcome(Summary(**base, outcome="aborted", reason="over_pressure"), "p on sim")
    with pytest.raises(RunError, match="session failed"):
        check_outcome(Summary(**base, outcome="failed", reason="link_lost"), "p on sim")


# --- keys --------------------------------------------------------------------------------------


def test_key_map() -> None:
    assert action_for_key(" ") is KeyAction.TOGGLE_PAUSE
    assert action_for_key("s") is action_for_key("S") is KeyAction.SKIP
    assert action_for_key("q") is action_for_key("\x03") is KeyAction.STOP
    assert action_for_key("x") is None
    assert action_for_key("\n") is None


async def test_key_reader_on_a_real_pty_restores_the_terminal() -> None:
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        got: list[KeyAction] = []
        three = asyncio.Event()

        def on_action(action: KeyAction) -> None:
            got.append(action)
            if len(got) == 3:
                three.set()

        with KeyReader(on_action, fd=slave) as reader:
            assert reader.active
            lflag = termios.tcgetattr(slave)[3]
            assert not lflag & (termios.ECHO | termios.ICANON)  # one key at a time, unechoed
            assert lflag & termios.ISIG  # Ctrl-C still raises SIGINT
            os.write(master, b" xsq")
            async with asyncio.timeout(5):
                await three.wait()
        assert got == [KeyAction.TOGGLE_PAUSE, KeyAction.SKIP, KeyAction.STOP]
        assert not reader.active
        assert termios.tcgetattr(slave) == before
        with pytest.raises(RuntimeError), KeyReader(got.append, fd=slave):
            raise RuntimeError("boom")
        assert termios.tcgetattr(slave) == before  # restored on an error too
    finally:
        os.close(master)
        os.close(slave)


async def test_key_reader_is_a_no_op_without_a_terminal() -> None:
    read_fd, write_fd = os.pipe()
    try:
        with KeyReader(lambda action: None, fd=read_fd) as reader:
            assert not reader.active
    finally:
        os.close(read_fd)
        os.close(write_fd)


class FakeSession:
    """The control surface of a Session, recording calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.paused = False

    def pause(self) -> CommandResult:
        self.calls.append("pause")
        self.paused = True
        return CommandResult.ok(SessionCommand.PAUSE)

    def resume(self) -> CommandResult:
        self.calls.append("resume")
        self.paused = False
        return CommandResult.ok(SessionCommand.RESUME)

    def skip(self) -> CommandResult:
        self.calls.append("skip")
        return CommandResult.ok(SessionCommand.SKIP)

    async def stop(self) -> CommandResult:
        self.calls.append("stop")
        return CommandResult.ok(SessionCommand.STOP)


async def test_keys_drive_pause_resume_skip_stop() -> None:
    session = FakeSession()
    assert apply_key(session, KeyAction.TOGGLE_PAUSE) is None
    assert apply_key(session, KeyAction.SKIP) is None
    assert apply_key(session, KeyAction.TOGGLE_PAUSE) is None
    task = apply_key(session, KeyAction.STOP)
    assert task is not None
    await task
    assert session.calls == ["pause", "skip", "resume", "stop"]


async def read_until(stream: asyncio.StreamReader, wanted: str) -> list[dict[str, Any]]:
    """JSON lines up to and including the first of type `wanted`."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while True:
            line = await stream.readline()
            assert line, f"output ended before {wanted}: {seen}"
            seen.append(json.loads(line))
            if seen[-1]["type"] == wanted:
                return seen


async def test_keys_through_a_terminal(profiles: Path) -> None:
    master, slave = os.openpty()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpdevice", "run", "run-slow", "--side", "left", "--json",
        "--time-scale", "5", "--profiles-dir", str(profiles), stdin=slave,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    os.close(slave)
    try:
        assert child.stdout is not None
        await read_until(child.stdout, "step.started")
        os.write(master, b" ")
        paused = (await read_until(child.stdout, "session.paused"))[-1]
        assert (paused["reason"], paused["step_index"]) == ("user", 0)
        os.write(master, b" ")
        await read_until(child.stdout, "session.resumed")
        os.write(master, b"s")
        skipped = (await read_until(child.stdout, "step.completed"))[-1]
        assert (skipped["step_index"], skipped["skipped"]) == (0, True)
        os.write(master, b"q")
        aborted = (await read_until(child.stdout, "session.aborted"))[-1]
        assert aborted["reason"] == "user"
        summary = (await read_until(child.stdout, "summary"))[-1]
        assert (summary["outcome"], summary["steps_skipped"]) == ("aborted", 1)
        async with asyncio.timeout(10):
            _, err = await child.communicate()
        assert child.returncode == 0, err
    finally:
        os.close(master)
        if child.returncode is None:
            child.kill()
            await child.wait()


# --- Ctrl-C ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [(signal.SIGINT, 130, "tpdevice: interrupted"), (signal.SIGTERM, 143, "tpdevice: terminated")],
    ids=["sigint", "sigterm"],
)
async def test_a_signal_stops_the_motor_prints_the_summary_and_says_so(
    profiles: Path, signum: int, code: int, line: str
) -> None:
    async with SimulatorFleet("serial", 1, seed=3) as fleet:
        firmware = fleet.guns[0].firmware
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpdevice", "run", "run-slow", "--side", "left", "--json",
            "--mode", "host", "--device", fleet.addresses[0], "--profiles-dir", str(profiles),
            "--yes", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert child.stdout is not None
        await read_until(child.stdout, "step.started")
        for _ in range(500):  # the START follows the first step's SET_OUTPUT
            if firmware.state is MotorState.RUNNING:
                break
            await asyncio.sleep(0.01)
        assert firmware.state is MotorState.RUNNING
        child.send_signal(signum)
        async with asyncio.timeout(10):
            out, err = await child.communicate()
        rest = json_lines(out.decode())
        assert child.returncode == code
        assert err.decode().splitlines()[-1] == line
        assert "Traceback" not in err.decode()
        assert [e["type"] for e in rest][-2:] == ["session.aborted", "summary"]
        assert (rest[-1]["outcome"], rest[-1]["reason"]) == ("aborted", "user")
        # STOP went out with the abort, not the watchdog later.
        assert firmware.state in (MotorState.STOPPING, MotorState.IDLE)
        assert FaultCode.WATCHDOG not in firmware.faults.active
    assert fleet.violations == []


# --- bad inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        (["run", "no-such-profile"], 2, "unknown profile 'no-such-profile'"),
        (["run", "run-shrot"], 2, "did you mean run-short"),
        (["run", "run-short", "--side", "left"], 2, "--side: profile run-short is midline"),
        (["run", "run-slow", "--side", "up"], 2, "--side: 'up' is not one of"),
        (["run", "run-short", "--device", "serial:///dev/ttyUSB9", "--time-scale", "30"], 2,
         "--time-scale: only the built-in simulator"),
        (["run", "run-short", "--device", "bogus://x"], 2, "--device: bogus://x"),
        (["run", "run-short", "--device", "serial:///dev/tpdevice-no-such-tty", "--yes"], 1,
         "no such device"),
        (["run", "run-short", "--mode", "turbo"], 2, "--mode: 'turbo' is not one of"),
        (["run", "run-short", "--intensity", "500"], 2, "--intensity: 500"),
        (["run", "run-short", "--time-scale", "0"], 2, "--time-scale: 0"),
    ],
)  # fmt: skip
def test_bad_inputs_are_one_line(
    capsys: pytest.CaptureFixture[str], profiles: Path, argv: list[str], code: int, text: str
) -> None:
    got, out, err = run_main(capsys, *argv, "--profiles-dir", str(profiles))
    assert (got, out) == (code, "")
    assert err.count("\n") == 1, err
    assert text in err


def test_missing_profiles_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "run", "x", "--profiles-dir", str(tmp_path / "none"))
    assert code == 2
    assert err.strip().endswith(f"--profiles-dir: {tmp_path / 'none'} is not a directory")


def test_a_broken_file_is_named_rather_than_unknown(profiles: Path) -> None:
    broken = SHORT.replace("run-short", "run-broken").replace("duration_s: 2,", "duration_s: -2,")
    (profiles / "run-broken.yaml").write_text(broken)
    with pytest.raises(ProfileError, match=r"run-broken\.yaml:\d+: .*duration_s"):
        load_run_profile("run-broken", (profiles,), None)


def test_a_duplicate_id_is_an_error(
    profiles: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("more")
    (other / "run-short.yaml").write_text(SHORT)
    with pytest.raises(ProfileError, match="duplicate profile id 'run-short'"):
        load_run_profile("run-short", (profiles, other), None)
