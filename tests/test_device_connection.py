"""DeviceConnection against a scripted fake device: matching, retransmission, NACKs, events."""

from __future__ import annotations

import asyncio
import re

import pytest
from fakes import FakeDevice, FakeTransport

from tpdevice.device import (
    RETRANSMIT_HORIZON,
    ConnectionLostError,
    ConnectionOptions,
    DeviceConnection,
    DeviceConnectionError,
    DeviceRejectedError,
    DeviceTimeoutError,
    HandshakeError,
    LinkState,
    RequestAbandonedError,
)
from tpdevice.protocol import (
    Ack,
    Capabilities,
    Fault,
    FaultCode,
    FrameFlag,
    Hello,
    Message,
    MotorState,
    MsgType,
    ResultCode,
    SetOutput,
    Start,
    StepEvent,
    StepEventKind,
    Stop,
    Telemetry,
    encode_frame,
    encode_stream,
    slip_encode,
)

OPTIONS = ConnectionOptions(
    request_timeout_s=0.02, retries=3, handshake_timeout_s=0.02, handshake_retries=1
)


async def _open(device: FakeDevice | None = None, *, handshake: bool = True) -> DeviceConnection:
    connection = DeviceConnection(FakeTransport(device or FakeDevice()), OPTIONS)
    await connection.open()
    if handshake:
        await connection.handshake(Hello())
    return connection


async def test_handshake_returns_capabilities() -> None:
    device = FakeDevice()
    connection = await _open(device)
    assert isinstance(connection.capabilities, Capabilities)
    assert connection.state is LinkState.READY
    assert device.frames(MsgType.HELLO)[0].seq == 1
    await connection.close()
    assert connection.state is LinkState.CLOSED  # type: ignore[comparison-overlap]


async def test_request_matched_by_seq() -> None:
    device = FakeDevice()
    connection = await _open(device)
    replies = await asyncio.gather(
        connection.request(Start()), connection.request(Stop()), connection.request(Start())
    )
    assert [r.request_type for r in replies if isinstance(r, Ack)] == [0x11, 0x12, 0x11]
    assert [f.seq for f in device.frames(MsgType.START)] == [2, 4]
    assert connection.in_flight == 0
    await connection.close()


async def test_retransmit_same_seq_then_success() -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.faults.drop_requests = 2
    reply = await connection.request(Start())
    assert isinstance(reply, Ack) and reply.result is ResultCode.OK
    frames = device.frames(MsgType.START)
    assert len({f.seq for f in frames}) == 1
    assert [bool(f.flags & FrameFlag.RETRANSMIT) for f in frames] == [False, True, True]
    assert connection.stats.retransmits == 2
    await connection.close()


async def test_lost_response_is_answered_from_window_not_acted_twice() -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.faults.drop_responses = 1
    await connection.request(SetOutput(30.0))
    assert len(device.frames(MsgType.SET_OUTPUT)) == 2
    assert len(device.acted_on(MsgType.SET_OUTPUT)) == 1
    await connection.close()


async def test_timeout_after_retries_names_request_and_address() -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.faults.silent = True
    with pytest.raises(DeviceTimeoutError) as caught:
        await connection.request(Start())
    assert str(caught.value).startswith("fake://gun: no answer to START after 4 attempts")
    assert caught.value.request_type == MsgType.START
    assert len(device.frames(MsgType.START)) == 4
    assert connection.stats.timeouts == 1 and connection.in_flight == 0
    await connection.close()


@pytest.mark.parametrize("code", [c for c in ResultCode if not c.is_success])
async def test_nack_raises_rejected_with_code(code: ResultCode) -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.results[MsgType.SET_OUTPUT] = code
    with pytest.raises(DeviceRejectedError) as caught:
        await connection.request(SetOutput(30.0))
    assert caught.value.result is code
    assert caught.value.request_type == MsgType.SET_OUTPUT
    assert str(caught.value) == f"SET_OUTPUT refused by fake://gun: {code.name.lower()}"
    await connection.close()


async def test_in_progress_is_success() -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.results[MsgType.START] = ResultCode.IN_PROGRESS
    reply = await connection.request(Start())
    assert isinstance(reply, Ack) and reply.result is ResultCode.IN_PROGRESS
    await connection.close()


async def test_duplicate_and_late_acks_are_ignored() -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.faults.duplicate_responses = True
    for _ in range(3):
        await connection.request(Start())
    await asyncio.sleep(0.01)
    assert connection.stats.late_responses == 3
    # an ACK for a seq nobody waits for, and one whose type does not fit
    device.send_raw(encode_stream(Ack(MsgType.START), 999, FrameFlag.RESPONSE))
    pending = connection.send_request(Stop())
    device.send_raw(encode_stream(Ack(MsgType.START), pending.seq, FrameFlag.RESPONSE))
    reply = await connection.wait(pending)
    assert isinstance(reply, Ack) and reply.request_type == MsgType.STOP
    assert connection.stats.late_responses >= 4
    assert connection.stats.mismatched == 1
    await connection.close()


async def test_delayed_response_after_retransmit_counts_once() -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.faults.delay_s = 0.03  # longer than the request timeout: one retransmit
    reply = await connection.request(Start())
    assert isinstance(reply, Ack)
    await asyncio.sleep(0.05)
    assert len(device.acted_on(MsgType.START)) == 1
    assert connection.stats.late_responses >= 1
    await connection.close()


async def test_garbage_answer_gives_one_line_handshake_error() -> None:
    device = FakeDevice()
    device.faults.garbage = b"\xc0hello world\xc0"
    connection = await _open(device, handshake=False)
    with pytest.raises(HandshakeError) as caught:
        await connection.handshake(Hello())
    text = str(caught.value)
    assert text.startswith("fake://gun: no valid answer to HELLO (")
    assert re.search(r"\(26 bytes of garbage, 2 bad frames \(\w+ 2\)\)$", text)
    assert "\n" not in text
    await connection.close()


async def test_silent_device_handshake_error() -> None:
    device = FakeDevice()
    device.faults.silent = True
    connection = await _open(device, handshake=False)
    with pytest.raises(HandshakeError, match=r"no valid answer to HELLO \(nothing received\)"):
        await connection.handshake(Hello())
    await connection.close()


async def test_hello_refused_is_handshake_error() -> None:
    device = FakeDevice()
    device.handlers[MsgType.HELLO] = lambda m: Ack(MsgType.HELLO, ResultCode.UNSUPPORTED)
    connection = await _open(device, handshake=False)
    with pytest.raises(HandshakeError, match="HELLO refused: unsupported"):
        await connection.handshake(Hello())
    await connection.close()


async def test_events_acked_deduplicated_and_dispatched() -> None:
    device = FakeDevice()
    connection = await _open(device)
    seen: list[Message] = []
    connection.subscribe(MsgType.FAULT, seen.append)
    connection.subscribe(MsgType.STEP_EVENT, seen.append)
    connection.subscribe(MsgType.TELEMETRY, seen.append)
    seq = device.emit(Fault(10, FaultCode.OVERHEAT))
    device.emit(Fault(10, FaultCode.OVERHEAT), seq=seq, retransmit=True)
    device.emit(StepEvent(11, 0, StepEventKind.STARTED))
    device.emit(Telemetry(12, 30.0, 5.0, True, 90, 30.0, MotorState.RUNNING))
    await asyncio.sleep(0.01)
    assert [m.TYPE for m in seen] == [MsgType.FAULT, MsgType.STEP_EVENT, MsgType.TELEMETRY]
    acks = [(f.seq, f.flags) for f, _ in device.host_acks]
    both = FrameFlag.RESPONSE | FrameFlag.FROM_DEVICE
    assert acks == [(seq, both), (seq, both), (seq + 1, both)]
    assert connection.stats.event_duplicates == 1
    await connection.close()


async def test_failing_listener_does_not_break_dispatch() -> None:
    device = FakeDevice()
    connection = await _open(device)
    seen: list[Message] = []

    def broken(message: Message) -> None:
        raise RuntimeError("boom")

    connection.subscribe(MsgType.TELEMETRY, broken)
    connection.subscribe(MsgType.TELEMETRY, seen.append)
    device.emit(Telemetry(12, 30.0, 5.0, True, 90, 30.0, MotorState.RUNNING))
    await asyncio.sleep(0.01)
    assert len(seen) == 1
    await connection.close()


async def test_malformed_frame_is_counted_not_raised() -> None:
    device = FakeDevice()
    connection = await _open(device)
    bad_crc = bytearray(encode_frame(MsgType.ACK, 5, FrameFlag.RESPONSE, b"\x11\x00"))
    bad_crc[-1] ^= 0xFF
    device.send_raw(slip_encode(bytes(bad_crc)))
    short = encode_frame(MsgType.TELEMETRY, 3, FrameFlag.FROM_DEVICE, b"\x01")
    device.send_raw(slip_encode(short))
    await asyncio.sleep(0.01)
    assert connection.helper.stats.malformed == 1
    assert connection.helper.bad_frames == 2
    assert connection.state is LinkState.READY
    await connection.request(Start())
    await connection.close()


async def test_link_lost_fails_waiters_and_notifies() -> None:
    device = FakeDevice()
    connection = await _open(device)
    lost: list[DeviceConnectionError] = []
    connection.on_lost = lost.append
    device.faults.silent = True
    waiter = asyncio.ensure_future(connection.request(Start()))
    await asyncio.sleep(0)
    device.hang_up()
    with pytest.raises(ConnectionLostError, match="fake://gun: connection closed by the device"):
        await waiter
    assert connection.state is LinkState.LOST and len(lost) == 1
    with pytest.raises(DeviceConnectionError, match="not connected"):
        connection.send_request(Start())
    await connection.close()


async def test_cancelled_request_is_forgotten() -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.faults.silent = True
    waiter = asyncio.ensure_future(connection.request(Start()))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert connection.in_flight == 0
    await connection.close()


async def test_seq_wraps_past_65535_to_zero() -> None:
    device = FakeDevice()
    connection = DeviceConnection(FakeTransport(device), OPTIONS, first_seq=65535)
    await connection.open()
    await connection.handshake(Hello())
    await connection.request(Start())
    assert [f.seq for f, _ in device.received] == [65535, 0]
    await connection.close()


async def test_request_is_not_retransmitted_past_64_newer_requests() -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.faults.drop_types[MsgType.START] = 100
    start = connection.send_request(Start())
    newer = [connection.send_request(SetOutput(30.0)) for _ in range(RETRANSMIT_HORIZON)]
    with pytest.raises(DeviceTimeoutError, match="not retransmitted: 64 newer requests"):
        await connection.wait(start)
    assert len(device.frames(MsgType.START)) == 1
    assert connection.stats.retransmits == 0
    for pending in newer:
        await connection.wait(pending)
    await connection.close()


async def test_request_is_retransmitted_with_63_newer_requests() -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.faults.drop_types[MsgType.START] = 1
    start = connection.send_request(Start())
    for _ in range(RETRANSMIT_HORIZON - 1):
        connection.send_request(SetOutput(30.0))
    reply = await connection.wait(start)
    assert isinstance(reply, Ack) and len(device.frames(MsgType.START)) == 2
    await connection.close()


async def test_stop_retransmits_gives_abandoned_error_naming_the_request() -> None:
    device = FakeDevice()
    connection = await _open(device)
    device.faults.silent = True
    pending = connection.send_request(Start())
    pending.stop_retransmits("STOP sent after it")
    with pytest.raises(RequestAbandonedError) as caught:
        await connection.wait(pending)
    assert str(caught.value) == "fake://gun: START abandoned after 1 attempts: STOP sent after it"
    assert caught.value.request_type == MsgType.START
    assert len(device.frames(MsgType.START)) == 1 and connection.stats.abandoned == 1
    await connection.close()


async def test_response_hook_runs_before_messages_behind_the_ack() -> None:
    device = FakeDevice()
    connection = await _open(device)
    order: list[str] = []
    connection.subscribe(MsgType.FAULT, lambda m: order.append("fault"))
    device.emit_after[MsgType.START] = [Fault(1, FaultCode.STALL)]
    pending = connection.send_request(Start(), on_response=lambda m: order.append("ack"))
    await connection.wait(pending)
    await asyncio.sleep(0.01)
    assert order == ["ack", "fault"]
    await connection.close()


async def test_unknown_type_answer_is_described_accurately() -> None:
    device = FakeDevice()
    unknown = slip_encode(encode_frame(0x66, 1, FrameFlag.RESPONSE, b""))
    device.faults.garbage = unknown
    connection = await _open(device, handshake=False)
    with pytest.raises(HandshakeError) as caught:
        await connection.handshake(Hello())
    text = str(caught.value)
    assert text == "fake://gun: no valid answer to HELLO (2 frames of unknown type (0x66))"
    await connection.close()
