"""The Theragun driver's simulator factory: an in-process simulated Gen 4 gun."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tpdevice.device.connect import SimulatedGun
from tpdevice.device.errors import DeviceConnectionError
from tpdevice.transport import DeviceAddress, LoopbackTransport

__all__ = ["serve_ble", "start_simulator"]

_LOGGER = logging.getLogger(__name__)


async def start_simulator(address: DeviceAddress, sim_options: dict[str, Any]) -> SimulatedGun:
    """Start a simulated Theragun (`sim_options`: model, version, keepalive_s, time_scale).

    Its hints name the model it plays, so the client takes that model's speed range.
    """
    from tpdevice_sim.clock import ScaledClock
    from tpdevice_sim.theragun import TheragunFirmware, TheragunLoopbackLink

    options = dict(sim_options)
    try:
        clock = ScaledClock(float(options.pop("time_scale", 1.0)))
        firmware = TheragunFirmware(**options)
    except (TypeError, ValueError) as err:
        raise DeviceConnectionError(f"{address.text}: simulated Theragun: {err}") from None
    link = TheragunLoopbackLink(firmware, clock)
    link.start()
    _LOGGER.info("%s: in-process simulated Theragun %s", address.text, firmware.preset.name)
    return SimulatedGun(
        lambda: LoopbackTransport(link, address.text), link.stop, {"model": firmware.preset.name}
    )


async def serve_ble(
    model: str,
    count: int,
    time_scale: float,
    hci: str | None,
    print_address: Callable[[str], None],
    stop: asyncio.Event,
    say: Callable[[str], None],
) -> None:
    """Serve `count` simulated guns of `model` (Pro, Elite, Prime) on BLE until stop is set.

    Every invariant violation is said as it happens, and the run's record when it ends.
    """
    from tpdevice_sim.ble.spec import BUMBLE_HINT, BleUnavailableError

    try:
        from tpdevice_sim.ble.theragun_peripheral import TheragunFleet
        from tpdevice_sim.ble.theragun_peripheral import serve as serve_fleet
    except ImportError:
        raise BleUnavailableError(BUMBLE_HINT) from None
    from tpdevice_sim.record import report_theragun_violations, theragun_record

    fleet = TheragunFleet(count, model=model, time_scale=time_scale, ble_hci=hci)
    report_theragun_violations(fleet.guns, say)
    served: list[str] = []

    def print_and_note(address: str) -> None:
        served.append(address)
        print_address(address)

    try:
        await serve_fleet(fleet, print_and_note, stop)
    finally:
        if served:  # a fleet that never started has nothing to report
            say(str(theragun_record(fleet.guns)))
