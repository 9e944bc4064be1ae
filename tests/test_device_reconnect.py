"""Reconnect backoff, re-handshake after a lost link, and heartbeat cadence and misses."""

from __future__ import annotations

import asyncio
import random

import pytest
from fakes import FakeDevice, FakeTransport, connected_client, fake_capabilities, fast_options

from tpdevice.device import (
    Backoff,
    ConnectionState,
    DeviceClient,
    DeviceConnectionError,
    ReconnectLogic,
    run_heartbeat,
)
from tpdevice.protocol import FrameFlag, MsgType, ResultCode


class RecordingSleep:
    """An injectable sleep that records delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        await asyncio.sleep(0)


class FakeClock:
    """Manual time for run_heartbeat: sleeping advances it (by `stall_s` when set)."""

    def __init__(self, stop_after: int) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.stall_s: float | None = None
        self.stop_after = stop_after
        self.done = asyncio.Event()

    def now_s(self) -> float:
        return self.now

    async def sleep(self, delay_s: float) -> None:
        self.sleeps.append(delay_s)
        self.now += delay_s if self.stall_s is None else self.stall_s
        if len(self.sleeps) >= self.stop_after:
            self.done.set()
        await asyncio.sleep(0.001)  # let the fake device answer


def test_backoff_schedule_is_exponential_and_capped() -> None:
    backoff = Backoff(min_s=0.1, max_s=5.0, factor=2.0, jitter=0.0)
    rng = random.Random(1)
    delays = [backoff.delay_s(n, rng) for n in range(9)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])


def test_backoff_jitter_stays_within_bounds() -> None:
    backoff = Backoff(min_s=0.1, max_s=5.0, jitter=0.2)
    rng = random.Random(7)
    for attempt in range(20):
        base = min(5.0, 0.1 * 2**attempt)
        assert 0.8 * base <= backoff.delay_s(attempt, rng) <= 1.2 * base


async def test_reconnect_logic_retries_until_success() -> None:
    sleep = RecordingSleep()
    outcomes = [False, False, False, True]
    connected: list[int] = []

    async def connect() -> None:
        if not outcomes.pop(0):
            raise DeviceConnectionError("fake://gun: refused")

    done = asyncio.Event()

    def on_connected() -> None:
        connected.append(1)
        done.set()

    logic = ReconnectLogic(
        "fake://gun",
        connect,
        backoff=Backoff(jitter=0.0),
        sleep=sleep,
        on_connected=on_connected,
    )
    logic.start()
    logic.start()  # idempotent while running
    await asyncio.wait_for(done.wait(), 1.0)
    assert sleep.delays == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert logic.attempts == 4 and connected == [1]


async def test_reconnect_logic_stops_on_request() -> None:
    async def connect() -> None:
        raise DeviceConnectionError("fake://gun: refused")

    logic = ReconnectLogic("fake://gun", connect, sleep=RecordingSleep())
    logic.start()
    await asyncio.sleep(0.01)
    assert logic.running
    await logic.stop()
    assert not logic.running
    await logic.stop()


async def test_client_reconnects_and_rehandshakes_after_link_loss() -> None:
    device = FakeDevice()
    sleep = RecordingSleep()
    transports: list[FakeTransport] = []

    def factory() -> FakeTransport:
        transport = FakeTransport(device)
        transport.refuse_open = 1 <= len(transports) <= 2  # two failed attempts after the loss
        transports.append(transport)
        return transport

    options = fast_options(backoff=Backoff(jitter=0.0))
    client = DeviceClient("fake://gun", factory, options, reconnect_sleep=sleep)
    await client.connect()
    await client.start()
    states: list[ConnectionState] = []
    client.subscribe_state(lambda old, new: states.append(new))
    device.hang_up()
    await asyncio.wait_for(client.wait_for_state(ConnectionState.READY), 1.0)
    assert sleep.delays == pytest.approx([0.1, 0.2, 0.4])
    assert device.hellos == 2
    hello_seqs = [f.seq for f in device.frames(MsgType.HELLO)]
    assert hello_seqs[1] > hello_seqs[0]  # numbering continues across links
    assert states[0] is ConnectionState.DISCONNECTED
    assert states.count(ConnectionState.CONNECTING) == 3
    await client.set_output(30.0)
    await client.close()


async def test_no_reconnect_when_disabled() -> None:
    client, device = await connected_client(reconnect=False)
    device.hang_up()
    await asyncio.sleep(0.01)
    assert client.state is ConnectionState.DISCONNECTED
    assert not client.reconnect.running
    with pytest.raises(DeviceConnectionError, match=r"not connected \(disconnected\)"):
        await client.start()
    await client.close()


async def test_close_during_reconnect_stops_it() -> None:
    device = FakeDevice()
    client, _ = await connected_client(device, backoff=Backoff(min_s=10.0))
    device.hang_up()
    await asyncio.sleep(0.01)
    assert client.reconnect.running
    await client.close()
    assert not client.reconnect.running and client.state is ConnectionState.CLOSED


async def test_heartbeat_cadence_follows_granted_watchdog() -> None:
    device = FakeDevice(fake_capabilities(watchdog_ms=400))
    client, _ = await connected_client(device, watchdog_ms=300)
    assert client.heartbeat.interval_s == pytest.approx(0.1)
    clock = FakeClock(stop_after=5)
    task = asyncio.create_task(run_heartbeat(client, clock))
    await asyncio.wait_for(clock.done.wait(), 1.0)
    task.cancel()
    frames = device.frames(MsgType.HEARTBEAT)
    assert clock.sleeps[:5] == pytest.approx([0.1] * 5)
    assert len(frames) >= 5
    assert not any(f.flags & FrameFlag.RETRANSMIT for f in frames)
    assert client.heartbeat.acked >= 4 and client.heartbeat.missed == 0
    await client.close()


async def test_heartbeat_run_ends_when_client_closes() -> None:
    client, _device = await connected_client()
    clock = FakeClock(stop_after=2)
    task = asyncio.create_task(run_heartbeat(client, clock))
    await asyncio.wait_for(clock.done.wait(), 1.0)
    await client.close()
    await asyncio.wait_for(task, 1.0)


async def test_stalled_heartbeat_loop_does_not_burst() -> None:
    client, _device = await connected_client()
    clock = FakeClock(stop_after=3)
    clock.stall_s = 1.0  # each sleep overruns by far: the loop was stuck
    task = asyncio.create_task(run_heartbeat(client, clock))
    await asyncio.wait_for(clock.done.wait(), 1.0)
    task.cancel()
    assert clock.sleeps[1:3] == [0.0, 0.0]
    await client.close()


async def test_unanswered_heartbeats_declare_the_link_lost() -> None:
    device = FakeDevice(fake_capabilities(watchdog_ms=100))
    client, _ = await connected_client(device, reconnect=False)
    device.faults.drop_types[MsgType.HEARTBEAT] = 1000
    for _ in range(3):
        assert client.heartbeat.beat()
        await asyncio.sleep(0.04)  # > interval (25 ms): each beat times out
    assert client.heartbeat.missed == 3
    assert client.state is ConnectionState.DISCONNECTED
    assert not client.heartbeat.beat()  # nothing to beat on
    await client.close()


async def test_heartbeat_nack_still_proves_the_link() -> None:
    client, device = await connected_client()
    device.results[MsgType.HEARTBEAT] = ResultCode.BAD_STATE
    client.heartbeat.beat()
    await asyncio.sleep(0.01)
    assert client.heartbeat.acked == 1 and client.heartbeat.consecutive_misses == 0
    await client.close()
