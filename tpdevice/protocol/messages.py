"""Every native message as a small frozen dataclass whose wire layout is described as data."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from tpdevice.protocol.enums import (
    FaultCode,
    HoldPolicy,
    MotorState,
    MsgType,
    ProgramAction,
    ResultCode,
    StepEventKind,
    StepKind,
    StopReason,
)
from tpdevice.protocol.errors import MessageError
from tpdevice.protocol.fields import (
    WireField,
    converter_for,
    decode_text,
    encode_text,
    struct_for,
)

F = WireField
HZ, NEWTON, CELSIUS = 100, 10, 10  # wire resolution: 0.01 Hz, 0.1 N, 0.1 degC
NO_STEP = 0xFFFF

MESSAGE_TYPES: dict[int, type[Message]] = {}


class Message:
    """Base of all messages: fixed fields, then optional length-prefixed text fields."""

    __slots__ = ()
    TYPE: ClassVar[MsgType]
    FIELDS: ClassVar[tuple[WireField, ...]] = ()
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ()
    _STRUCT: ClassVar[struct.Struct]
    _CONVERTERS: ClassVar[tuple[tuple[int, Callable[[int], Any]], ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._STRUCT = struct_for(cls.FIELDS)
        converters = ((i, converter_for(f)) for i, f in enumerate(cls.FIELDS))
        cls._CONVERTERS = tuple((i, conv) for i, conv in converters if conv is not None)
        MESSAGE_TYPES[cls.TYPE] = cls

    def encode_payload(self) -> bytes:
        """The payload bytes; MessageError naming the field when a value does not fit."""
        try:
            values = [f.to_wire(getattr(self, f.name)) for f in self.FIELDS]
        except MessageError as err:
            raise MessageError(f"{self.TYPE.name}: {err}") from None
        texts = (encode_text(name, getattr(self, name)) for name in self.TEXT_FIELDS)
        return self._STRUCT.pack(*values) + b"".join(texts)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        """Parse a payload (extra trailing bytes are ignored for forward compatibility)."""
        size = cls._STRUCT.size
        if len(payload) < size:
            raise MessageError(f"{cls.TYPE.name}: payload of {len(payload)} bytes, {size} needed")
        values = list(cls._STRUCT.unpack_from(payload))
        for index, convert in cls._CONVERTERS:
            try:
                values[index] = convert(values[index])
            except KeyError:
                field = cls.FIELDS[index]
                raise MessageError(
                    f"{cls.TYPE.name}: {field.unknown_value(values[index])}"
                ) from None
        offset = size
        try:
            for name in cls.TEXT_FIELDS:
                text, offset = decode_text(name, payload, offset)
                values.append(text)
        except MessageError as err:
            raise MessageError(f"{cls.TYPE.name}: {err}") from None
        return cls(*values)


@dataclass(frozen=True, slots=True)
class Hello(Message):
    """Host -> device: open a session, ask for a watchdog timeout and a telemetry rate."""

    TYPE = MsgType.HELLO
    FIELDS = (F("protocol_version", "B"), F("watchdog_ms", "H"), F("telemetry_hz", "B"))
    protocol_version: int = 1
    watchdog_ms: int = 1000
    telemetry_hz: int = 20


@dataclass(frozen=True, slots=True)
class Capabilities(Message):
    """Device -> host, answering HELLO: what the gun is and what it granted."""

    TYPE = MsgType.CAPABILITIES
    FIELDS = (
        F("protocol_version", "B"),
        F("features", "I"),
        F("freq_min_hz", "H", HZ),
        F("freq_max_hz", "H", HZ),
        F("force_max_n", "H", NEWTON),
        F("telemetry_hz", "B"),
        F("telemetry_max_hz", "B"),
        F("max_program_steps", "H"),
        F("watchdog_ms", "H"),
        F("watchdog_min_ms", "H"),
        F("watchdog_max_ms", "H"),
    )
    TEXT_FIELDS = ("model", "serial", "firmware")
    protocol_version: int
    features: int
    freq_min_hz: float
    freq_max_hz: float
    force_max_n: float
    telemetry_hz: int
    telemetry_max_hz: int
    max_program_steps: int
    watchdog_ms: int
    watchdog_min_ms: int
    watchdog_max_ms: int
    model: str
    serial: str
    firmware: str


@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    """Host -> device, from the control loop: the controller is alive; feeds the watchdog."""

    TYPE = MsgType.HEARTBEAT
    FIELDS = (F("host_time_ms", "I"),)
    host_time_ms: int = 0


@dataclass(frozen=True, slots=True)
class TimeSync(Message):
    """Host -> device: ask for the device clock; echoed in TIME_SYNC_REPLY."""

    TYPE = MsgType.TIME_SYNC
    FIELDS = (F("host_time_us", "Q"),)
    host_time_us: int


@dataclass(frozen=True, slots=True)
class TimeSyncReply(Message):
    """Device -> host: the host's timestamp echoed and the device clock when it was read."""

    TYPE = MsgType.TIME_SYNC_REPLY
    FIELDS = (F("host_time_us", "Q"), F("device_time_us", "Q"))
    host_time_us: int
    device_time_us: int


@dataclass(frozen=True, slots=True)
class SetOutput(Message):
    """Host -> device: the percussion rate, the pressure band and its cap, and the ramps."""

    TYPE = MsgType.SET_OUTPUT
    FIELDS = (
        F("freq_hz", "H", HZ),
        F("force_target_n", "H", NEWTON),
        F("force_tolerance_n", "H", NEWTON),
        F("force_cap_n", "H", NEWTON),
        F("force_ramp_n_per_s", "H", NEWTON),
        F("freq_ramp_hz_per_s", "H", HZ),
    )
    freq_hz: float
    force_target_n: float = 0.0
    force_tolerance_n: float = 0.0
    force_cap_n: float = 0.0
    force_ramp_n_per_s: float = 0.0
    freq_ramp_hz_per_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Start(Message):
    """Host -> device: run the motor at the current output; arms the watchdog afresh."""

    TYPE = MsgType.START


@dataclass(frozen=True, slots=True)
class Stop(Message):
    """Host -> device: ramp the motor to zero now."""

    TYPE = MsgType.STOP
    FIELDS = (F("reason", "B", kind=StopReason),)
    reason: StopReason = StopReason.USER


@dataclass(frozen=True, slots=True)
class Telemetry(Message):
    """Device -> host, at the negotiated rate: what the gun measures now."""

    TYPE = MsgType.TELEMETRY
    FIELDS = (
        F("device_time_ms", "I"),
        F("freq_hz", "H", HZ),
        F("force_n", "H", NEWTON),
        F("contact", "B", kind=bool),
        F("battery_pct", "B"),
        F("motor_temp_c", "h", CELSIUS),
        F("state", "B", kind=MotorState),
        F("step_index", "H"),
    )
    device_time_ms: int
    freq_hz: float
    force_n: float
    contact: bool
    battery_pct: int
    motor_temp_c: float
    state: MotorState
    step_index: int = NO_STEP


@dataclass(frozen=True, slots=True)
class Fault(Message):
    """Device -> host: a fault raised (active) or cleared."""

    TYPE = MsgType.FAULT
    FIELDS = (F("device_time_ms", "I"), F("code", "B", kind=FaultCode), F("active", "B", kind=bool))
    device_time_ms: int
    code: FaultCode
    active: bool = True


@dataclass(frozen=True, slots=True)
class StepEvent(Message):
    """Device -> host, in firmware-run mode: a program step changed, with device time."""

    TYPE = MsgType.STEP_EVENT
    FIELDS = (
        F("device_time_ms", "I"),
        F("step_index", "H"),
        F("kind", "B", kind=StepEventKind),
    )
    device_time_ms: int
    step_index: int
    kind: StepEventKind


@dataclass(frozen=True, slots=True)
class ProgramBegin(Message):
    """Host -> device: a program of `step_count` steps with this hash is coming."""

    TYPE = MsgType.PROGRAM_BEGIN
    FIELDS = (F("step_count", "H"), F("program_hash", "I"))
    step_count: int
    program_hash: int


@dataclass(frozen=True, slots=True)
class ProgramPull(Message):
    """Device -> host: send step `index` next."""

    TYPE = MsgType.PROGRAM_PULL
    FIELDS = (F("index", "H"),)
    index: int


@dataclass(frozen=True, slots=True)
class ProgramStep(Message):
    """Host -> device: one step of the program being uploaded."""

    TYPE = MsgType.PROGRAM_STEP
    FIELDS = (
        F("index", "H"),
        F("kind", "B", kind=StepKind),
        F("freq_hz", "H", HZ),
        F("force_target_n", "H", NEWTON),
        F("force_tolerance_n", "H", NEWTON),
        F("force_cap_n", "H", NEWTON),
        F("force_ramp_n_per_s", "H", NEWTON),
        F("duration_ms", "I"),
        F("hold_policy", "B", kind=HoldPolicy),
        F("hold_cap_ms", "I"),
        F("contact_threshold_n", "H", NEWTON),
    )
    index: int
    kind: StepKind
    freq_hz: float
    force_target_n: float
    force_tolerance_n: float
    force_cap_n: float
    force_ramp_n_per_s: float
    duration_ms: int
    hold_policy: HoldPolicy = HoldPolicy.WALL
    hold_cap_ms: int = 0
    contact_threshold_n: float = 3.0


@dataclass(frozen=True, slots=True)
class ProgramCommit(Message):
    """Host -> device: make the staged program current if its hash matches."""

    TYPE = MsgType.PROGRAM_COMMIT
    FIELDS = (F("program_hash", "I"),)
    program_hash: int


@dataclass(frozen=True, slots=True)
class ProgramControl(Message):
    """Host -> device: run, pause, resume or abort the committed program."""

    TYPE = MsgType.PROGRAM_CONTROL
    FIELDS = (F("action", "B", kind=ProgramAction),)
    action: ProgramAction


@dataclass(frozen=True, slots=True)
class Ack(Message):
    """A request's result (a NACK unless ok), or the host's receipt of a FAULT / STEP_EVENT."""

    TYPE = MsgType.ACK
    FIELDS = (F("request_type", "B"), F("result", "B", kind=ResultCode))
    request_type: int
    result: ResultCode = ResultCode.OK


def program_hash(steps: Sequence[ProgramStep]) -> int:
    """CRC-32 (zlib) of the steps' payloads in order: what PROGRAM_BEGIN and COMMIT carry."""
    crc = 0
    for step in steps:
        crc = zlib.crc32(step.encode_payload(), crc)
    return crc


def message_class(msg_type: int) -> type[Message]:
    """The class for a type byte; MessageError for a type this side does not know."""
    try:
        return MESSAGE_TYPES[msg_type]
    except KeyError:
        raise MessageError(f"unknown message type 0x{msg_type:02X}") from None
