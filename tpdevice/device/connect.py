"""open_client(): from an address string to a connected DeviceClient (serial, tcp or sim)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tpdevice.device.client import ClientOptions, DeviceClient
from tpdevice.device.errors import DeviceConnectionError
from tpdevice.transport import (
    DeviceAddress,
    LoopbackTransport,
    Transport,
    open_transport,
    parse_address,
)

__all__ = ["open_client"]

_LOGGER = logging.getLogger(__name__)

TransportFactory = Callable[[], Transport]
OnClose = Callable[[], Awaitable[None]]


async def open_client(
    address: str | DeviceAddress, *, sim_options: dict[str, Any] | None = None, **options: Any
) -> DeviceClient:
    """Parse the address, open it and handshake; `options` are ClientOptions fields.

    `sim` starts an in-process simulated gun (stopped again by client.close());
    `sim_options` are passed to it. Raises AddressError, TransportOpenError or HandshakeError.
    """
    parsed = parse_address(address) if isinstance(address, str) else address
    client_options = ClientOptions(**options)
    if parsed.driver != "native":
        raise DeviceConnectionError(f"{parsed.text}: driver {parsed.driver} is not supported yet")
    on_close: OnClose | None = None
    if parsed.scheme == "sim":
        factory, on_close = await _start_sim(parsed, sim_options or {})
    else:
        factory = _transport_factory(parsed)
    client = DeviceClient(parsed.text, factory, client_options, on_close=on_close)
    try:
        await client.connect()
    except BaseException:
        await client.close()
        raise
    return client


def _transport_factory(address: DeviceAddress) -> TransportFactory:
    """A new serial/tcp transport per (re)connection."""
    return lambda: open_transport(address)


async def _start_sim(
    address: DeviceAddress, sim_options: dict[str, Any]
) -> tuple[TransportFactory, OnClose]:
    """Start an in-process simulated gun; return its transport factory and its stopper.

    `sim_options` go to simulator.gun.SimulatorFleet (seed, faults, time_scale, model,
    scenario); `faults` may also be a spec string like "drop=0.05,dup=0.01".
    """
    # Imported here: only the built-in `sim` address needs the simulator.
    from simulator.faults import parse_fault_spec
    from simulator.gun import SimulatorFleet
    from simulator.links import LoopbackLink

    options = dict(sim_options)
    if isinstance(options.get("faults"), str):
        options["faults"] = parse_fault_spec(options["faults"], source=f"{address.text} faults")
    fleet = SimulatorFleet("loopback", 1, **options)
    await fleet.start()
    link = fleet.guns[0].link
    if not isinstance(link, LoopbackLink):  # pragma: no cover - SimulatorFleet contract
        await fleet.stop()
        raise DeviceConnectionError(f"{address.text}: the simulator did not give a loopback link")
    _LOGGER.info("%s: in-process simulated gun %s", address.text, fleet.guns[0].config.serial)
    return (lambda: LoopbackTransport(link, address.text)), fleet.stop
