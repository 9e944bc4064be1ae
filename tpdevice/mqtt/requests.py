"""Commands over MQTT: `<target>/request/<cmd>` parsed, checked and answered on `response/<cmd>`."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tpdevice.daemon.control import ControlError, ErrorCode

__all__ = [
    "MAX_REQUEST_BYTES",
    "Command",
    "Reply",
    "Request",
    "parse_request",
    "transaction_of",
]

MAX_REQUEST_BYTES = 4096


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction: str | int | None = None


class StartArgs(_Args):
    """`start`: run a profile on the request's device."""

    profile: str | None = Field(default=None, min_length=1, max_length=200)  # None: selected
    side: Literal["left", "right", "both", "midline"] | None = None
    client: str | None = Field(default=None, min_length=1, max_length=64)
    override: str | None = Field(default=None, min_length=1, max_length=500)


class SelectArgs(_Args):
    """`select_profile`: what a start without a profile runs on this gun."""

    profile: str = Field(min_length=1, max_length=200)


class SessionArgs(_Args):
    """pause, resume, skip, stop: the device's running session, or the one named."""

    session: str | None = Field(default=None, min_length=1, max_length=64)


class NoArgs(_Args):
    """Commands that take nothing but a transaction."""


class Command(enum.StrEnum):
    """What a request may ask; which are for a device and which for the bridge."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    SKIP = "skip"
    STOP = "stop"
    STOP_ALL = "stop_all"
    LIST_PROFILES = "list_profiles"
    LIST_DEVICES = "list_devices"
    STATUS = "status"
    SELECT_PROFILE = "select_profile"


_DEVICE_COMMANDS: dict[Command, type[_Args]] = {
    Command.START: StartArgs,
    **dict.fromkeys((Command.PAUSE, Command.RESUME, Command.SKIP, Command.STOP), SessionArgs),
    Command.STATUS: NoArgs,
    Command.SELECT_PROFILE: SelectArgs,
}
_BRIDGE_COMMANDS: dict[Command, type[_Args]] = {
    **dict.fromkeys(
        (Command.STOP_ALL, Command.LIST_PROFILES, Command.LIST_DEVICES, Command.STATUS), NoArgs
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One parsed request: for a device (device_id) or the bridge (None)."""

    device_id: str | None
    command: Command
    args: _Args

    @property
    def transaction(self) -> str | int | None:
        """The integrator's transaction id, echoed in the reply."""
        return self.args.transaction


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """What goes back on response/<cmd> (Zigbee2MQTT's shape plus a code)."""

    status: Literal["ok", "error"]
    data: Any = None
    error: str | None = None
    code: ErrorCode | None = None
    transaction: str | int | None = None

    @classmethod
    def failed(cls, err: ControlError, transaction: str | int | None = None) -> Reply:
        """The reply to a refused request."""
        return cls("error", None, str(err), err.code, transaction)

    def payload(self) -> bytes:
        """The reply as compact JSON."""
        body = dataclasses.asdict(self)
        return json.dumps(body, separators=(",", ":"), default=str).encode()


def parse_request(device_id: str | None, command: str, payload: bytes) -> Request:
    """Check a request's command and payload; raise ControlError with a specific code."""
    table = _BRIDGE_COMMANDS if device_id is None else _DEVICE_COMMANDS
    if command not in table:
        known = ", ".join(sorted(table))
        raise ControlError(ErrorCode.UNKNOWN_COMMAND, f"unknown command {command!r} ({known})")
    body = _json_object(payload)
    try:
        args = table[Command(command)].model_validate(body)
    except ValidationError as err:
        raise ControlError(ErrorCode.INVALID_FIELD, _first_problem(err)) from None
    return Request(device_id, Command(command), args)


def transaction_of(payload: bytes) -> str | int | None:
    """The transaction of a payload that may be invalid, so even refusals can echo it."""
    try:
        value = json.loads(payload).get("transaction")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def _json_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_REQUEST_BYTES:
        raise ControlError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes; at most {MAX_REQUEST_BYTES}"
        )
    if not payload.strip():
        return {}
    try:
        body = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise ControlError(ErrorCode.INVALID_PAYLOAD, "the payload is not UTF-8 text") from None
    except (ValueError, RecursionError) as err:
        raise ControlError(ErrorCode.INVALID_JSON, f"not JSON: {err}") from None
    if not isinstance(body, dict):
        raise ControlError(ErrorCode.INVALID_PAYLOAD, "the payload must be a JSON object")
    return body


def _first_problem(err: ValidationError) -> str:
    problem = err.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "payload"
    return f"{where}: {problem['msg']}"
