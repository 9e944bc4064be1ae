"""What the daemon offers its clients (control API, MQTT): the models, codes and one protocol."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from tpdevice.daemon.config import DeviceConfig
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.commands import SessionCommand

__all__ = [
    "CommandReply",
    "ControlError",
    "DaemonAdmin",
    "DaemonControl",
    "DaemonInfo",
    "DeviceInfo",
    "ErrorCode",
    "EventEnvelope",
    "ProfileSummary",
    "SessionCommand",
    "SessionInfo",
    "StartRequest",
    "StopAllReply",
    "TelemetrySample",
]


class ErrorCode(enum.StrEnum):
    """Why a request was refused: the same codes on the control API and MQTT."""

    INVALID_JSON = "invalid_json"
    INVALID_PAYLOAD = "invalid_payload"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_PROFILE = "unknown_profile"
    UNKNOWN_SESSION = "unknown_session"
    DEVICE_BUSY = "device_busy"
    DEVICE_EXISTS = "device_exists"
    DEVICE_OFFLINE = "device_offline"
    DOSE_REFUSED = "dose_refused"
    CAP_EXCEEDED = "cap_exceeded"
    BAD_STATE = "bad_state"
    RATE_LIMITED = "rate_limited"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"  # no such path
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID_REQUEST = "invalid_request"
    INTERNAL = "internal"


class ControlError(TpDeviceError):
    """A request the daemon refuses: a code and one line for the person or program asking."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DaemonInfo(_Model):
    """Which daemon answers: its version and the files it keeps."""

    version: str
    config: str | None = None  # the file its guns are kept in (devices add/remove edit it)
    journal: str


class DeviceInfo(_Model):
    """One configured gun as the daemon sees it now."""

    id: str
    name: str
    address: str
    driver: str
    state: str  # the link state: disconnected | connecting | connected | ...
    model: str | None = None
    firmware: str | None = None
    battery_pct: float | None = None
    session_id: str | None = None  # the session holding the gun, if any
    last_error: str = ""
    freq_hz: float | None = None  # the latest telemetry, if any
    force_n: float | None = None  # None where the gun cannot measure force
    motor_temp_c: float | None = None
    last_seen: str | None = None  # ISO 8601 UTC of the latest frame from the gun
    selected_profile: str | None = None  # what a start without a profile runs


class SessionInfo(_Model):
    """One session: where it runs, how far it got, how it ended."""

    id: str
    device_id: str
    profile_id: str
    side: str
    state: str  # running | paused | completed | aborted | failed | interrupted
    client: str | None = None
    step_index: int | None = None
    steps_total: int = 0
    elapsed_s: float = 0.0
    remaining_s: float | None = None
    cause: str = ""


class ProfileSummary(_Model):
    """One profile a session can run."""

    id: str
    title: str
    region: str
    laterality: str
    duration_s_per_side: float


class TelemetrySample(_Model):
    """One gun's measurement, as integrators receive it."""

    device_id: str
    time: str  # ISO 8601 UTC
    freq_hz: float
    force_n: float | None
    contact: bool
    battery_pct: float | None = None
    motor_temp_c: float | None = None


class StartRequest(_Model):
    """Start a profile on a gun."""

    profile: str = Field(min_length=1, max_length=200)
    device: str = Field(min_length=1, max_length=64)
    side: Literal["left", "right", "both", "midline"] | None = None
    client: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    override: str | None = Field(default=None, min_length=1, max_length=500)


class CommandReply(_Model):
    """The answer to a session command: accepted, or refused with the reason."""

    session_id: str
    command: SessionCommand
    accepted: bool
    reason: str = ""


class StopAllReply(_Model):
    """What `stop` did: the guns whose motors were told to stop, and those that did not answer."""

    stopped: list[str]
    failed: dict[str, str] = {}


class EventEnvelope(_Model):
    """A journaled event with its per-device sequence number, as streamed to clients."""

    device_id: str
    device_seq: int
    event: dict[str, Any]


class DaemonControl(Protocol):
    """The daemon as its control API and MQTT bridge see it."""

    def devices(self) -> list[DeviceInfo]:
        """Every configured gun."""
        ...

    def sessions(self) -> list[SessionInfo]:
        """Sessions running now and those that ended since the daemon started."""
        ...

    def session(self, session_id: str) -> SessionInfo:
        """One session; ControlError(UNKNOWN_SESSION) if there is none."""
        ...

    async def start_session(self, request: StartRequest) -> SessionInfo:
        """Start at once and return the new session; ControlError when refused."""
        ...

    async def command(self, session_id: str, command: SessionCommand) -> CommandReply:
        """Pause, resume, skip or stop a session."""
        ...

    async def stop_all(self) -> StopAllReply:
        """Stop every motor now."""
        ...

    def events(self, after: dict[str, int]) -> AsyncIterator[EventEnvelope]:
        """Every event past `after` (device -> last seen seq), journaled ones first, then live."""
        ...

    def profiles(self) -> list[ProfileSummary]:
        """The profiles sessions can run."""
        ...

    def select_profile(self, device_id: str, profile_id: str) -> DeviceInfo:
        """Choose what a start without a profile runs on this gun (a dashboard's Start button)."""
        ...

    def watch_devices(self) -> AsyncIterator[DeviceInfo]:
        """Each gun now, then again whenever its link, battery or session changes."""
        ...

    def telemetry(self) -> AsyncIterator[TelemetrySample]:
        """Every gun's telemetry as it arrives (the subscriber thins it out)."""
        ...


class DaemonAdmin(Protocol):
    """What the control API offers beyond DaemonControl (not MQTT): guns adopted and dropped
    while the daemon runs, and one session's event stream."""

    async def add_device(self, device: DeviceConfig) -> DeviceInfo:
        """Adopt a gun (connecting in the background if auto-connect); ControlError when its id
        or address is already driven (DEVICE_EXISTS)."""
        ...

    async def remove_device(self, device_id: str) -> DeviceInfo:
        """Drop a gun (motor stopped, link closed); ControlError DEVICE_BUSY while a session
        holds it, naming the session."""
        ...

    def session_events(self, session_id: str) -> AsyncIterator[EventEnvelope]:
        """The session's events so far, then live ones, ending with its end event;
        ControlError(UNKNOWN_SESSION) if there is none."""
        ...
