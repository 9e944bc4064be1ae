"""DeviceClient against the fake device: state, setpoints, validation, streams, programs."""

from __future__ import annotations

import asyncio

import pytest
from fakes import CLOCK_OFFSET_US, FakeDevice, FakeTransport, connected_client, fast_options

from tpdevice.device import (
    ConnectionState,
    DeviceClient,
    DeviceConnectionError,
    DeviceRangeError,
    DeviceRejectedError,
    DeviceTimeoutError,
    DeviceUnsupportedError,
    LatestStream,
    SetpointResult,
)
from tpdevice.protocol import (
    Fault,
    FaultCode,
    Hello,
    MotorState,
    MsgType,
    ProgramAction,
    ProgramBegin,
    ProgramCommit,
    ProgramStep,
    ResultCode,
    SetOutput,
    StepEvent,
    StepEventKind,
    StepKind,
    Stop,
    StopReason,
    Telemetry,
)


def _telemetry(time_ms: int, state: MotorState = MotorState.IDLE) -> Telemetry:
    return Telemetry(time_ms, 30.0, 5.0, True, 90, 30.0, state)


def _steps(n: int) -> list[ProgramStep]:
    return [
        ProgramStep(0, StepKind.HOLD, 30.0, 20.0, 5.0, 60.0, 10.0, 1000 * (i + 1)) for i in range(n)
    ]


async def test_connect_reports_capabilities_and_ready() -> None:
    client, device = await connected_client()
    assert client.state is ConnectionState.READY
    assert client.capabilities.model == "Fake"
    hello = device.requests(MsgType.HELLO)[0]
    assert hello == Hello(1, 1000, 20)
    await client.close()
    assert client.state is ConnectionState.CLOSED  # type: ignore[comparison-overlap]


async def test_capabilities_before_connect_is_a_clear_error() -> None:
    client = DeviceClient("fake://gun", lambda: FakeTransport(FakeDevice()), fast_options())
    with pytest.raises(DeviceConnectionError, match="fake://gun: not connected yet"):
        _ = client.capabilities
    with pytest.raises(DeviceConnectionError, match="not connected yet"):
        await client.set_output(30.0)


async def test_refused_transport_leaves_client_disconnected() -> None:
    from tpdevice.transport import TransportOpenError

    def factory() -> FakeTransport:
        transport = FakeTransport(FakeDevice())
        transport.refuse_open = True
        return transport

    client = DeviceClient("fake://gun", factory, fast_options())
    with pytest.raises(TransportOpenError, match="fake://gun: connection refused"):
        await client.connect()
    assert client.state is ConnectionState.DISCONNECTED


async def test_state_transitions_are_notified() -> None:
    client, _device = await connected_client()
    changes: list[tuple[str, str]] = []
    client.subscribe_state(lambda old, new: changes.append((old.value, new.value)))
    await client.set_output(30.0)
    await client.start()
    await client.stop(StopReason.USER)
    await client.close()
    assert changes == [("ready", "running"), ("running", "ready"), ("ready", "closed")]


async def test_set_output_sends_values_and_reports_applied() -> None:
    client, device = await connected_client()
    result = await client.set_output(
        32.5, force_target_n=20.0, force_tolerance_n=5.0, force_cap_n=60.0,
        force_ramp_n_per_s=10.0, freq_ramp_hz_per_s=5.0,
    )  # fmt: skip
    assert result is SetpointResult.APPLIED
    assert device.requests(MsgType.SET_OUTPUT) == [SetOutput(32.5, 20.0, 5.0, 60.0, 10.0, 5.0)]
    await client.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"freq_hz": 50.0}, r"freq_hz=50 is outside the device range 20\.\.45 Hz"),
        ({"freq_hz": 10.0}, r"freq_hz=10 is outside"),
        ({"freq_hz": float("nan")}, r"freq_hz=nan is outside"),
        (
            {"freq_hz": 30.0, "force_cap_n": 250.0},
            r"force_cap_n=250 exceeds the device maximum 200",
        ),
        ({"freq_hz": 30.0, "force_target_n": -1.0}, r"force_target_n=-1 must be a number >= 0"),
        ({"freq_hz": 30.0, "freq_ramp_hz_per_s": 1000.0}, r"freq_ramp_hz_per_s=1000"),
        (
            {"freq_hz": 30.0, "force_target_n": 40.0, "force_cap_n": 30.0},
            r"force_target_n=40 exceeds its force_cap_n=30 N",
        ),
        (
            {"freq_hz": 30.0, "force_tolerance_n": 250.0},
            r"force_tolerance_n=250 exceeds the device maximum 200",
        ),
    ],
)
async def test_out_of_range_setpoint_is_refused_without_sending(
    kwargs: dict[str, float], match: str
) -> None:
    client, device = await connected_client()
    with pytest.raises(DeviceRangeError, match=match):
        await client.set_output(**kwargs)
    assert device.requests(MsgType.SET_OUTPUT) == []
    await client.close()


async def test_zero_frequency_means_off_and_is_allowed() -> None:
    client, _device = await connected_client()
    assert await client.set_output(0.0) is SetpointResult.APPLIED
    await client.close()


async def test_three_quick_setpoints_send_first_and_last_only() -> None:
    client, device = await connected_client()
    results = await asyncio.gather(
        client.set_output(30.0), client.set_output(31.0), client.set_output(32.0)
    )
    assert list(results) == [
        SetpointResult.APPLIED,
        SetpointResult.SUPERSEDED,
        SetpointResult.APPLIED,
    ]
    assert [m.freq_hz for m in device.requests_of(SetOutput)] == [30.0, 32.0]
    await client.close()


async def test_superseded_setpoint_stops_retransmitting() -> None:
    client, device = await connected_client()
    device.faults.drop_types[MsgType.SET_OUTPUT] = 1  # the first copy of 30 Hz is lost
    first = asyncio.ensure_future(client.set_output(30.0))
    await asyncio.sleep(0)
    second = await client.set_output(33.0)
    assert await first is SetpointResult.SUPERSEDED
    assert second is SetpointResult.APPLIED
    sent = [m.freq_hz for m in device.requests_of(SetOutput)]
    assert sent == [30.0, 33.0]  # no retransmission of the stale 30 Hz
    await client.close()


async def test_rejected_setpoint_raises_and_queued_one_still_goes() -> None:
    client, device = await connected_client()
    device.results[MsgType.SET_OUTPUT] = ResultCode.BUSY
    first = asyncio.ensure_future(client.set_output(30.0))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(client.set_output(31.0))
    with pytest.raises(DeviceRejectedError, match="SET_OUTPUT refused by fake://gun: busy"):
        await first
    with pytest.raises(DeviceRejectedError):
        await second
    assert len(device.requests(MsgType.SET_OUTPUT)) == 2
    await client.close()


async def test_start_stop_and_refusals() -> None:
    client, device = await connected_client()
    device.results[MsgType.START] = ResultCode.OVERHEAT
    with pytest.raises(DeviceRejectedError, match="START refused by fake://gun: overheat"):
        await client.start()
    assert client.state is ConnectionState.READY
    del device.results[MsgType.START]
    await client.start()
    assert client.state is ConnectionState.RUNNING  # type: ignore[comparison-overlap]
    await client.stop()
    assert device.requests(MsgType.STOP) == [Stop(StopReason.USER)]
    assert client.state is ConnectionState.READY
    await client.close()


async def test_close_stops_a_running_motor() -> None:
    client, device = await connected_client()
    await client.start()
    await client.close()
    assert device.requests(MsgType.STOP) == [Stop(StopReason.HOST)]
    assert not device.attached


async def test_close_with_silent_device_is_bounded() -> None:
    client, device = await connected_client()
    await client.start()
    device.faults.silent = True
    await asyncio.wait_for(client.close(), 1.0)
    assert client.state is ConnectionState.CLOSED


async def test_fault_moves_to_faulted_and_start_clears() -> None:
    client, device = await connected_client()
    events = client.events()
    await client.start()
    device.emit(Fault(100, FaultCode.WATCHDOG))
    assert await anext(events) == Fault(100, FaultCode.WATCHDOG)
    assert client.state is ConnectionState.FAULTED
    await client.start()
    assert client.state is ConnectionState.RUNNING  # type: ignore[comparison-overlap]
    device.emit(Fault(200, FaultCode.OVERHEAT))
    await anext(events)
    device.emit(Fault(300, FaultCode.OVERHEAT, active=False))
    await anext(events)
    assert client.state is ConnectionState.READY
    await client.close()
    assert [e async for e in events] == []


async def test_event_listener_and_program_end() -> None:
    client, device = await connected_client()
    seen: list[object] = []
    unsubscribe = client.add_event_listener(seen.append)
    await client.program_control(ProgramAction.RUN)
    assert client.state is ConnectionState.RUNNING
    device.emit(StepEvent(5, 0, StepEventKind.PROGRAM_DONE))
    await asyncio.sleep(0.01)
    assert client.state is ConnectionState.READY  # type: ignore[comparison-overlap]
    assert seen == [StepEvent(5, 0, StepEventKind.PROGRAM_DONE)]
    unsubscribe()
    await client.close()


async def test_telemetry_keeps_newest_when_consumer_is_slow() -> None:
    client, device = await connected_client(telemetry_queue_size=4)
    stream = client.telemetry()
    for i in range(10):
        device.emit(_telemetry(i))
    await asyncio.sleep(0.01)
    got = [(await anext(stream)).device_time_ms for _ in range(4)]
    assert got == [6, 7, 8, 9]
    assert stream.dropped == 6
    assert client.last_telemetry is not None and client.last_telemetry.device_time_ms == 9
    await client.close()
    assert [t async for t in stream] == []


async def test_first_telemetry_after_handshake_reconciles_state() -> None:
    client, device = await connected_client()
    device.emit(_telemetry(1, MotorState.RUNNING))
    await asyncio.sleep(0.01)
    assert client.state is ConnectionState.RUNNING
    device.emit(_telemetry(2, MotorState.IDLE))  # later telemetry does not flip the state
    await asyncio.sleep(0.01)
    assert client.state is ConnectionState.RUNNING
    await client.close()


async def test_time_sync_offset_and_rtt() -> None:
    client, _device = await connected_client()
    offset_s, rtt_s = await client.time_sync()
    assert 0 <= rtt_s < 0.1
    # The fake reads time.monotonic() + CLOCK_OFFSET_US between send and receive.
    assert offset_s == pytest.approx(CLOCK_OFFSET_US / 1e6, abs=rtt_s / 2 + 1e-6)
    await client.close()


async def test_time_sync_is_never_retransmitted() -> None:
    client, device = await connected_client()
    device.faults.drop_types[MsgType.TIME_SYNC] = 1
    with pytest.raises(DeviceTimeoutError, match="no answer to TIME_SYNC after 1 attempts"):
        await client.time_sync()
    assert len(device.frames(MsgType.TIME_SYNC)) == 1
    await client.close()


async def test_time_sync_unsupported_feature() -> None:
    from fakes import fake_capabilities

    client, device = await connected_client(FakeDevice(fake_capabilities(features=0)))
    with pytest.raises(DeviceUnsupportedError, match="does not support time sync"):
        await client.time_sync()
    assert device.requests(MsgType.TIME_SYNC) == []
    await client.close()


async def test_program_upload_answers_pulls_and_commits() -> None:
    client, device = await connected_client()
    steps = _steps(5)
    digest = await client.upload_program(steps)
    assert [s.index for s in device.committed] == [0, 1, 2, 3, 4]
    assert device.requests_of(ProgramBegin)[0].program_hash == digest
    assert device.requests_of(ProgramCommit)[0].program_hash == digest
    await client.close()


async def test_program_upload_survives_lost_frames() -> None:
    client, device = await connected_client()
    device.faults.drop_types[MsgType.PROGRAM_STEP] = 2
    device.faults.drop_responses = 1
    await client.upload_program(_steps(4))
    assert len(device.committed) == 4
    await client.close()


async def test_program_step_refused() -> None:
    client, device = await connected_client()
    device.step_results[2] = ResultCode.OUT_OF_RANGE
    with pytest.raises(
        DeviceRejectedError, match="PROGRAM_STEP refused by fake://gun: out_of_range"
    ):
        await client.upload_program(_steps(4))
    assert device.committed == []
    await client.close()


async def test_program_begin_refused() -> None:
    client, device = await connected_client()
    device.results[MsgType.PROGRAM_BEGIN] = ResultCode.BUSY
    with pytest.raises(DeviceRejectedError, match="PROGRAM_BEGIN refused"):
        await client.upload_program(_steps(2))
    await client.close()


async def test_program_commit_crc_refusal() -> None:
    client, device = await connected_client()
    device.results[MsgType.PROGRAM_COMMIT] = ResultCode.CRC
    with pytest.raises(DeviceRejectedError, match="PROGRAM_COMMIT refused by fake://gun: crc"):
        await client.upload_program(_steps(2))
    await client.close()


async def test_program_upload_times_out_when_device_stops_pulling() -> None:
    client, device = await connected_client(program_pull_timeout_s=0.05)
    device.stall_pulls_after = 2
    with pytest.raises(DeviceTimeoutError, match=r"program upload stalled.*after 2 of 4 steps"):
        await client.upload_program(_steps(4))
    await client.close()


async def test_program_validated_before_sending() -> None:
    client, device = await connected_client()
    with pytest.raises(DeviceRangeError, match=r"a program of 65 steps; the device takes 1\.\.64"):
        await client.upload_program(_steps(65))
    bad = [*_steps(1), ProgramStep(1, StepKind.SWEEP, 99.0, 0, 0, 0, 0, 1000)]
    with pytest.raises(DeviceRangeError, match="step 1: freq_hz=99 is outside"):
        await client.upload_program(bad)
    assert device.requests(MsgType.PROGRAM_BEGIN) == []
    await client.close()


async def test_commands_after_close_fail_clearly() -> None:
    client, _device = await connected_client()
    await client.close()
    await client.close()  # idempotent
    with pytest.raises(DeviceConnectionError, match=r"not connected \(closed\)"):
        await client.start()
    with pytest.raises(DeviceConnectionError, match="client is closed"):
        await client.connect()


# --- streams -----------------------------------------------------------------------------


async def test_two_telemetry_consumers_each_get_every_sample() -> None:
    client, device = await connected_client()
    first, second = client.telemetry(), client.telemetry()

    async def collect(stream: LatestStream[Telemetry]) -> list[int]:
        return [sample.device_time_ms async for sample in stream]

    tasks = [asyncio.ensure_future(collect(s)) for s in (first, second)]
    await asyncio.sleep(0)
    for i in range(3):
        device.emit(_telemetry(i))
    await asyncio.sleep(0.01)
    await client.close()
    assert [await t for t in tasks] == [[0, 1, 2], [0, 1, 2]]


async def test_second_concurrent_consumer_of_one_stream_is_refused() -> None:
    client, _device = await connected_client()
    stream = client.telemetry()
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="telemetry stream already has a consumer"):
        await anext(stream)
    stream.close()  # wakes the first consumer
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(first, 1.0)
    await client.close()
