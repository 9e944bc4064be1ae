"""Session events (typed, numbered, timestamped) and the ordered, lossless bus fanning them out."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from tpdevice.therapy.summary import Summary

__all__ = [
    "AnyEvent",
    "CueEvent",
    "DeviceFaultEvent",
    "Event",
    "EventStamper",
    "HoldPaused",
    "HoldResumed",
    "HoldStarted",
    "PressureHigh",
    "PressureLow",
    "ReleaseStarted",
    "SessionAborted",
    "SessionCompleted",
    "SessionFailed",
    "SessionPaused",
    "SessionResumed",
    "SessionStarted",
    "StepCompleted",
    "StepEvent",
    "StepStarted",
    "parse_event",
]


class Event(BaseModel):
    """What every session event carries: type, session, order, time and where it happened."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[str] = ""

    type: str
    session_id: str
    seq: int = Field(ge=1)  # 1, 2, 3 ... per session, no gaps
    mono_s: float  # session clock (monotonic seconds)
    wall_time: str  # ISO 8601 UTC
    profile_id: str
    device: str


class StepEvent(Event):
    """An event about one planned step."""

    step_index: int
    kind: str  # sweep | hold | release | rest
    side: str  # left | right | midline
    cycle: int  # 1.. for hold/release cycles, 0 otherwise


class SessionStarted(Event):
    """The session began on the device."""

    TYPE: ClassVar[str] = "session.started"
    type: Literal["session.started"] = "session.started"
    side: str
    mode: str  # host | firmware
    step_count: int
    planned_duration_s: float
    force_cap_n: float
    freq_min_hz: float
    freq_max_hz: float
    force_sensing: bool


class StepStarted(StepEvent):
    """A step's setpoint was issued (host) or the device started it (firmware)."""

    TYPE: ClassVar[str] = "step.started"
    type: Literal["step.started"] = "step.started"
    planned_start_s: float  # offset from session start in the plan
    actual_start_s: float  # offset from session start (t0), as in the summary
    lateness_ms: float  # actual - deadline (never negative by construction)
    duration_s: float
    freq_hz: float
    band_low_n: float
    band_high_n: float
    cue: str


class HoldStarted(StepEvent):
    """A hold began; `policy` says whether lost contact pauses its timer."""

    TYPE: ClassVar[str] = "hold.started"
    type: Literal["hold.started"] = "hold.started"
    duration_s: float
    policy: str  # wall | contact
    cap_s: float | None = None  # a contact hold's wall-time cap (None for a wall hold)
    band_low_n: float
    band_high_n: float


class HoldPaused(StepEvent):
    """A contact-policy hold stopped counting: the head left the tissue."""

    TYPE: ClassVar[str] = "hold.paused"
    type: Literal["hold.paused"] = "hold.paused"
    reason: str = "lost_contact"
    remaining_s: float
    force_n: float


class HoldResumed(StepEvent):
    """A contact-policy hold counts again."""

    TYPE: ClassVar[str] = "hold.resumed"
    type: Literal["hold.resumed"] = "hold.resumed"
    reason: str = "contact"
    remaining_s: float
    force_n: float


class ReleaseStarted(StepEvent):
    """The release after a hold began."""

    TYPE: ClassVar[str] = "release.started"
    type: Literal["release.started"] = "release.started"
    duration_s: float
    freq_hz: float


class StepCompleted(StepEvent):
    """A step ended (ran out or was skipped)."""

    TYPE: ClassVar[str] = "step.completed"
    type: Literal["step.completed"] = "step.completed"
    duration_s: float  # actual, pauses excluded
    skipped: bool
    time_in_band_s: float
    peak_force_n: float


class PressureLow(StepEvent):
    """Measured pressure below the band for longer than the coaching delay."""

    TYPE: ClassVar[str] = "pressure.low"
    type: Literal["pressure.low"] = "pressure.low"
    force_n: float
    band_low_n: float
    band_high_n: float
    cue: str = "More pressure"


class PressureHigh(StepEvent):
    """Measured pressure above the band for longer than the coaching delay."""

    TYPE: ClassVar[str] = "pressure.high"
    type: Literal["pressure.high"] = "pressure.high"
    force_n: float
    band_low_n: float
    band_high_n: float
    cue: str = "Less pressure"


class SessionPaused(Event):
    """The motor stopped and the timers froze (reason user or link_lost)."""

    TYPE: ClassVar[str] = "session.paused"
    type: Literal["session.paused"] = "session.paused"
    reason: str
    step_index: int | None = None
    remaining_s: float | None = None


class SessionResumed(Event):
    """The session runs again (reason user or reconnected)."""

    TYPE: ClassVar[str] = "session.resumed"
    type: Literal["session.resumed"] = "session.resumed"
    reason: str
    step_index: int | None = None
    remaining_s: float | None = None


class SessionCompleted(Event):
    """Every step ran; the motor is stopped."""

    TYPE: ClassVar[str] = "session.completed"
    type: Literal["session.completed"] = "session.completed"
    summary: Summary


class SessionAborted(Event):
    """The session ended early (user, over_pressure, device_fault, cancelled)."""

    TYPE: ClassVar[str] = "session.aborted"
    type: Literal["session.aborted"] = "session.aborted"
    reason: str
    detail: str = ""
    summary: Summary


class SessionFailed(Event):
    """The session could not go on (link not back in time, device error)."""

    TYPE: ClassVar[str] = "session.failed"
    type: Literal["session.failed"] = "session.failed"
    reason: str
    error: str
    summary: Summary


class DeviceFaultEvent(Event):
    """The device raised (active) or cleared a fault."""

    TYPE: ClassVar[str] = "device.fault"
    type: Literal["device.fault"] = "device.fault"
    code: str  # watchdog | overheat | stall | low_battery | over_force
    active: bool
    device_time_ms: int
    step_index: int | None = None


class CueEvent(Event):
    """Something the therapist should know (a degraded feature, a clamped value)."""

    TYPE: ClassVar[str] = "cue"
    type: Literal["cue"] = "cue"
    reason: str  # e.g. no_force_sensor, freq_clamped, contact_as_wall
    cue: str
    step_index: int | None = None


AnyEvent = Annotated[
    SessionStarted
    | StepStarted
    | HoldStarted
    | HoldPaused
    | HoldResumed
    | ReleaseStarted
    | StepCompleted
    | PressureLow
    | PressureHigh
    | SessionPaused
    | SessionResumed
    | SessionCompleted
    | SessionAborted
    | SessionFailed
    | DeviceFaultEvent
    | CueEvent,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
E = TypeVar("E", bound=Event)


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    """An event back from model_dump() output or its JSON (journal, MQTT)."""
    if isinstance(data, dict):
        return _ADAPTER.validate_python(data)
    return _ADAPTER.validate_json(data)


def iso_utc(epoch_s: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds."""
    stamp = datetime.datetime.fromtimestamp(epoch_s, datetime.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventStamper:
    """Builds events with the session's id, the next seq and the clock's times."""

    def __init__(
        self,
        session_id: str,
        profile_id: str,
        device: str,
        now_s: Callable[[], float],
        wall_time: Callable[[], float],
    ) -> None:
        self._common = {"session_id": session_id, "profile_id": profile_id, "device": device}
        self._now_s = now_s
        self._wall_time = wall_time
        self._next_seq = 1

    def make(self, cls: type[E], **fields: Any) -> E:
        """A new `cls` event numbered after the previous one; a failing one uses no number."""
        event = cls(
            **self._common,
            seq=self._next_seq,
            mono_s=self._now_s(),
            wall_time=iso_utc(self._wall_time()),
            **fields,
        )
        self._next_seq += 1
        return event
