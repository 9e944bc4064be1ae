"""The safety check before a run on a real gun: Enter starts, Esc or q cancels, --yes skips."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import json_lines, run_main

from tpdevice.cli.run_confirm import start_key_answer
from tpdevice.protocol import MotorState
from tpdevice_sim.firmware import Firmware
from tpdevice_sim.gun import SimulatorFleet

# Two 2 s sweeps, midline.
PROFILE = """\
id: confirm-run
title: Confirm run
region: test region
muscles: [test muscle]
laterality: midline
attachment: ball
avoid_zones: [spine]
contraindications: [blood thinners]
caps: {max_force_n: 30, freq_min_hz: 28, freq_max_hz: 40, max_hold_s: 60,
       max_work_s: 300, min_recovery_h: 24}
steps:
  - {kind: sweep, freq_hz: 30, force_target_n: 10, force_tolerance_n: 5, duration_s: 2}
  - {kind: sweep, freq_hz: 31, force_target_n: 10, force_tolerance_n: 5, duration_s: 2}
"""


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    (tmp_path / "confirm-run.yaml").write_text(PROFILE)
    return tmp_path


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (b"\r", True), (b"\n", True), (b"x\r", True), (b"\x1b", False), (b"q", False),
        (b"Q", False), (b"\x03", False), (b"\x1b[A", None), (b" ", None), (b"s", None),
    ],
)  # fmt: skip
def test_start_keys(data: bytes, answer: bool | None) -> None:
    assert start_key_answer(data) is answer


def test_a_real_gun_without_a_terminal_needs_yes(
    capsys: pytest.CaptureFixture[str], profiles: Path
) -> None:
    code, out, err = run_main(
        capsys, "run", "confirm-run", "--device", "serial:///dev/ttyUSB0",
        "--profiles-dir", str(profiles),
    )  # fmt: skip
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "stdin is not a terminal" in err and "pass --yes" in err


def test_the_simulator_needs_no_key(capsys: pytest.CaptureFixture[str], profiles: Path) -> None:
    code, out, err = run_main(
        capsys, "run", "confirm-run", "--json", "--time-scale", "50",
        "--profiles-dir", str(profiles),
    )  # fmt: skip
    assert code == 0, err
    started = next(line for line in json_lines(out) if line["type"] == "session.started")
    assert started["safety_confirmed"] == "simulator"


async def read_until(stream: asyncio.StreamReader, wanted: str) -> list[dict[str, Any]]:
    """JSON lines up to and including the first of type `wanted`."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(20):
        while True:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"no {wanted} line; got {[s['type'] for s in seen]}")
            seen.append(json.loads(line))
            if seen[-1]["type"] == wanted:
                return seen


async def never_running(firmware: Firmware, seen: list[MotorState]) -> None:
    """Record every motor state while the run waits for the key."""
    while True:
        seen.append(firmware.state)
        await asyncio.sleep(0.005)


async def start_run(
    address: str, profiles: Path, stdin: int, *extra: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpdevice", "run", "confirm-run", "--json", "--mode", "host",
        "--device", address, "--profiles-dir", str(profiles), *extra, stdin=stdin,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.parametrize("key", [b"\r", b"\x1b", b"q"], ids=["enter", "esc", "q"])
async def test_the_motor_waits_for_enter_after_the_safety_notes(profiles: Path, key: bytes) -> None:
    async with SimulatorFleet("serial", 1, seed=7) as fleet:
        firmware = fleet.guns[0].firmware
        master, slave = os.openpty()
        child = await start_run(fleet.addresses[0], profiles, slave)
        os.close(slave)
        states: list[MotorState] = []
        try:
            assert child.stdout is not None
            (safety,) = await read_until(child.stdout, "profile.safety")
            watcher = asyncio.create_task(never_running(firmware, states))
            await asyncio.sleep(0.5)  # the run waits: nothing reaches the motor
            watcher.cancel()
            assert states and MotorState.RUNNING not in states
            assert firmware.output.freq_hz == 0
            os.write(master, key)
            async with asyncio.timeout(20):
                out, err = await child.communicate()
        finally:
            os.close(master)
            if child.returncode is None:
                child.kill()
                await child.wait()
        assert safety["avoid_zones"] == ["spine"]
        text = err.decode()
        assert "Enter starts the motor; Esc or q cancels." in text
        assert "Traceback" not in text
        lines = json_lines(out.decode())
        if key == b"\r":
            assert child.returncode == 0, text
            started = next(line for line in lines if line["type"] == "session.started")
            assert started["safety_confirmed"] == "enter"
            assert lines[-1]["type"] == "summary" and lines[-1]["outcome"] == "completed"
        else:
            assert child.returncode == 1
            assert text.splitlines()[-1] == (
                f"tpdevice: {fleet.addresses[0]}: not started, cancelled at the safety notes"
            )
            assert lines == []  # no session event: the session never started
            assert firmware.state is MotorState.IDLE and firmware.output.freq_hz == 0
    assert fleet.violations == []


async def test_yes_starts_at_once_and_is_recorded(profiles: Path) -> None:
    async with SimulatorFleet("serial", 1, seed=7) as fleet:
        child = await start_run(fleet.addresses[0], profiles, asyncio.subprocess.DEVNULL, "--yes")
        async with asyncio.timeout(30):
            out, err = await child.communicate()
        assert child.returncode == 0, err.decode()
        assert "Enter starts the motor" not in err.decode()
        lines = json_lines(out.decode())
        started = next(line for line in lines if line["type"] == "session.started")
        assert started["safety_confirmed"] == "--yes"
    assert fleet.violations == []
