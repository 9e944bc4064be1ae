"""DeviceClient against the simulated firmware over loopback, pty serial and TCP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import tty
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tpdevice.device import (
    ClientOptions,
    ConnectionState,
    DeviceClient,
    DeviceRangeError,
    HandshakeError,
    SetpointResult,
    open_client,
    run_heartbeat,
)
from tpdevice.protocol import (
    Fault,
    FaultCode,
    HoldPolicy,
    MotorState,
    ProgramAction,
    ProgramStep,
    StepEvent,
    StepEventKind,
    StepKind,
)
from tpdevice.transport import (
    AddressError,
    LoopbackTransport,
    TransportOpenError,
    open_transport,
    parse_address,
)
from tpdevice_sim.faults import parse_fault_spec
from tpdevice_sim.gun import SimulatorFleet
from tpdevice_sim.links import LoopbackLink

TRANSPORTS = ["loopback", "serial", "tcp"]


def _factory(fleet: SimulatorFleet, address: str) -> Any:
    """A transport factory for the fleet's first gun."""
    link = fleet.guns[0].link
    if isinstance(link, LoopbackLink):
        return lambda: LoopbackTransport(link, "sim")
    parsed = parse_address(address)
    return lambda: open_transport(parsed)


@contextlib.asynccontextmanager
async def sim_client(
    transport: str, *, faults: str = "", **options: Any
) -> AsyncIterator[tuple[DeviceClient, SimulatorFleet]]:
    """A client connected to one simulated gun over `transport`; checks the invariants after."""
    fleet = SimulatorFleet(transport, 1, seed=1, faults=parse_fault_spec(faults))
    [address] = await fleet.start()
    client = DeviceClient(address, _factory(fleet, address), ClientOptions(**options))
    try:
        await client.connect()
        yield client, fleet
    finally:
        await client.close()
        await fleet.stop()
    assert fleet.violations == []


async def _next_event(events: AsyncIterator[Any], kind: type, timeout_s: float = 2.0) -> Any:
    async with asyncio.timeout(timeout_s):
        async for event in events:
            if isinstance(event, kind):
                return event
    raise AssertionError("stream ended")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_session_basics(transport: str) -> None:
    async with sim_client(transport) as (client, fleet):
        assert client.capabilities.model == "tp-sim-pro"
        firmware = fleet.guns[0].firmware
        result = await client.set_output(35.0, force_target_n=20.0, force_tolerance_n=5.0)
        assert result is SetpointResult.APPLIED
        assert firmware.output.freq_hz == 35.0
        heartbeat = asyncio.create_task(run_heartbeat(client))
        await client.start()
        assert client.state is ConnectionState.RUNNING
        telemetry = client.telemetry()
        async with asyncio.timeout(2.0):
            async for sample in telemetry:
                if sample.state is MotorState.RUNNING and sample.freq_hz > 5.0:
                    break
        offset_s, rtt_s = await client.time_sync()
        assert 0 < rtt_s < 0.05 and offset_s != 0.0
        await client.stop()
        assert firmware.state in (MotorState.STOPPING, MotorState.IDLE)
        heartbeat.cancel()
        telemetry.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_out_of_range_is_refused_locally(transport: str) -> None:
    async with sim_client(transport) as (client, fleet):
        with pytest.raises(DeviceRangeError, match=r"freq_hz=45 is outside .* 29\.\.40 Hz"):
            await client.set_output(45.0)
        assert fleet.guns[0].firmware.output.freq_hz == 0.0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_program_upload_and_run(transport: str) -> None:
    steps = [
        ProgramStep(0, StepKind.SWEEP, 30.0, 10.0, 5.0, 60.0, 10.0, 150),
        ProgramStep(0, StepKind.HOLD, 32.0, 20.0, 5.0, 60.0, 10.0, 150, HoldPolicy.WALL),
        ProgramStep(0, StepKind.REST, 0.0, 0.0, 0.0, 0.0, 0.0, 100),
    ]
    async with sim_client(transport) as (client, _):
        events = client.events()
        await client.upload_program(steps)
        heartbeat = asyncio.create_task(run_heartbeat(client))
        await client.program_control(ProgramAction.RUN)
        assert client.state is ConnectionState.RUNNING
        seen: list[tuple[int, StepEventKind]] = []
        async with asyncio.timeout(3.0):
            async for event in events:
                if isinstance(event, StepEvent):
                    seen.append((event.step_index, event.kind))
                    if event.kind is StepEventKind.PROGRAM_DONE:
                        break
        heartbeat.cancel()
        assert (0, StepEventKind.STARTED) in seen and (2, StepEventKind.COMPLETED) in seen
        assert len(seen) == len(set(seen))  # retransmitted events were deduplicated
        assert client.state is ConnectionState.READY  # type: ignore[comparison-overlap]


@pytest.mark.parametrize("transport", ["loopback", "serial"])
async def test_watchdog_stops_motor_when_heartbeats_stop(transport: str) -> None:
    async with sim_client(transport, watchdog_ms=200) as (client, fleet):
        assert client.capabilities.watchdog_ms == 200
        events = client.events()
        await client.set_output(33.0)
        heartbeat = asyncio.create_task(run_heartbeat(client))
        await client.start()
        await asyncio.sleep(0.4)  # heartbeats keep it running past the timeout
        assert fleet.guns[0].firmware.state is MotorState.RUNNING
        heartbeat.cancel()  # the control loop dies; the link stays up
        fault = await _next_event(events, Fault, timeout_s=1.0)
        assert fault.code is FaultCode.WATCHDOG
        assert fleet.guns[0].firmware.state is not MotorState.RUNNING
        assert client.state is ConnectionState.FAULTED
        await client.set_output(33.0)  # the trip dropped the setpoint
        await client.start()  # a new START clears it
        assert client.state is ConnectionState.RUNNING
        await client.stop()


async def test_killed_client_leaves_motor_stopped_by_watchdog() -> None:
    async with sim_client("serial", watchdog_ms=150, reconnect=False) as (client, fleet):
        await client.set_output(33.0)
        await client.start()
        assert client.connection is not None
        await client.connection.transport.close()  # the host vanishes without a STOP
        await asyncio.sleep(0.4)
        assert fleet.guns[0].firmware.state is not MotorState.RUNNING


async def test_newest_setpoint_wins_on_firmware() -> None:
    async with sim_client("serial") as (client, fleet):
        results = await asyncio.gather(*(client.set_output(f) for f in (30.0, 31.0, 32.0, 33.0)))
        assert results[0] is SetpointResult.APPLIED and results[-1] is SetpointResult.APPLIED
        assert set(results[1:3]) == {SetpointResult.SUPERSEDED}
        assert fleet.guns[0].firmware.output.freq_hz == 33.0


@pytest.mark.parametrize("transport", ["loopback", "serial", "tcp"])
async def test_faulty_link_session_converges(transport: str) -> None:
    faults = "drop=0.05,corrupt=0.04,dup=0.04,delay_ms=2,jitter_ms=1"
    async with sim_client(transport, faults=faults, retries=8, request_timeout_s=0.05) as (
        client,
        fleet,
    ):
        heartbeat = asyncio.create_task(run_heartbeat(client))
        for i in range(60):
            await client.set_output(30.0 + i % 10)
            await client.start()
        await client.set_output(36.5)
        await client.stop()
        heartbeat.cancel()
        firmware = fleet.guns[0].firmware
        assert firmware.output.freq_hz == 36.5
        assert firmware.state in (MotorState.STOPPING, MotorState.IDLE)
        stats = client.stats()
        assert stats["link"]["connection"]["retransmits"] > 0
        link = fleet.guns[0].link
        for kind in ("drop", "corrupt", "dup"):  # every fault did fire, both ways
            assert link.rx_faults.counts[kind] > 0, kind
            assert link.tx_faults.counts[kind] > 0, kind


async def test_reconnects_after_disconnect_fault() -> None:
    async with sim_client("loopback", faults="disconnect_every_s=0.3") as (client, fleet):
        async with asyncio.timeout(3.0):
            await client.wait_for_state(ConnectionState.DISCONNECTED, ConnectionState.CONNECTING)
            await client.wait_for_state(ConnectionState.READY)
        assert client.reconnect.attempts >= 1
        assert await client.set_output(31.0) is SetpointResult.APPLIED
        assert fleet.guns[0].firmware.output.freq_hz == 31.0


async def test_serial_line_down_is_detected_by_heartbeats_and_recovered() -> None:
    options = {"watchdog_ms": 200, "heartbeat_max_misses": 3}
    async with sim_client("serial", faults="disconnect_every_s=1.5", **options) as (client, _):
        heartbeat = asyncio.create_task(run_heartbeat(client))
        async with asyncio.timeout(5.0):
            await client.wait_for_state(ConnectionState.DISCONNECTED)
            await client.wait_for_state(ConnectionState.READY)
        heartbeat.cancel()
        assert client.reconnect.attempts >= 1


async def test_open_client_sim_and_close_stops_the_gun(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[int] = []
    original = SimulatorFleet.stop

    async def recording_stop(self: SimulatorFleet) -> None:
        stopped.append(1)
        await original(self)

    monkeypatch.setattr(SimulatorFleet, "stop", recording_stop)
    client = await open_client("sim", sim_options={"seed": 3}, request_timeout_s=0.1)
    assert client.capabilities.serial == "SIM-0003"
    await client.set_output(32.0)
    await client.start()
    await client.close()
    assert stopped == [1]
    assert client.state is ConnectionState.CLOSED


async def test_open_client_bad_addresses_fail_in_one_line() -> None:
    with pytest.raises(AddressError, match="unknown scheme"):
        await open_client("usb://x")
    with pytest.raises(TransportOpenError) as missing:
        await open_client("serial:///dev/does-not-exist")
    assert str(missing.value).startswith("serial:///dev/does-not-exist: ")
    with pytest.raises(TransportOpenError, match="refused"):
        await open_client("tcp://127.0.0.1:1")


async def test_open_client_on_a_garbage_device_is_a_handshake_error() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    loop = asyncio.get_running_loop()

    def answer_garbage() -> None:
        with contextlib.suppress(OSError):
            os.read(master, 4096)
            os.write(master, b"\xc0garbage!!\xc0\xc0\x01\x02\x03\xc0")

    loop.add_reader(master, answer_garbage)
    try:
        with pytest.raises(HandshakeError) as caught:
            await open_client(f"serial://{path}", handshake_timeout_s=0.05)
    finally:
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)
    text = str(caught.value)
    assert text.startswith(f"serial://{path}: no valid answer to HELLO (")
    assert "bytes of garbage" in text and "bad frames" in text and "\n" not in text


@pytest.mark.parametrize("transport", ["loopback", "tcp"])
async def test_second_host_stops_a_motor_left_running_by_the_first(transport: str) -> None:
    fleet = SimulatorFleet(transport, 1, seed=1)
    [address] = await fleet.start()
    factory = _factory(fleet, address)
    firmware = fleet.guns[0].firmware
    try:
        # Same rng: host B numbers its requests exactly like host A (worst case for the window).
        host_a = DeviceClient(address, factory, ClientOptions(reconnect=False, watchdog_ms=3000),
                              rng=random.Random(9))  # fmt: skip
        await host_a.connect()
        await host_a.set_output(33.0)
        await host_a.start()
        assert host_a.connection is not None
        await host_a.connection.transport.close()  # host A vanishes without a STOP
        await asyncio.sleep(0.05)
        host_b = DeviceClient(address, factory, ClientOptions(reconnect=False, watchdog_ms=500),
                              rng=random.Random(9))  # fmt: skip
        await host_b.connect()
        assert host_b.capabilities.watchdog_ms == 500  # B's HELLO handled, not A's replayed
        # B's HELLO stopped A's run: a motor runs only for the host that started it
        await asyncio.wait_for(host_b.wait_for_state(ConnectionState.FAULTED), 1.0)
        assert not host_b.motor_may_run and firmware.state is MotorState.FAULTED
        assert firmware.physics.motor.target_freq_hz == 0.0
        await host_b.set_output(33.0)  # same seq, type and payload as A's: still acted on
        assert firmware.output.freq_hz == 33.0
        await host_b.stop()
        assert not host_b.motor_may_run
        await host_b.close()
        await host_a.close()
    finally:
        await fleet.stop()
    assert fleet.violations == []
