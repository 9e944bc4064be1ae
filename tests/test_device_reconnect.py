"""Reconnect backoff, re-handshake after a lost link, and heartbeat cadence and misses."""

from __future__ import annotations

import asyncio
import errno
import random

import pytest
from fakes import FakeDevice, FakeTransport, connected_client, fake_capabilities, fast_options

from tpdevice.device import (
    Backoff,
    ConnectionState,
    DeviceClient,
    DeviceConnectionError,
    HandshakeError,
    ReconnectLogic,
    ReconnectState,
    is_permanent,
    run_heartbeat,
)
from tpdevice.protocol import FrameFlag, Message, MsgType, ResultCode, Stop, StopReason
from tpdevice.transport import TransportOpenError


class RecordingSleep:
    """An injectable sleep that records delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._slept = asyncio.Event()

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        self._slept.set()
        await asyncio.sleep(0)

    async def wait_for(self, count: int) -> list[float]:
        """Wait until `count` delays were asked for; return the first `count`."""
        while len(self.delays) < count:
            self._slept.clear()
            await self._slept.wait()
        return self.delays[:count]


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

    async def connect() -> None:
        if not outcomes.pop(0):
            raise DeviceConnectionError("fake://gun: refused")

    logic = ReconnectLogic("fake://gun", connect, backoff=Backoff(jitter=0.0), sleep=sleep)
    states: list[ReconnectState] = []
    done = asyncio.Event()

    def on_state(old: ReconnectState, new: ReconnectState) -> None:
        states.append(new)
        if new is ReconnectState.IDLE:
            done.set()

    logic.subscribe_state(on_state)
    logic.start()
    logic.start()  # idempotent while running
    assert logic.state is ReconnectState.WAITING
    await asyncio.wait_for(done.wait(), 1.0)
    assert sleep.delays == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert logic.attempts == 4
    assert logic.state is ReconnectState.IDLE and logic.last_error is None  # type: ignore[comparison-overlap]
    assert states.count(ReconnectState.CONNECTING) == 4


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
    assert 0 < (hello_seqs[1] - hello_seqs[0]) % 65536 < 10  # numbering continues across links
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


def _hang_up_after_hello(device: FakeDevice, after_s: float) -> None:
    """Make the device drop the link `after_s` after answering each HELLO."""

    def on_hello(message: Message) -> Message | None:
        asyncio.get_running_loop().call_later(after_s, device.hang_up)
        return None

    device.handlers[MsgType.HELLO] = on_hello  # returns None: answered as usual


async def _reconnect_delays(
    device: FakeDevice, count: int, **backoff: float
) -> tuple[DeviceClient, list[float]]:
    """A client whose link keeps dying; the first `count` reconnect delays."""
    sleep = RecordingSleep()
    options = fast_options(backoff=Backoff(jitter=0.0, **backoff))
    client = DeviceClient("fake://gun", lambda: FakeTransport(device), options,
                          reconnect_sleep=sleep)  # fmt: skip
    await client.connect()
    return client, await asyncio.wait_for(sleep.wait_for(count), 2.0)


async def test_reconnect_storm_backs_off_when_link_dies_after_each_handshake() -> None:
    device = FakeDevice()
    _hang_up_after_hello(device, 0.002)
    client, delays = await _reconnect_delays(device, 5)
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])
    assert device.hellos >= 5
    await client.close()
    assert not client.reconnect.running


async def test_backoff_resets_after_the_link_stayed_up() -> None:
    device = FakeDevice()
    _hang_up_after_hello(device, 0.03)
    client, delays = await _reconnect_delays(device, 4, stable_s=0.01)
    assert delays == pytest.approx([0.1] * 4)
    await client.close()


async def _wait_failed(client: DeviceClient) -> None:
    await asyncio.wait_for(client.wait_for_state(ConnectionState.FAILED), 2.0)


async def test_permanent_open_error_ends_reconnecting() -> None:
    device = FakeDevice()
    denied = TransportOpenError("fake://gun: permission denied")
    transports: list[FakeTransport] = []

    def factory() -> FakeTransport:
        if transports:
            raise denied from PermissionError(errno.EACCES, "Permission denied")
        transports.append(FakeTransport(device))
        return transports[0]

    options = fast_options(backoff=Backoff(jitter=0.0))
    client = DeviceClient("fake://gun", factory, options, reconnect_sleep=RecordingSleep())
    await client.connect()
    device.hang_up()
    await _wait_failed(client)
    assert client.last_error is denied
    assert client.reconnect.state is ReconnectState.GAVE_UP and not client.reconnect.running
    assert client.reconnect.attempts == 1
    await client.close()
    assert client.state is ConnectionState.CLOSED


async def test_protocol_version_mismatch_ends_reconnecting() -> None:
    device = FakeDevice()
    options = fast_options(backoff=Backoff(jitter=0.0))
    client = DeviceClient("fake://gun", lambda: FakeTransport(device), options,
                          reconnect_sleep=RecordingSleep())  # fmt: skip
    await client.connect()
    device.capabilities = fake_capabilities(protocol_version=2)  # "firmware update"
    device.hang_up()
    await _wait_failed(client)
    assert isinstance(client.last_error, HandshakeError)
    assert "protocol version 2, not 1" in str(client.last_error)
    assert client.reconnect.attempts == 1
    await client.close()


def test_permanent_errors_are_classified() -> None:
    def open_error(code: int) -> TransportOpenError:
        try:
            raise TransportOpenError("x: failed") from OSError(code, os_text(code))
        except TransportOpenError as err:
            return err

    def os_text(code: int) -> str:
        return errno.errorcode[code]

    assert not is_permanent(open_error(errno.ENOENT))  # unplugged: the node may come back
    assert is_permanent(open_error(errno.EACCES))
    assert not is_permanent(open_error(errno.ECONNREFUSED))
    assert not is_permanent(TransportOpenError("x: connection timed out"))
    assert is_permanent(HandshakeError("x: version", permanent=True))
    assert not is_permanent(HandshakeError("x: no valid answer to HELLO"))
    assert not is_permanent(DeviceConnectionError("x: lost"))


async def test_link_lost_during_close_stop_leaves_no_task_behind() -> None:
    client, device = await connected_client()
    await client.start()
    device.handlers[MsgType.STOP] = lambda m: device.hang_up()  # the link dies on the STOP
    tasks_before = asyncio.all_tasks()
    await client.close()
    assert Stop(StopReason.HOST) in device.requests(MsgType.STOP)
    assert not client.reconnect.running
    assert client.state is ConnectionState.CLOSED
    assert asyncio.all_tasks() <= tasks_before


async def test_lost_link_transport_close_is_awaited() -> None:
    device = FakeDevice()
    client, _ = await connected_client(device, backoff=Backoff(min_s=10.0))
    lost = client.connection
    assert lost is not None
    lost.fail(DeviceConnectionError("fake://gun: heartbeats unanswered"))  # transport still open
    assert lost._close_task is not None
    await asyncio.sleep(0.01)
    assert client.reconnect.running
    await client.close()
    assert lost._close_task is None
    assert asyncio.all_tasks() == {asyncio.current_task()}
