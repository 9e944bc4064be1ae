"""What a session is told (commands), what it answers (CommandResult) and why it ends."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tpdevice.protocol import StopReason
from tpdevice.therapy.compat import SessionError

__all__ = [
    "CommandResult",
    "EndReason",
    "Rejection",
    "SessionCommand",
    "device_stop_reason",
    "end_reason",
]


class SessionCommand(enum.StrEnum):
    """A command a running session takes."""

    PAUSE = "pause"
    RESUME = "resume"
    SKIP = "skip"
    STOP = "stop"


class Rejection(enum.StrEnum):
    """Why a session refused a command."""

    NOT_STARTED = "not_started"  # run() was not called yet (stop() is still accepted)
    ENDED = "ended"  # the session ended, or its ending is under way
    ALREADY_PAUSED = "already_paused"
    NOT_PAUSED = "not_paused"


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The answer to a command: accepted, or refused with the reason."""

    command: SessionCommand
    accepted: bool
    reason: Rejection | None = None

    @classmethod
    def ok(cls, command: SessionCommand) -> CommandResult:
        """The command was taken."""
        return cls(command, True)

    @classmethod
    def refused(cls, command: SessionCommand, reason: Rejection) -> CommandResult:
        """The command was refused for `reason`."""
        return cls(command, False, reason)


class EndReason(enum.StrEnum):
    """Why a session ended (NONE: it completed)."""

    NONE = ""
    USER = "user"  # stopped by the person using the gun
    HOST = "host"  # stopped by the program driving it (nobody can watch the session any more)
    OVER_PRESSURE = "over_pressure"
    DEVICE_FAULT = "device_fault"
    CANCELLED = "cancelled"
    LINK_LOST = "link_lost"
    DEVICE_ERROR = "device_error"
    INTERNAL_ERROR = "internal_error"


_DEVICE_STOP_REASONS: dict[EndReason, StopReason] = {
    EndReason.NONE: StopReason.SESSION_END,
    EndReason.USER: StopReason.USER,
    EndReason.HOST: StopReason.HOST,
    EndReason.OVER_PRESSURE: StopReason.OVER_PRESSURE,
    EndReason.DEVICE_FAULT: StopReason.FAULT,
    EndReason.CANCELLED: StopReason.HOST,
    EndReason.LINK_LOST: StopReason.HOST,
    EndReason.DEVICE_ERROR: StopReason.HOST,
    EndReason.INTERNAL_ERROR: StopReason.HOST,
}


def device_stop_reason(reason: EndReason) -> StopReason:
    """The STOP reason sent to the device when a session ends for `reason`."""
    return _DEVICE_STOP_REASONS[reason]


def end_reason(reason: EndReason | str) -> EndReason:
    """`reason` as an EndReason; SessionError naming it when it is none."""
    try:
        return EndReason(reason)
    except ValueError:
        known = ", ".join(r.value for r in EndReason if r.value)
        raise SessionError(f"stop reason {reason!r} is not one of {known}") from None
