"""Kill -9 the controlling process mid-run: the simulated gun's watchdog stops the motor."""

from controller_helpers import kill_controller_mid_run

from tpdevice_sim.gun import SimulatorFleet


async def test_sigkill_of_the_controller_stops_the_motor_within_the_watchdog() -> None:
    async with SimulatorFleet("serial", 1, seed=3) as fleet:
        await kill_controller_mid_run(fleet, ready_timeout_s=10)
    # The monitor flags a motor running past the watchdog, measured in device time.
    assert fleet.violations == []
