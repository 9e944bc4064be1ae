"""A scripted fake device and transport with fault injection, for fast device-layer tests.

The fake firmware answers like docs/protocol.md says (HELLO -> CAPABILITIES, others -> ACK,
program pulls) with the 128-entry retransmission window: entries keyed by (seq, type,
payload), answered byte for byte without acting twice; HELLO is always handled and clears the
window. It keeps a minimal motor (START runs it, STOP stops it) and lets a test
drop, duplicate, delay or garble what goes either way.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from tpdevice.device import ClientOptions, DeviceClient
from tpdevice.protocol import (
    Ack,
    Capabilities,
    Frame,
    FrameFlag,
    Message,
    MsgType,
    ProgramBegin,
    ProgramCommit,
    ProgramPull,
    ProgramStep,
    ResultCode,
    SetOutput,
    StreamDecoder,
    TimeSync,
    TimeSyncReply,
    decode_message,
    encode_stream,
)
from tpdevice.transport import Transport, TransportError, TransportOpenError, TransportState

WINDOW = 128
CLOCK_OFFSET_US = 123_456_789  # the fake's clock runs this far ahead of time.monotonic()

WindowKey = tuple[int, int, bytes]

Handler = Callable[[Message], Message | None]
M = TypeVar("M", bound=Message)


def fake_capabilities(**changes: Any) -> Capabilities:
    """Plausible CAPABILITIES; keyword arguments override fields."""
    values: dict[str, Any] = {
        "protocol_version": 1,
        "features": 0x3F,
        "freq_min_hz": 20.0,
        "freq_max_hz": 45.0,
        "force_max_n": 200.0,
        "telemetry_hz": 20,
        "telemetry_max_hz": 50,
        "max_program_steps": 64,
        "watchdog_ms": 1000,
        "watchdog_min_ms": 100,
        "watchdog_max_ms": 5000,
        "model": "Fake",
        "serial": "F-0001",
        "firmware": "0.0.1",
    }
    values.update(changes)
    return Capabilities(**values)


@dataclass
class Faults:
    """What to do to frames; counters are consumed one frame at a time."""

    drop_requests: int = 0  # drop the next N host requests (no answer at all)
    drop_types: dict[MsgType, int] = field(default_factory=dict)  # per request type
    drop_responses: int = 0  # act on the next N requests but lose their answers
    drop_response_types: dict[MsgType, int] = field(default_factory=dict)  # per request type
    duplicate_responses: bool = False
    delay_s: float = 0.0
    garbage: bytes | None = None  # answer every write with this instead of frames
    silent: bool = False  # never answer
    drop_probability: float = 0.0  # random loss of host frames and of responses
    rng: random.Random = field(default_factory=lambda: random.Random(1))


class FakeDevice:
    """Scripted firmware behind a FakeTransport."""

    def __init__(self, capabilities: Capabilities | None = None) -> None:
        self.capabilities = capabilities or fake_capabilities()
        self.faults = Faults()
        self.results: dict[MsgType, ResultCode] = {}  # forced ACK results by request type
        self.step_results: dict[int, ResultCode] = {}  # forced ACK results by step index
        self.handlers: dict[MsgType, Handler] = {}
        self.emit_after: dict[MsgType, list[Message]] = {}  # sent right behind the next answer
        self.stall_pulls_after: int | None = None  # stop pulling after this many steps
        self.received: list[tuple[Frame, Message]] = []  # every valid frame from the host
        self.acted: list[Message] = []  # requests acted on (not answered from the window)
        self.host_acks: list[tuple[Frame, Message]] = []  # host ACKs of device events
        self.hellos = 0
        self.motor_running = False
        self.output_freq_hz = 0.0
        self._window: dict[WindowKey, bytes] = {}
        self._decoder = StreamDecoder()
        self._transport: FakeTransport | None = None
        self._seq = 0
        self._program: tuple[int, int] | None = None  # (count, hash) being uploaded
        self._staged: list[ProgramStep] = []
        self.committed: list[ProgramStep] = []

    # --- wiring ------------------------------------------------------------------------

    def attach(self, transport: FakeTransport) -> None:
        """A host transport opened."""
        self._transport = transport
        self._decoder = StreamDecoder()

    def detach(self, transport: FakeTransport) -> None:
        """The host transport closed."""
        if self._transport is transport:
            self._transport = None

    @property
    def attached(self) -> bool:
        """True while a host transport is open."""
        return self._transport is not None

    def hang_up(self) -> None:
        """Drop the link from the device side."""
        if self._transport is not None:
            self._transport.lose()

    # --- what the test sees --------------------------------------------------------------

    def requests(self, msg_type: MsgType | None = None) -> list[Message]:
        """Host requests received (with retransmissions), optionally of one type."""
        return [
            m
            for f, m in self.received
            if not f.flags & FrameFlag.RESPONSE and (msg_type is None or m.TYPE is msg_type)
        ]

    def requests_of(self, kind: type[M]) -> list[M]:
        """Host requests of one message class received (with retransmissions)."""
        return [m for m in self.requests(kind.TYPE) if isinstance(m, kind)]

    def frames(self, msg_type: MsgType) -> list[Frame]:
        """Host request frames of one type, with their seq and flags."""
        return [
            f for f, m in self.received if m.TYPE is msg_type and not f.flags & FrameFlag.RESPONSE
        ]

    def acted_on(self, msg_type: MsgType) -> list[Message]:
        """Requests of one type that were acted on (first copies only)."""
        return [m for m in self.acted if m.TYPE is msg_type]

    # --- device -> host ----------------------------------------------------------------

    def emit(self, message: Message, *, seq: int | None = None, retransmit: bool = False) -> int:
        """Send a device-originated message; returns its device seq."""
        if seq is None:
            self._seq = (self._seq + 1) % 65536
            seq = self._seq
        flags = FrameFlag.FROM_DEVICE | (FrameFlag.RETRANSMIT if retransmit else 0)
        self.send_raw(encode_stream(message, seq, flags))
        return seq

    def send_raw(self, data: bytes, delay_s: float | None = None) -> None:
        """Deliver bytes to the host after the configured delay."""
        transport = self._transport
        if transport is None:
            return
        loop = asyncio.get_running_loop()
        delay_s = self.faults.delay_s if delay_s is None else delay_s
        if delay_s > 0:
            loop.call_later(delay_s, transport.feed, data)
        else:
            loop.call_soon(transport.feed, data)

    # --- host -> device ----------------------------------------------------------------

    def on_host_bytes(self, data: bytes) -> None:
        """Bytes written by the host."""
        faults = self.faults
        if faults.garbage is not None:
            self.send_raw(faults.garbage)
            return
        for frame in self._decoder.feed(data):
            self._on_frame(frame)

    def _on_frame(self, frame: Frame) -> None:
        message = decode_message(frame)
        self.received.append((frame, message))
        if frame.flags & FrameFlag.RESPONSE:
            self.host_acks.append((frame, message))
            return
        if self._drop_request(message):
            return
        key = (frame.seq, frame.msg_type, frame.payload)
        reply = None if message.TYPE is MsgType.HELLO else self._window.get(key)
        after: list[Message] = []
        if reply is None:
            self.acted.append(message)
            response, after = self._act(message)
            reply = encode_stream(response, frame.seq, FrameFlag.RESPONSE)
            if message.TYPE is not MsgType.HELLO:
                self._remember(key, reply)
        self._answer(reply, message.TYPE)
        for extra in [*after, *self.emit_after.pop(message.TYPE, [])]:
            self.emit(extra)

    def _drop_request(self, message: Message) -> bool:
        faults = self.faults
        if faults.silent:
            return True
        if faults.drop_requests > 0:
            faults.drop_requests -= 1
            return True
        left = faults.drop_types.get(message.TYPE, 0)
        if left > 0:
            faults.drop_types[message.TYPE] = left - 1
            return True
        return faults.drop_probability > 0 and faults.rng.random() < faults.drop_probability

    def _answer(self, reply: bytes, request_type: MsgType) -> None:
        faults = self.faults
        if faults.drop_responses > 0:
            faults.drop_responses -= 1
            return
        left = faults.drop_response_types.get(request_type, 0)
        if left > 0:
            faults.drop_response_types[request_type] = left - 1
            return
        if faults.drop_probability > 0 and faults.rng.random() < faults.drop_probability:
            return
        self.send_raw(reply)
        if faults.duplicate_responses:
            self.send_raw(reply)

    def _remember(self, key: WindowKey, reply: bytes) -> None:
        self._window[key] = reply
        while len(self._window) > WINDOW:
            del self._window[next(iter(self._window))]

    # --- the firmware's answers ----------------------------------------------------------

    def _act(self, message: Message) -> tuple[Message, list[Message]]:
        """The response to a new request and device messages to send after it."""
        handler = self.handlers.get(message.TYPE)
        if handler is not None:
            response = handler(message)
            if response is not None:
                return response, []
        if message.TYPE is MsgType.HELLO:
            return self._hello()
        if isinstance(message, TimeSync):
            device_time_us = time.monotonic_ns() // 1000 + CLOCK_OFFSET_US
            return TimeSyncReply(message.host_time_us, device_time_us), []
        forced = self.results.get(message.TYPE)
        if forced is not None:
            return Ack(message.TYPE, forced), []
        if isinstance(message, ProgramBegin | ProgramStep | ProgramCommit):
            return self._program_step(message)
        self._motor(message)
        return Ack(message.TYPE, ResultCode.OK), []

    def _hello(self) -> tuple[Message, list[Message]]:
        """HELLO clears the retransmission window; an idle motor's output goes back to off."""
        self.hellos += 1
        self._window.clear()
        if not self.motor_running:
            self.output_freq_hz = 0.0
        return self.capabilities, []

    def _motor(self, message: Message) -> None:
        """The minimal motor: SET_OUTPUT sets the rate, START runs, STOP stops."""
        if isinstance(message, SetOutput):
            self.output_freq_hz = message.freq_hz
        elif message.TYPE is MsgType.START:
            self.motor_running = True
        elif message.TYPE is MsgType.STOP:
            self.motor_running = False

    def _program_step(self, message: Message) -> tuple[Message, list[Message]]:
        if isinstance(message, ProgramBegin):
            self._program, self._staged = (message.step_count, message.program_hash), []
            return Ack(message.TYPE), [ProgramPull(0)]
        if isinstance(message, ProgramStep):
            result = self.step_results.get(message.index, ResultCode.OK)
            if self._program is None or message.index != len(self._staged):
                result = ResultCode.BAD_STATE
            if result is not ResultCode.OK:
                return Ack(message.TYPE, result), []
            self._staged.append(message)
            if self.stall_pulls_after is not None and len(self._staged) >= self.stall_pulls_after:
                return Ack(message.TYPE), []
            return Ack(message.TYPE), [ProgramPull(len(self._staged))]
        assert isinstance(message, ProgramCommit) and self._program is not None
        digest = 0
        for step in self._staged:
            digest = zlib.crc32(step.encode_payload(), digest)
        if digest != message.program_hash or digest != self._program[1]:
            return Ack(message.TYPE, ResultCode.CRC), []
        self.committed, self._program = self._staged, None
        return Ack(message.TYPE), []


class FakeTransport(Transport):
    """A Transport wired to a FakeDevice; writes reach it on the next loop iteration."""

    def __init__(self, device: FakeDevice, address: str = "fake://gun") -> None:
        super().__init__(address)
        self.device = device
        self.refuse_open = False
        self.written: list[bytes] = []

    async def _open(self) -> None:
        if self.refuse_open:
            raise TransportOpenError(f"{self.address}: connection refused")
        self.device.attach(self)

    def write(self, data: bytes) -> None:
        self._check_writable()
        self.written.append(data)
        asyncio.get_running_loop().call_soon(self.device.on_host_bytes, data)

    def _release(self) -> None:
        self.device.detach(self)

    def feed(self, data: bytes) -> None:
        """Bytes from the device (delivered only while open)."""
        self._deliver(data)

    def lose(self) -> None:
        """The link died under the host."""
        self._connection_lost(None)


FAST = {
    "request_timeout_s": 0.02,
    "retries": 3,
    "handshake_timeout_s": 0.02,
    "handshake_retries": 1,
}


def fast_options(**changes: Any) -> ClientOptions:
    """ClientOptions with short timeouts for tests; keyword arguments override."""
    values: dict[str, Any] = dict(FAST)
    values.update(changes)
    return ClientOptions(**values)


async def connected_client(
    device: FakeDevice | None = None, **changes: object
) -> tuple[DeviceClient, FakeDevice]:
    """A DeviceClient connected to a FakeDevice over a FakeTransport."""
    device = device or FakeDevice()
    client = DeviceClient("fake://gun", lambda: FakeTransport(device), fast_options(**changes))
    await client.connect()
    return client, device


class ByteSink:
    """Collects a transport's on_bytes chunks and its on_lost result."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self.lost_calls = 0
        self._want = 0
        self._enough = asyncio.Event()

    def on_bytes(self, data: bytes) -> None:
        self.data += data
        if len(self.data) >= self._want:
            self._enough.set()

    def on_lost(self, exc: BaseException | None) -> None:
        self.lost_calls += 1
        self.lost.set_result(exc)

    async def wait_for(self, count: int) -> bytes:
        self._want = count
        if len(self.data) < count:
            self._enough.clear()
            await self._enough.wait()
        return bytes(self.data)


def assert_lost(transport: Transport, error: BaseException | None, message: str | None) -> None:
    """A lost transport: on_lost got `error` saying `message` (None: a clean end of stream),
    its state is LOST and it refuses writes."""
    if message is None:
        assert error is None
    else:
        assert isinstance(error, TransportError)
        assert str(error) == message
    assert transport.state is TransportState.LOST
    with pytest.raises(TransportError, match="cannot write, transport is lost"):
        transport.write(b"x")
