"""A controller in its own process, killed mid-run: the gun's watchdog must stop the motor."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from tpdevice.protocol import FaultCode, MotorState
from tpdevice_sim.gun import SimulatorFleet

WATCHDOG_MS = 200
# A controller in its own process: connects, starts the motor, heartbeats until killed.
CONTROLLER = f"""
import asyncio, sys
from tpdevice.device import open_client, run_heartbeat

async def main():
    client = await open_client(sys.argv[1], watchdog_ms={WATCHDOG_MS}, reconnect=False)
    await client.set_output(33.0)
    await client.start()
    print("running", flush=True)
    await run_heartbeat(client)

asyncio.run(main())
"""


async def kill_controller_mid_run(fleet: SimulatorFleet, *, ready_timeout_s: float) -> None:
    """SIGKILL a CONTROLLER of the fleet's first gun while its heartbeats keep the motor
    running; the gun must then stop the motor on its own, with a WATCHDOG fault."""
    gun = fleet.guns[0]
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CONTROLLER, fleet.addresses[0], stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        async with asyncio.timeout(ready_timeout_s):
            assert (await child.stdout.readline()).strip() == b"running"
        await asyncio.sleep(3 * WATCHDOG_MS / 1000)  # heartbeats keep it running meanwhile
        assert gun.firmware.state is MotorState.RUNNING
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have died on its own
            child.send_signal(signal.SIGKILL)
        await child.wait()
    async with asyncio.timeout(5):
        while gun.firmware.state is MotorState.RUNNING:  # noqa: ASYNC110 (the firmware has no event to await)
            await asyncio.sleep(0.01)
    assert FaultCode.WATCHDOG in gun.firmware.faults.active
