"""The parrot driver's simulator: a loopback parrot."""

from __future__ import annotations

from typing import Any

from tpdevice.device.connect import SimulatedGun
from tpdevice.transport import DeviceAddress, EchoPeer, LoopbackTransport


async def start_simulator(address: DeviceAddress, sim_options: dict[str, Any]) -> SimulatedGun:
    """A parrot that repeats every write."""
    parrot = EchoPeer()

    async def stop() -> None:
        parrot.detach()

    return SimulatedGun(
        lambda: LoopbackTransport(parrot, address.text), stop, {"model": "parrot-1"}
    )
