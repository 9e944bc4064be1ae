"""The daemon's guns on in-process simulators: connected in the background, stopped at once,
never kept running by the daemon's idle heartbeats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tpdevice.daemon.config import DaemonConfig, DeviceConfig
from tpdevice.daemon.core import GunDaemon
from tpdevice.daemon.journal import Journal
from tpdevice.device.state import ConnectionState


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[GunDaemon]:
    config = DaemonConfig(
        devices=[DeviceConfig(id=f"gun-{i}", address=f"sim?id={i}") for i in (1, 2, 3)]
        + [DeviceConfig(id="spare", address="sim?id=9", auto_connect=False)]
    )
    journal = Journal.open(tmp_path / "journal.sqlite3", now_wall=time.time())
    running = GunDaemon(config, journal, client_options={"watchdog_ms": 300})
    await running.start()
    yield running
    await running.close()
    journal.close()


async def _all_ready(daemon: GunDaemon) -> None:
    async for _ in daemon.watch_devices():
        if all(d.state == "ready" for d in daemon.devices() if d.id != "spare"):
            return


async def test_configured_guns_connect_and_are_described(daemon: GunDaemon) -> None:
    await asyncio.wait_for(_all_ready(daemon), 10)
    devices = {d.id: d for d in daemon.devices()}
    assert devices["gun-2"].driver == "native"
    assert devices["gun-2"].model and devices["gun-2"].firmware
    assert (devices["spare"].state, devices["spare"].last_error) == ("off", "")
    assert daemon.metrics.registry.get_sample_value("tpdevice_guns_connected") == 3


async def test_stop_all_stops_every_running_motor(daemon: GunDaemon) -> None:
    await asyncio.wait_for(_all_ready(daemon), 10)
    clients = [daemon.slot(f"gun-{i}").client for i in (1, 2, 3)]
    for client in clients:
        assert client is not None
        await client.set_output(33.0)
        await client.start()
    assert all(c is not None and c.motor_may_run for c in clients)
    reply = await daemon.stop_all()
    assert sorted(reply.stopped) == ["gun-1", "gun-2", "gun-3"] and reply.failed == {}
    assert not any(c is not None and c.motor_may_run for c in clients)


async def test_idle_heartbeats_never_keep_an_orphaned_motor_running(daemon: GunDaemon) -> None:
    await asyncio.wait_for(_all_ready(daemon), 10)
    client = daemon.slot("gun-1").client
    assert client is not None
    await client.set_output(33.0)
    await client.start()  # started, and then nobody controls it: no session holds the gun
    async for sample in daemon.telemetry():
        if sample.device_id == "gun-1" and sample.freq_hz > 0:
            break
    async for sample in daemon.telemetry():
        if sample.device_id == "gun-1" and sample.freq_hz == 0:
            break  # the gun's 300 ms watchdog stopped it: nothing beat for the motor
    assert client.state is ConnectionState.FAULTED
    assert not client.motor_may_run


async def test_an_unknown_device_is_named(daemon: GunDaemon) -> None:
    with pytest.raises(Exception, match=r"no device 'gun-7' \(gun-1, gun-2, gun-3, spare\)"):
        daemon.slot("gun-7")
