"""One powered-on bumble host per HCI and event loop, shared by reference count.

An HCI (a USB dongle, a virtual radio's TCP port) takes one host at a time, as an OS adapter
does; scanners and clients of one process borrow the same host and the last one to give it
back closes the HCI. A host whose HCI transport dies leaves the pool at once.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bumble import core, hci
from bumble.device import Device
from bumble.transport import open_transport
from bumble.transport.common import Transport as HciTransport

from tpdevice.transport.ble_errors import HciOpenError, check_hci_spec, hci_open_error

__all__ = ["HciOpenError", "HciProvider", "HciTarget", "SharedHost", "acquire_host", "hci_label"]

_LOGGER = logging.getLogger(__name__)


@runtime_checkable
class HciProvider(Protocol):
    """An in-process radio (tpdevice_sim.ble.radio.VirtualRadio): a new adapter on each call."""

    def attach_host_controller(self) -> HciTransport:
        """A fresh host-side controller; its .source and .sink speak HCI."""


HciTarget = str | HciProvider
Release = Callable[[], "asyncio.Future[None]"]
POWER_ON_TIMEOUT_S = 10.0
HOST_NAME = "tpdevice"


def hci_label(target: HciTarget) -> str:
    """The HCI for messages: the transport spec, or `in-process radio`."""
    return target if isinstance(target, str) else "in-process radio"


@dataclass(eq=False)
class SharedHost:
    """A powered-on bumble Device on one HCI and the borrowers that hold it."""

    target: HciTarget
    device: Device
    transport: HciTransport
    users: int = 0
    lost: bool = False
    closing: asyncio.Task[None] | None = field(default=None, repr=False)

    async def close(self) -> None:
        """Power off and let go of the HCI (idempotent)."""
        try:
            if not self.lost:
                await asyncio.wait_for(self.device.power_off(), POWER_ON_TIMEOUT_S)
        except (core.BaseBumbleError, TimeoutError, OSError) as err:
            _LOGGER.debug("%s: power off failed: %s", hci_label(self.target), err)
        finally:
            self.lost = True
            await self.transport.close()


class _Pool:
    """The hosts of one event loop, by HCI."""

    def __init__(self) -> None:
        self.hosts: dict[str | int, SharedHost] = {}
        self.locks: dict[str | int, asyncio.Lock] = {}
        self.closing: dict[str | int, asyncio.Task[None]] = {}


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()


def _key(target: HciTarget) -> str | int:
    return target if isinstance(target, str) else id(target)


async def acquire_host(target: HciTarget) -> tuple[SharedHost, Release]:
    """Borrow the host of `target` (opened and powered on when nobody holds it).

    Returns the host and a function giving it back; that function returns a future done once
    the HCI is closed (when it was the last borrower). HciOpenError when the HCI cannot open.
    """
    loop = asyncio.get_running_loop()
    pool = _POOLS.setdefault(loop, _Pool())
    key = _key(target)
    async with pool.locks.setdefault(key, asyncio.Lock()):
        if (closing := pool.closing.get(key)) is not None:
            await asyncio.shield(closing)  # a single-client HCI must be free before reopening
        host = pool.hosts.get(key)
        if host is None or host.lost:
            host = await _open_host(target)
            pool.hosts[key] = host
            _watch(pool, key, host)
        host.users += 1
    released = False

    def release() -> asyncio.Future[None]:
        nonlocal released
        if released:
            return _done(loop)
        released = True
        return _give_back(pool, key, host)

    return host, release


def _done(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    future: asyncio.Future[None] = loop.create_future()
    future.set_result(None)
    return future


def _give_back(pool: _Pool, key: str | int, host: SharedHost) -> asyncio.Future[None]:
    """One borrower fewer; the last one closes the HCI (in a task others can wait for)."""
    host.users -= 1
    loop = asyncio.get_running_loop()
    if host.users > 0:
        return _done(loop)
    if pool.hosts.get(key) is host:
        del pool.hosts[key]
    task = loop.create_task(host.close(), name=f"close bumble host {hci_label(host.target)}")
    pool.closing[key] = task

    def forget(_: asyncio.Task[None]) -> None:
        if pool.closing.get(key) is task:
            del pool.closing[key]

    task.add_done_callback(forget)
    return task


def _watch(pool: _Pool, key: str | int, host: SharedHost) -> None:
    """Drop the host from the pool as soon as its HCI transport dies."""

    def on_terminated(_: asyncio.Future[None]) -> None:
        _LOGGER.debug("%s: HCI transport lost", hci_label(host.target))
        host.lost = True
        if pool.hosts.get(key) is host:
            del pool.hosts[key]

    host.transport.source.terminated.add_done_callback(on_terminated)


async def _open_host(target: HciTarget) -> SharedHost:
    """Open the HCI and power a new host on; HciOpenError (one line) on failure."""
    address = hci.Address.generate_static_address()
    if isinstance(target, str):
        transport = await _open_transport(target)
    else:
        transport = target.attach_host_controller()
    device = Device.with_hci(HOST_NAME, address, transport.source, transport.sink)
    host = SharedHost(target, device, transport)
    try:
        await asyncio.wait_for(device.power_on(), POWER_ON_TIMEOUT_S)
    except (TimeoutError, core.BaseBumbleError, OSError) as err:
        host.lost = True
        await host.close()
        cause = "no answer from the controller" if isinstance(err, TimeoutError) else err
        raise HciOpenError(f"HCI {hci_label(target)}: cannot power on: {cause}") from err
    except BaseException:
        host.lost = True
        await host.close()
        raise
    return host


async def _open_transport(spec: str) -> HciTransport:
    """bumble's open_transport with its many failure types folded into one-line HciOpenError."""
    check_hci_spec(spec)
    try:
        return await asyncio.wait_for(open_transport(spec), POWER_ON_TIMEOUT_S)
    except TimeoutError as err:
        raise HciOpenError(f"HCI {spec}: timed out opening the transport") from err
    except Exception as err:  # libusb, pyusb, sockets, bad specs: each fails its own way
        raise hci_open_error(spec, err) from err
