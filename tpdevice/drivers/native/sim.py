"""The native driver's simulator factory: an in-process simulated gun on a loopback link."""

from __future__ import annotations

import logging
from typing import Any

from tpdevice.device.connect import SimulatedGun
from tpdevice.device.errors import DeviceConnectionError
from tpdevice.transport import DeviceAddress, LoopbackTransport

__all__ = ["start_simulator"]

_LOGGER = logging.getLogger(__name__)


async def start_simulator(address: DeviceAddress, sim_options: dict[str, Any]) -> SimulatedGun:
    """Start one simulated gun (`sim?id=N` plays serial SIM-000N unless a seed is given).

    `sim_options` go to tpdevice_sim.gun.SimulatorFleet (seed, faults, time_scale, model,
    scenario); `faults` may also be a spec string like "drop=0.05,dup=0.01".
    """
    # Imported here: only the built-in `sim` address needs the simulator.
    from tpdevice_sim.faults import parse_fault_spec
    from tpdevice_sim.gun import SimulatorFleet
    from tpdevice_sim.links import LoopbackLink

    options = dict(sim_options)
    if isinstance(options.get("faults"), str):
        options["faults"] = parse_fault_spec(options["faults"], source=f"{address.text} faults")
    if address.sim_id is not None:
        options.setdefault("seed", address.sim_id)
    fleet = SimulatorFleet("loopback", 1, **options)
    await fleet.start()
    link = fleet.guns[0].link
    if not isinstance(link, LoopbackLink):  # pragma: no cover - SimulatorFleet contract
        await fleet.stop()
        raise DeviceConnectionError(f"{address.text}: the simulator did not give a loopback link")
    _LOGGER.info("%s: in-process simulated gun %s", address.text, fleet.guns[0].config.serial)
    return SimulatedGun(lambda: LoopbackTransport(link, address.text), fleet.stop)
