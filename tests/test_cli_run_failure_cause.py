"""`tpdevice run`: why a session failed shows on stderr, in the live view and the JSON summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import json_lines, run_main
from engine_helpers import FakeGun
from rich.console import Console

from tpdevice.cli.run_view import RunHeader, RunView
from tpdevice.device.api import GunClient
from tpdevice.device.errors import DeviceRejectedError
from tpdevice.protocol import MsgType, ResultCode
from tpdevice.therapy.clock import VirtualClock
from tpdevice.transport import DeviceAddress

PROFILE = """\
id: cause-run
title: Cause run
region: test region
muscles: [test muscle]
laterality: midline
attachment: ball
avoid_zones: [bone]
contraindications: [injury]
caps: {max_force_n: 30, freq_min_hz: 28, freq_max_hz: 40, max_hold_s: 60,
       max_work_s: 300, min_recovery_h: 24}
steps:
  - {kind: sweep, freq_hz: 30, force_target_n: 10, force_tolerance_n: 5, duration_s: 5}
"""
CAUSE = "START refused by fake: overheat"


@pytest.fixture
def overheated_gun(monkeypatch: pytest.MonkeyPatch) -> FakeGun:
    """The gun `tpdevice run` opens: it refuses START (overheat)."""
    gun = FakeGun(VirtualClock())
    gun.fail_next["start"] = DeviceRejectedError("fake", MsgType.START, ResultCode.OVERHEAT)

    async def open_fake(address: str | DeviceAddress, *, time_scale: float = 1.0) -> GunClient:
        return gun

    monkeypatch.setattr("tpdevice.cli.run_cmd.open_session_gun", open_fake)
    return gun


def _run_failed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[int, str, str]:
    (tmp_path / "cause-run.yaml").write_text(PROFILE)
    return run_main(
        capsys, "run", "cause-run", "--json", "--mode", "host", "--profiles-dir", str(tmp_path)
    )


def test_the_cause_is_on_stderr_and_in_the_json_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, overheated_gun: FakeGun
) -> None:
    code, out, err = _run_failed(capsys, tmp_path)
    assert code == 1
    assert err.splitlines()[-1] == (
        f"tpdevice: error: cause-run on sim: session failed (device_error): {CAUSE}"
    )
    *events, summary = json_lines(out)
    assert summary["type"] == "summary"
    assert (summary["outcome"], summary["reason"], summary["cause"]) == (
        "failed", "device_error", CAUSE,
    )  # fmt: skip
    assert events[-1]["type"] == "session.failed" and events[-1]["error"] == CAUSE


def test_the_live_view_names_the_cause(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, overheated_gun: FakeGun
) -> None:
    _, out, _ = _run_failed(capsys, tmp_path)
    view = RunView(RunHeader("cause-run", "Cause run", "test region", "midline", "sim"))
    for event in json_lines(out)[1:-1]:
        view.apply(event)
    console = Console(record=True, width=200, color_system=None)
    console.print(view.render(0.0))
    shown = console.export_text()
    assert f"failed: {CAUSE}" in view.notices
    assert f"failed: {CAUSE}" in shown


def test_a_user_stop_adds_no_cause_notice() -> None:
    view = RunView(RunHeader("p", "P", "r", "midline", "sim"))
    view.apply({"type": "session.aborted", "mono_s": 1.0, "reason": "user", "detail": "stopped"})
    assert view.status == "aborted (user)" and view.notices == []
    view.apply(
        {"type": "session.aborted", "mono_s": 2.0, "reason": "device_fault", "detail": "overheat"}
    )
    assert view.notices == ["aborted: overheat"]
