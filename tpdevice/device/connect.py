"""open_gun() / open_client(): from an address string to a connected client, for any driver.

The address's driver (tpdevice.transport.registry) supplies the client factory and, for
`sim`, the simulator factory; both are "module:function" paths loaded on first use.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tpdevice.device.api import GunClient
from tpdevice.device.client import ClientOptions, DeviceClient
from tpdevice.device.errors import DeviceConnectionError
from tpdevice.transport import (
    DeviceAddress,
    DriverSpec,
    Transport,
    get_driver,
    open_transport,
    parse_address,
)
from tpdevice.transport.registry import DEFAULT_DRIVER, driver_for_name

__all__ = [
    "ClientFactory",
    "OpenRequest",
    "SimulatedGun",
    "SimulatorFactory",
    "open_client",
    "open_gun",
    "resolve_driver",
]

_LOGGER = logging.getLogger(__name__)

TransportFactory = Callable[[], Transport]
OnClose = Callable[[], Awaitable[None]]


@dataclasses.dataclass(frozen=True, slots=True)
class OpenRequest:
    """Everything a driver's client factory gets to build an (unconnected) client."""

    address: DeviceAddress
    transport_factory: TransportFactory
    options: ClientOptions
    on_close: OnClose | None = None
    hints: Mapping[str, str] = dataclasses.field(default_factory=dict)  # from the simulator
    poll_status: bool = False  # ask a gun that reports only when asked, with every beat


@dataclasses.dataclass(frozen=True, slots=True)
class SimulatedGun:
    """An in-process simulated gun: new transports to it, its stopper, what it plays."""

    transport_factory: TransportFactory
    stop: OnClose
    hints: Mapping[str, str] = dataclasses.field(default_factory=dict)


ClientFactory = Callable[[OpenRequest], GunClient]
SimulatorFactory = Callable[[DeviceAddress, dict[str, Any]], Awaitable[SimulatedGun]]


async def open_gun(
    address: str | DeviceAddress,
    *,
    sim_options: dict[str, Any] | None = None,
    poll_status: bool = False,
    background: bool = False,
    **options: Any,
) -> GunClient:
    """Parse the address, build its driver's client and connect it; `options`: ClientOptions.

    A ble:// address without `driver=` whose name a driver claims (`ble://name=Pro`) uses
    that driver. `sim` starts the driver's in-process simulated gun (`sim_options` go to it;
    client.close() stops it). `background=True` returns at once, connecting with backoff.
    Raises AddressError, TransportOpenError or HandshakeError.
    """
    parsed, spec = resolve_driver(address)
    client_options = ClientOptions(**options)
    if parsed.scheme == "sim":
        sim = await _start_simulator(spec, parsed, sim_options or {})
        request = OpenRequest(
            parsed, sim.transport_factory, client_options, sim.stop, sim.hints, poll_status
        )
    else:
        request = OpenRequest(
            parsed, _transport_factory(parsed), client_options, poll_status=poll_status
        )
    factory: ClientFactory = _load(spec.client_factory)
    client = factory(request)
    if background:
        client.connect_in_background()
        return client
    try:
        await client.connect()
    except BaseException:
        await client.close()
        raise
    return client


async def open_client(
    address: str | DeviceAddress, *, sim_options: dict[str, Any] | None = None, **options: Any
) -> DeviceClient:
    """open_gun() for the native driver, typed as its DeviceClient (programs, time sync)."""
    parsed, spec = resolve_driver(address)
    if spec.name != DEFAULT_DRIVER:
        raise DeviceConnectionError(
            f"{parsed.text}: driver {spec.name} is opened with open_gun(), not open_client()"
        )
    client = await open_gun(parsed, sim_options=sim_options, **options)
    if not isinstance(client, DeviceClient):  # pragma: no cover - the native factory's contract
        await client.close()
        raise DeviceConnectionError(f"{parsed.text}: the native driver gave no DeviceClient")
    return client


def resolve_driver(address: str | DeviceAddress) -> tuple[DeviceAddress, DriverSpec]:
    """The parsed address (its driver found from a BLE name if not given) and driver spec."""
    parsed = parse_address(address) if isinstance(address, str) else address
    if parsed.scheme == "ble" and "driver" not in parsed.params:
        claimed = driver_for_name(parsed.ble_name)
        if claimed is not None:
            parsed = dataclasses.replace(parsed, driver=claimed)
    spec = get_driver(parsed.driver, where=parsed.text)
    if parsed.scheme not in spec.schemes:
        forms = " or ".join(f"{s}://" if s != "sim" else "sim" for s in sorted(spec.schemes))
        raise DeviceConnectionError(
            f"{parsed.text}: the {spec.name} driver needs a {forms} address"
        )
    return parsed, spec


def _transport_factory(address: DeviceAddress) -> TransportFactory:
    """A new serial, tcp or ble transport per (re)connection (ble: the driver's GATT layout)."""
    return lambda: open_transport(address)


async def _start_simulator(
    spec: DriverSpec, address: DeviceAddress, sim_options: dict[str, Any]
) -> SimulatedGun:
    """Start the driver's in-process simulated gun."""
    if spec.simulator_factory is None:  # pragma: no cover - DriverSpec checks it
        raise DeviceConnectionError(f"{address.text}: driver {spec.name} has no simulator")
    start: SimulatorFactory = _load(spec.simulator_factory)
    return await start(address, sim_options)


def _load(path: str) -> Any:
    """The object a "module:attribute" path names (a driver's factory)."""
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
