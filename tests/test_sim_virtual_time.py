"""The in-process simulated gun on a host's VirtualClock: device time is virtual time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import pytest

from tpdevice.device import ClientOptions, DeviceClient, DeviceEvent, open_client
from tpdevice.protocol import Fault, FaultCode, MotorState, Telemetry
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.devicetime import DeviceTimeMap, sync_device_time
from tpdevice.transport import LoopbackTransport
from tpdevice_sim.clock import ManualClock
from tpdevice_sim.config import spread_phase
from tpdevice_sim.gun import SimulatorFleet
from tpdevice_sim.links import LoopbackLink

TELEMETRY_HZ = 20


async def beat(client: DeviceClient, clock: VirtualClock) -> None:
    """Heartbeats from a control loop on the session clock, as the engine sends them."""
    deadline_s = clock.now_s()
    while True:
        client.heartbeat.beat()
        deadline_s += client.heartbeat.interval_s
        await clock.sleep_until(deadline_s)


@contextlib.asynccontextmanager
async def fleet_client(
    clock: VirtualClock, seed: int = 1
) -> AsyncIterator[tuple[DeviceClient, SimulatorFleet, list[tuple[DeviceEvent, float]]]]:
    """A client on one loopback gun of a fleet on `clock`; events with their virtual arrival."""
    fleet = SimulatorFleet("loopback", seed=seed, clock=clock)
    await fleet.start()
    link = fleet.guns[0].link
    assert isinstance(link, LoopbackLink)
    client = DeviceClient(
        "sim", lambda: LoopbackTransport(link), ClientOptions(telemetry_hz=TELEMETRY_HZ)
    )
    events: list[tuple[DeviceEvent, float]] = []
    client.add_event_listener(lambda event: events.append((event, clock.now_s())))
    try:
        await client.connect()
        yield client, fleet, events
    finally:
        await client.close()
        await fleet.stop()
    assert fleet.violations == []


def _watchdog_faults(events: list[tuple[DeviceEvent, float]]) -> list[float]:
    return [
        at_s
        for event, at_s in events
        if isinstance(event, Fault) and event.code is FaultCode.WATCHDOG and event.active
    ]


async def test_motor_runs_ten_virtual_minutes_on_virtual_heartbeats() -> None:
    clock = VirtualClock()
    client = await open_client(
        "sim", sim_options={"clock": clock, "seed": 3}, telemetry_hz=TELEMETRY_HZ
    )
    faults: list[DeviceEvent] = []
    client.add_event_listener(faults.append)
    heartbeat = asyncio.create_task(beat(client, clock))
    try:
        await client.set_output(35.0)
        await client.start()
        for _minute in range(10):
            await clock.sleep(60.0)
            telemetry = client.last_telemetry
            assert telemetry is not None and telemetry.state is MotorState.RUNNING
            # Device time is virtual time: the newest sample is at most one period old.
            lag_s = clock.now_s() - telemetry.device_time_ms / 1000.0
            assert 0.0 <= lag_s <= 1.0 / TELEMETRY_HZ + 1e-9
        assert clock.now_s() >= 600.0
        assert faults == []
        stats = client.heartbeat
        assert stats.missed == 0 and stats.acked == stats.sent >= 2400
    finally:
        heartbeat.cancel()
        await client.close()


async def test_without_heartbeats_the_watchdog_stops_the_motor_in_virtual_time() -> None:
    clock = VirtualClock()
    async with fleet_client(clock) as (client, fleet, events):
        firmware = fleet.guns[0].firmware
        watchdog_s = client.heartbeat.watchdog_ms / 1000.0
        await client.set_output(30.0)
        await client.start()
        started_s = clock.now_s()
        await clock.sleep_until(started_s + watchdog_s - 0.02)
        assert firmware.state is MotorState.RUNNING
        assert _watchdog_faults(events) == []
        await clock.sleep_until(started_s + watchdog_s + 0.1)
        assert firmware.state is not MotorState.RUNNING
        [fault_at_s] = _watchdog_faults(events)
        assert started_s + watchdog_s <= fault_at_s <= started_s + watchdog_s + 0.02


async def test_heartbeats_on_virtual_time_keep_the_motor_running_past_the_watchdog() -> None:
    clock = VirtualClock()
    async with fleet_client(clock) as (client, fleet, events):
        heartbeat = asyncio.create_task(beat(client, clock))
        await client.set_output(30.0)
        await client.start()
        await clock.sleep(10 * client.heartbeat.watchdog_ms / 1000.0)
        heartbeat.cancel()
        assert fleet.guns[0].firmware.state is MotorState.RUNNING
        assert _watchdog_faults(events) == []


async def test_time_sync_on_the_virtual_clock_maps_device_time_exactly() -> None:
    clock = VirtualClock(0.0)
    async with fleet_client(clock) as (client, fleet, _events):
        heartbeat = asyncio.create_task(beat(client, clock))  # keeps virtual time moving
        await clock.sleep(12.5)
        for _ in range(20):
            # A request -> reply over the in-process link completes before time jumps.
            offset_s, rtt_s = await client.time_sync(clock.now_s)
            assert (offset_s, rtt_s) == (0.0, 0.0)
        assert clock.now_s() == 12.5
        time_map = DeviceTimeMap()
        assert await sync_device_time(client, clock.now_s, time_map) >= 1
        await clock.sleep(3.0)
        telemetry = client.last_telemetry
        heartbeat.cancel()
        # The gun samples on its own grid: the last sample before 15.5 s is that much earlier.
        lag_ms = 1000 * fleet.guns[0].config.telemetry_phase / TELEMETRY_HZ
        assert telemetry is not None and abs(telemetry.device_time_ms - (15_500 - lag_ms)) < 1
        assert time_map.to_session_s(telemetry.device_time_ms) == telemetry.device_time_ms / 1000


async def _trace(seed: int) -> list[Telemetry | None]:
    clock = VirtualClock()
    trace: list[Telemetry | None] = []
    async with fleet_client(clock, seed=seed) as (client, _fleet, _events):
        heartbeat = asyncio.create_task(beat(client, clock))
        await client.set_output(40.0, force_target_n=20.0, force_tolerance_n=5.0)
        await client.start()
        for _ in range(20):
            await clock.sleep(0.5)
            trace.append(client.last_telemetry)
        heartbeat.cancel()
    return trace


async def test_a_virtual_run_is_deterministic() -> None:
    first, second = await _trace(seed=5), await _trace(seed=5)
    assert first == second and None not in first
    times_ms = [t.device_time_ms for t in first if t is not None]
    lag_ms = 1000 * spread_phase(5) / TELEMETRY_HZ  # the gun's own sampling grid
    assert abs(times_ms[0] - (500 - lag_ms)) < 1
    assert [b - a for a, b in itertools.pairwise(times_ms)] == [500] * 19


async def test_fleet_guns_share_the_external_clock() -> None:
    clock = VirtualClock(42.0)
    fleet = SimulatorFleet("loopback", 3, clock=clock)
    assert all(gun.clock is clock for gun in fleet.guns)
    assert {gun.firmware.next_deadline_s() > 42.0 for gun in fleet.guns} == {True}


def test_fleet_refuses_a_clock_with_a_time_scale() -> None:
    with pytest.raises(ValueError, match=r"time_scale=10\.0 cannot be combined"):
        SimulatorFleet("loopback", clock=VirtualClock(), time_scale=10.0)


def test_fleet_refuses_a_clock_that_cannot_schedule() -> None:
    with pytest.raises(ValueError, match="has no now_s\\(\\) and call_at\\(\\)"):
        SimulatorFleet("loopback", clock=ManualClock())  # type: ignore[arg-type]
