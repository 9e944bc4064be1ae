"""Motor commands against the fake device: START/STOP ordering, the may-run flag, STOP on
close, and the random first sequence number."""

from __future__ import annotations

import asyncio
import random

import pytest
from fakes import FakeDevice, FakeTransport, connected_client, fast_options

from tpdevice.device import (
    Backoff,
    ConnectionState,
    DeviceClient,
    DeviceTimeoutError,
    RequestAbandonedError,
)
from tpdevice.protocol import (
    Fault,
    FaultCode,
    MotorState,
    MsgType,
    ProgramAction,
    ProgramControl,
    Stop,
    StopReason,
    Telemetry,
)


def _telemetry(time_ms: int, state: MotorState = MotorState.IDLE) -> Telemetry:
    return Telemetry(time_ms, 30.0, 5.0, True, 90, 30.0, state)


# --- sequence numbers: a random start, continued across reconnects ---------------------


async def test_first_seq_is_random_and_injectable() -> None:
    device = FakeDevice()
    seqs = []
    for seed in (1, 2, 1):
        client = DeviceClient("fake://gun", lambda: FakeTransport(device), fast_options(),
                              rng=random.Random(seed))  # fmt: skip
        await client.connect()
        await client.close()
        seqs.append(device.frames(MsgType.HELLO)[-1].seq)
    assert seqs[0] == random.Random(1).randint(1, 65535)
    assert seqs[0] == seqs[2] != seqs[1]


# --- motor commands: ordering, the may-run flag, STOP on close ------------------------


async def test_fault_right_behind_start_ack_is_not_wiped() -> None:
    client, device = await connected_client()
    device.emit_after[MsgType.START] = [Fault(5, FaultCode.OVERHEAT)]
    await client.start()
    assert client.state is ConnectionState.FAULTED
    await client.close()


async def test_stop_ends_start_retransmissions() -> None:
    client, device = await connected_client(request_timeout_s=0.01, retries=5)
    device.faults.drop_response_types[MsgType.START] = 100  # acted on, ACKs lost
    start = asyncio.ensure_future(client.start())
    await asyncio.sleep(0.025)  # a retransmission or two went out
    await client.stop()
    with pytest.raises(RequestAbandonedError, match=r"START abandoned .*: STOP sent after it"):
        await start
    await asyncio.sleep(0.05)
    order = [m.TYPE for f, m in device.received if m.TYPE in (MsgType.START, MsgType.STOP)]
    assert order.count(MsgType.START) >= 2
    assert MsgType.START not in order[order.index(MsgType.STOP) :]
    assert not device.motor_running and not client.motor_may_run
    await client.close()
    assert device.requests(MsgType.STOP) == [Stop(StopReason.USER)]  # no second STOP


async def test_close_after_lost_start_ack_sends_stop() -> None:
    client, device = await connected_client()
    device.faults.drop_response_types[MsgType.START] = 100
    with pytest.raises(DeviceTimeoutError, match="no answer to START"):
        await client.start()
    assert device.motor_running and client.state is ConnectionState.READY
    assert client.motor_may_run
    await client.close()
    assert device.requests(MsgType.STOP) == [Stop(StopReason.HOST)]
    assert not device.motor_running


async def test_cancelled_start_then_close_sends_stop() -> None:
    client, device = await connected_client()
    start = asyncio.ensure_future(client.start())
    await asyncio.sleep(0)  # START written
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start
    await client.close()
    assert [m.TYPE for m in device.acted] == [MsgType.HELLO, MsgType.START, MsgType.STOP]
    assert not device.motor_running


async def test_close_after_reconnect_stops_before_telemetry_reconciles() -> None:
    device = FakeDevice()
    client, _ = await connected_client(device, backoff=Backoff(min_s=0.001, jitter=0.0))
    await client.start()
    device.hang_up()
    await client.wait_for_state(ConnectionState.DISCONNECTED)
    await asyncio.wait_for(client.wait_for_state(ConnectionState.READY), 1.0)
    assert client.motor_may_run  # no telemetry yet: the motor may still run
    await client.close()
    assert device.requests(MsgType.STOP) == [Stop(StopReason.HOST)]


async def test_no_stop_on_close_when_motor_never_ran_or_was_stopped() -> None:
    client, device = await connected_client()
    await client.set_output(30.0)
    await client.close()
    client, device = await connected_client()
    await client.start()
    await client.stop()
    assert not client.motor_may_run
    await client.close()
    assert device.requests(MsgType.STOP) == [Stop(StopReason.USER)]


async def test_telemetry_sets_and_clears_motor_may_run() -> None:
    client, device = await connected_client()
    device.emit(_telemetry(1, MotorState.RUNNING))
    await asyncio.sleep(0.01)
    assert client.motor_may_run  # e.g. still running from a previous host
    device.emit(_telemetry(2, MotorState.IDLE))
    await asyncio.sleep(0.01)
    assert not client.motor_may_run
    device.faults.drop_types[MsgType.START] = 100  # a START whose fate is unknown
    with pytest.raises(DeviceTimeoutError):
        await client.start()
    device.emit(_telemetry(3, MotorState.IDLE))
    await asyncio.sleep(0.01)
    assert client.motor_may_run  # idle telemetry cannot vouch for an unanswered START
    await client.close()


async def test_program_pause_and_abort_end_run_retransmissions() -> None:
    client, device = await connected_client(request_timeout_s=0.01, retries=5)
    device.faults.drop_response_types[MsgType.PROGRAM_CONTROL] = 3  # run's first ACKs
    run = asyncio.ensure_future(client.program_control(ProgramAction.RUN))
    await asyncio.sleep(0.015)
    await client.program_control(ProgramAction.ABORT)
    with pytest.raises(RequestAbandonedError):
        await run
    await asyncio.sleep(0.05)
    actions = [m.action for _, m in device.received if isinstance(m, ProgramControl)]
    assert actions.count(ProgramAction.RUN) >= 2
    assert ProgramAction.RUN not in actions[actions.index(ProgramAction.ABORT) :]
    await client.close()
    assert device.requests(MsgType.STOP) == [Stop(StopReason.HOST)]  # run may have started
