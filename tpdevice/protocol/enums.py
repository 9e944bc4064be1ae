"""Numbered values carried on the wire: message types, result codes, states, reasons."""

import enum


class MsgType(enum.IntEnum):
    """The header's type byte."""

    HELLO = 0x01
    CAPABILITIES = 0x02
    HEARTBEAT = 0x03
    TIME_SYNC = 0x04
    TIME_SYNC_REPLY = 0x05
    SET_OUTPUT = 0x10
    START = 0x11
    STOP = 0x12
    TELEMETRY = 0x20
    FAULT = 0x21
    STEP_EVENT = 0x22
    PROGRAM_BEGIN = 0x30
    PROGRAM_PULL = 0x31
    PROGRAM_STEP = 0x32
    PROGRAM_COMMIT = 0x33
    PROGRAM_CONTROL = 0x34
    ACK = 0x7F


def msg_type_name(msg_type: int) -> str:
    """The MsgType name of a type byte, or its hex value when this side does not know it."""
    try:
        return MsgType(msg_type).name
    except ValueError:
        return f"0x{msg_type:02X}"


class ResultCode(enum.IntEnum):
    """The result an ACK carries; anything but OK and IN_PROGRESS is a NACK."""

    OK = 0
    IN_PROGRESS = 1
    BUSY = 2
    OUT_OF_RANGE = 3
    BAD_STATE = 4
    UNSUPPORTED = 5
    OVERHEAT = 6
    LOW_BATTERY = 7
    CRC = 8
    MALFORMED = 9

    @property
    def is_success(self) -> bool:
        """OK and IN_PROGRESS are acknowledgements; the rest are refusals."""
        return self in (ResultCode.OK, ResultCode.IN_PROGRESS)


class MotorState(enum.IntEnum):
    """What the motor is doing, as telemetry reports it."""

    IDLE = 0
    RUNNING = 1
    STOPPING = 2
    PAUSED = 3
    FAULTED = 4


class StopReason(enum.IntEnum):
    """Why a STOP was sent (or why the device stopped by itself)."""

    USER = 0
    HOST = 1
    SESSION_END = 2
    OVER_PRESSURE = 3
    FAULT = 4
    WATCHDOG = 5
    DISCONNECT = 6
    EMERGENCY = 7


class FaultCode(enum.IntEnum):
    """A fault the device raises or clears."""

    WATCHDOG = 1
    OVERHEAT = 2
    STALL = 3
    LOW_BATTERY = 4
    OVER_FORCE = 5
    NEW_HOST = 6


class StepKind(enum.IntEnum):
    """What a program step does."""

    SWEEP = 0
    HOLD = 1
    RELEASE = 2
    REST = 3


class HoldPolicy(enum.IntEnum):
    """How a hold's timer counts: always, or only while the head is in contact."""

    WALL = 0
    CONTACT = 1


class StepEventKind(enum.IntEnum):
    """What happened to a program step, reported with device time."""

    STARTED = 0
    COMPLETED = 1
    HOLD_PAUSED = 2
    HOLD_RESUMED = 3
    PAUSED = 4
    RESUMED = 5
    ABORTED = 6
    PROGRAM_DONE = 7


class ProgramAction(enum.IntEnum):
    """PROGRAM_CONTROL actions."""

    RUN = 0
    PAUSE = 1
    RESUME = 2
    ABORT = 3


class Feature(enum.IntFlag):
    """Capability bits in CAPABILITIES.features."""

    NONE = 0
    FORCE_SENSOR = 0x01
    CONTACT_SENSOR = 0x02
    PROGRAM = 0x04
    TIME_SYNC = 0x08
    BATTERY = 0x10
    TEMPERATURE = 0x20
