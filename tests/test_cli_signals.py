"""Ctrl-C and SIGTERM: the command cleans up (the motor is stopped), then exits with one line."""

import asyncio
import signal
import sys

import pytest

from tpdevice.protocol import FaultCode, MotorState
from tpdevice_sim.gun import SimulatorFleet


async def start_probe(address: str) -> asyncio.subprocess.Process:
    """`tpdevice probe ADDRESS --spin 33 --json` running, with the motor on."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpdevice", "probe", address, "--spin", "33", "--json",
        "--seconds", "60", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    async with asyncio.timeout(15):
        for _ in range(5):  # capabilities, then telemetry: the motor has been started
            await child.stdout.readline()
    return child


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [
        (signal.SIGTERM, 143, "tpdevice: terminated"),
        (signal.SIGINT, 130, "tpdevice: interrupted"),
    ],
)
async def test_signal_stops_the_motor_and_exits_with_one_line(
    signum: int, code: int, line: str
) -> None:
    async with SimulatorFleet("serial", 1, seed=5) as fleet:
        firmware = fleet.guns[0].firmware
        child = await start_probe(fleet.addresses[0])
        assert firmware.state is MotorState.RUNNING
        child.send_signal(signum)
        async with asyncio.timeout(10):
            _, err = await child.communicate()
        assert child.returncode == code
        assert err.decode().strip().splitlines()[-1] == line
        assert "Traceback" not in err.decode()
        # The probe sent STOP on its way out: stopped, and not by the watchdog.
        assert firmware.state in (MotorState.STOPPING, MotorState.IDLE)
        assert FaultCode.WATCHDOG not in firmware.faults.active
    assert fleet.violations == []
