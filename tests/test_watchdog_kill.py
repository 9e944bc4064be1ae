"""Kill -9 the controlling process mid-run: the simulated gun's watchdog stops the motor."""

import asyncio
import signal
import sys

from simulator.gun import SimulatorFleet
from tpdevice.protocol import FaultCode, MotorState

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


async def test_sigkill_of_the_controller_stops_the_motor_within_the_watchdog() -> None:
    async with SimulatorFleet("serial", 1, seed=3) as fleet:
        gun = fleet.guns[0]
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CONTROLLER, fleet.addresses[0], stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        async with asyncio.timeout(10):
            assert (await child.stdout.readline()).strip() == b"running"
        await asyncio.sleep(3 * WATCHDOG_MS / 1000)  # heartbeats keep it running meanwhile
        assert gun.firmware.state is MotorState.RUNNING
        child.send_signal(signal.SIGKILL)
        await child.wait()
        async with asyncio.timeout(5):
            while gun.firmware.state is MotorState.RUNNING:  # noqa: ASYNC110 (the firmware has no event to await)
                await asyncio.sleep(0.01)
        assert FaultCode.WATCHDOG in gun.firmware.faults.active
    # The monitor flags a motor running past the watchdog, measured in device time.
    assert fleet.violations == []
