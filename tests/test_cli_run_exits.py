"""How `tpdevice run` ends: a dead output stops the motor, a second Ctrl-C changes nothing, no
library traceback reaches stderr, a mistyped profile id is a usage error."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import write_sweeps

from tpdevice.cli.run_cmd import load_run_profile
from tpdevice.protocol import FaultCode, MotorState
from tpdevice_sim.firmware import Firmware
from tpdevice_sim.gun import SimulatorFleet


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    """A profiles dir: pipe-run, pipe-long and gun-run."""
    write_sweeps(tmp_path, "pipe-run", *[1] * 20)  # an event (a write to stdout) every second
    write_sweeps(tmp_path, "pipe-long", 60)  # no event for a minute: only redraws see the reader
    write_sweeps(tmp_path, "gun-run", 10, 10)
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
            "--device", fleet.addresses[0], "--profiles-dir", str(profiles), "--yes",
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
            "host", "--device", fleet.addresses[0], "--yes",
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


# --- usage mistakes exit 2 ---------------------------------------------------------------------


def test_an_unknown_profile_id_is_a_usage_error(profiles: Path) -> None:
    from tpdevice.cli.errors import CliError

    with pytest.raises(CliError, match="unknown profile 'gun-rnu' \\(did you mean gun-run\\?\\)"):
        load_run_profile("gun-rnu", (profiles,), None)
