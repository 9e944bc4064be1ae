"""A USB-serial gun unplugged and replugged: its node vanishes, reappears, the link returns."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

from tpdevice.device import (
    Backoff,
    ConnectionState,
    DeviceClient,
    ReconnectState,
    is_permanent,
    open_gun,
)
from tpdevice.device.api import GunClient
from tpdevice.device.options import ClientOptions
from tpdevice.transport import TransportOpenError, open_transport, parse_address
from tpdevice_sim.gun import SimulatorFleet


def _open_error(code: int) -> TransportOpenError:
    try:
        raise TransportOpenError("x: failed") from OSError(code, errno.errorcode[code])
    except TransportOpenError as err:
        return err


def test_a_vanished_node_is_retried_a_denied_one_is_not() -> None:
    for code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        assert not is_permanent(_open_error(code)), errno.errorcode[code]
    assert is_permanent(_open_error(errno.EACCES))


async def _wait(client: GunClient, *states: ConnectionState) -> None:
    await asyncio.wait_for(client.wait_for_state(*states), 5.0)


async def test_unplug_and_replug_reconnects_and_names_the_cause(tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB0"  # what udev would (re)create: a stable name for the adapter
    first = SimulatorFleet("serial", 1, seed=1)
    [first_address] = await first.start()
    link.symlink_to(first_address.removeprefix("serial://"))
    address = parse_address(f"serial://{link}")
    options = ClientOptions(backoff=Backoff(min_s=0.02, max_s=0.05, jitter=0.0))
    client = DeviceClient(address.text, lambda: open_transport(address), options)
    second: SimulatorFleet | None = None
    try:
        await client.connect()
        failed = asyncio.Event()
        client.reconnect.subscribe_state(
            lambda old, new: failed.set() if old is ReconnectState.CONNECTING else None
        )
        link.unlink()  # unplugged: the node is gone and the pty hangs up
        await first.stop()
        await _wait(client, ConnectionState.DISCONNECTED)
        await asyncio.wait_for(failed.wait(), 5.0)  # an attempt met the missing node
        assert client.reconnect.state is not ReconnectState.GAVE_UP
        assert str(client.reconnect.last_error) == f"{address.text}: no such device"
        assert client.state is not ConnectionState.FAILED
        second = SimulatorFleet("serial", 1, seed=2)
        [second_address] = await second.start()
        os.symlink(second_address.removeprefix("serial://"), link)  # plugged back in
        await _wait(client, ConnectionState.READY)
        assert client.capabilities.serial == "SIM-0002"
    finally:
        await client.close()
        await first.stop()
        if second is not None:
            await second.stop()


async def test_a_gun_opened_before_it_is_plugged_in_connects_when_it_appears(
    tmp_path: Path,
) -> None:
    link = tmp_path / "ttyUSB1"
    backoff = Backoff(min_s=0.02, max_s=0.05, jitter=0.0)
    client = await open_gun(f"serial://{link}", background=True, backoff=backoff)
    failed = asyncio.Event()
    client.subscribe_state(
        lambda old, new: failed.set() if old is ConnectionState.CONNECTING else None
    )
    fleet = SimulatorFleet("serial", 1, seed=3)
    try:
        assert client.state in (ConnectionState.DISCONNECTED, ConnectionState.CONNECTING)
        await asyncio.wait_for(failed.wait(), 5.0)  # the first attempt met no gun
        [address] = await fleet.start()
        link.symlink_to(address.removeprefix("serial://"))
        await _wait(client, ConnectionState.READY)
        assert client.identity.serial == "SIM-0003"
        assert str(client.last_error) == f"serial://{link}: no such device"  # what it met first
    finally:
        await client.close()
        await fleet.stop()
