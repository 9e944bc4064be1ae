"""open_client() / open_gun(): from an address string to a connected client (any driver)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tpdevice.device.api import GunClient
from tpdevice.device.client import ClientOptions, DeviceClient
from tpdevice.device.errors import DeviceConnectionError
from tpdevice.device.theragun import TheragunClient
from tpdevice.drivers.theragun import MODELS, TheragunModel, find_model, is_theragun_name
from tpdevice.transport import (
    DeviceAddress,
    LoopbackTransport,
    Transport,
    open_transport,
    parse_address,
)

__all__ = ["open_client", "open_gun"]

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
        raise DeviceConnectionError(
            f"{parsed.text}: driver {parsed.driver} is opened with open_gun(), not open_client()"
        )
    on_close: OnClose | None = None
    if parsed.scheme == "sim":
        factory, on_close = await _start_sim(parsed, sim_options or {})
    else:
        factory = _transport_factory(parsed)
    client = DeviceClient(
        parsed.text, factory, client_options, on_close=on_close, device_id=parsed.device_id
    )
    try:
        await client.connect()
    except BaseException:
        await client.close()
        raise
    return client


async def open_gun(
    address: str | DeviceAddress,
    *,
    sim_options: dict[str, Any] | None = None,
    poll_status: bool = False,
    **options: Any,
) -> GunClient:
    """open_client() for any driver: `driver=theragun` gives a connected TheragunClient.

    A ble:// address without `driver=` whose name is a Theragun name (`ble://name=Pro`) uses
    the theragun driver. The model (speed range) comes from the name in the address, else
    from the names the gun gives when connecting; unknown, the range all models share.
    `sim?driver=theragun` starts an in-process simulated Theragun (`sim_options`: model,
    version, keepalive_s, time_scale). `poll_status` is the TheragunClient option;
    `options` are ClientOptions fields.
    """
    parsed = _detect_driver(parse_address(address) if isinstance(address, str) else address)
    if parsed.driver != "theragun":
        return await open_client(parsed, sim_options=sim_options, **options)
    on_close: OnClose | None = None
    model: TheragunModel | None
    if parsed.scheme == "sim":
        factory, on_close, model = await _start_theragun_sim(parsed, sim_options or {})
    elif parsed.scheme == "ble":
        factory, model = _transport_factory(parsed), find_model(parsed.ble_name)
    else:
        raise DeviceConnectionError(
            f"{parsed.text}: the theragun driver needs a ble:// or sim address"
        )
    client = TheragunClient(
        parsed.text, factory, ClientOptions(**options), model=model,
        poll_status=poll_status, on_close=on_close, device_id=parsed.device_id,
    )  # fmt: skip
    try:
        await client.connect()
    except BaseException:
        await client.close()
        raise
    return client


def _detect_driver(address: DeviceAddress) -> DeviceAddress:
    """A ble:// address naming a Theragun, with no explicit driver, gets driver=theragun."""
    if address.scheme != "ble" or "driver" in address.params:
        return address
    if is_theragun_name(address.ble_name):
        return dataclasses.replace(address, driver="theragun")
    return address


def _transport_factory(address: DeviceAddress) -> TransportFactory:
    """A new serial, tcp or ble transport per (re)connection (ble: profile from `driver=`)."""
    return lambda: open_transport(address)


async def _start_sim(
    address: DeviceAddress, sim_options: dict[str, Any]
) -> tuple[TransportFactory, OnClose]:
    """Start an in-process simulated gun; return its transport factory and its stopper.

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
    fleet = SimulatorFleet("loopback", 1, **options)
    await fleet.start()
    link = fleet.guns[0].link
    if not isinstance(link, LoopbackLink):  # pragma: no cover - SimulatorFleet contract
        await fleet.stop()
        raise DeviceConnectionError(f"{address.text}: the simulator did not give a loopback link")
    _LOGGER.info("%s: in-process simulated gun %s", address.text, fleet.guns[0].config.serial)
    return (lambda: LoopbackTransport(link, address.text)), fleet.stop


async def _start_theragun_sim(
    address: DeviceAddress, sim_options: dict[str, Any]
) -> tuple[TransportFactory, OnClose, TheragunModel]:
    """Start an in-process simulated Theragun; its transport factory, stopper and model."""
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
    model = MODELS[firmware.preset.name.lower()]
    return (lambda: LoopbackTransport(link, address.text)), link.stop, model
