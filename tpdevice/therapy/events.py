"""Session events (typed, numbered, timestamped) and the ordered, lossless bus fanning them out."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

from tpdevice.therapy.records import Checks, Record
from tpdevice.therapy.summary import Summary

if TYPE_CHECKING:
    from pydantic import TypeAdapter

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
    "PressureInBand",
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


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class Event(Record):
    """What every session event carries: type, session, order, time and where it happened."""

    TYPE: ClassVar[str] = ""  # the `type` of a concrete event class, e.g. "hold.started"

    type: str
    session_id: str
    seq: Annotated[int, Checks(lambda pydantic: (pydantic.Field(ge=1),))]  # 1, 2, ... no gaps
    mono_s: float  # session clock (monotonic seconds)
    wall_time: str  # ISO 8601 UTC
    profile_id: str
    device: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """TYPE mirrors the default of `type`, so each event class names its type once."""
        super().__init_subclass__(**kwargs)
        default = cls.__dict__.get("type")
        cls.TYPE = default if isinstance(default, str) else ""


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class StepEvent(Event):
    """An event about one planned step."""

    step_index: int
    kind: str  # sweep | hold | release | rest
    side: str  # left | right | midline
    cycle: int  # 1.. for hold/release cycles, 0 otherwise


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SessionStarted(Event):
    """The session began on the device."""

    type: Literal["session.started"] = "session.started"
    side: str
    mode: str  # host | firmware
    step_count: int
    planned_duration_s: float
    force_cap_n: float
    freq_min_hz: float
    freq_max_hz: float
    force_sensing: bool
    safety_confirmed: str = ""  # enter | --yes | simulator ("" when the caller did not ask)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class StepStarted(StepEvent):
    """A step's setpoint was issued (host) or the device started it (firmware)."""

    type: Literal["step.started"] = "step.started"
    planned_start_s: float  # offset from session start in the plan
    actual_start_s: float  # offset from session start (t0), as in the summary
    lateness_ms: float  # actual - deadline (never negative by construction)
    shift_s: float = 0.0  # deadline - planned start: what pauses, contact waits, links moved
    duration_s: float
    freq_hz: float
    band_low_n: float
    band_high_n: float
    cue: str


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class HoldStarted(StepEvent):
    """A hold began; `policy` says whether lost contact pauses its timer."""

    type: Literal["hold.started"] = "hold.started"
    duration_s: float
    policy: str  # wall | contact
    cap_s: float | None = None  # a contact hold's wall-time cap (None for a wall hold)
    band_low_n: float
    band_high_n: float


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class _HoldCountChange(StepEvent):
    """A contact-policy hold stopped or started counting (the fields of both events)."""

    reason: str
    remaining_s: float
    force_n: float


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class HoldPaused(_HoldCountChange):
    """A contact-policy hold stopped counting: the head left the tissue."""

    type: Literal["hold.paused"] = "hold.paused"
    reason: str = "lost_contact"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class HoldResumed(_HoldCountChange):
    """A contact-policy hold counts again."""

    type: Literal["hold.resumed"] = "hold.resumed"
    reason: str = "contact"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class ReleaseStarted(StepEvent):
    """The release after a hold began."""

    type: Literal["release.started"] = "release.started"
    duration_s: float
    freq_hz: float


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class StepCompleted(StepEvent):
    """A step ended (ran out or was skipped)."""

    type: Literal["step.completed"] = "step.completed"
    duration_s: float  # actual, pauses excluded
    skipped: bool
    time_in_band_s: float
    peak_force_n: float


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class _PressureCoaching(StepEvent):
    """Measured pressure outside the band for longer than the coaching delay (both events)."""

    force_n: float
    band_low_n: float
    band_high_n: float
    cue: str


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class PressureLow(_PressureCoaching):
    """Measured pressure below the band for longer than the coaching delay."""

    type: Literal["pressure.low"] = "pressure.low"
    cue: str = "More pressure"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class PressureHigh(_PressureCoaching):
    """Measured pressure above the band for longer than the coaching delay."""

    type: Literal["pressure.high"] = "pressure.high"
    cue: str = "Less pressure"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class PressureInBand(StepEvent):
    """Measured pressure is back in the band after a pressure.low or pressure.high."""

    type: Literal["pressure.in_band"] = "pressure.in_band"
    force_n: float
    band_low_n: float
    band_high_n: float
    after: str  # low | high: the cue this clears


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class _PauseChange(Event):
    """The session paused or resumed (the fields of both events)."""

    reason: str
    step_index: int | None = None
    remaining_s: float | None = None


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SessionPaused(_PauseChange):
    """The motor stopped and the timers froze (reason user or link_lost)."""

    type: Literal["session.paused"] = "session.paused"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SessionResumed(_PauseChange):
    """The session runs again (reason user or reconnected)."""

    type: Literal["session.resumed"] = "session.resumed"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SessionCompleted(Event):
    """Every step ran; the motor is stopped."""

    type: Literal["session.completed"] = "session.completed"
    summary: Summary


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SessionAborted(Event):
    """The session ended early (user, over_pressure, device_fault, cancelled)."""

    type: Literal["session.aborted"] = "session.aborted"
    reason: str
    detail: str = ""
    summary: Summary


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SessionFailed(Event):
    """The session could not go on (link not back in time, device error)."""

    type: Literal["session.failed"] = "session.failed"
    reason: str
    error: str
    summary: Summary


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class DeviceFaultEvent(Event):
    """The device raised (active) or cleared a fault."""

    type: Literal["device.fault"] = "device.fault"
    code: str  # watchdog | overheat | stall | low_battery | over_force | new_host
    active: bool
    device_time_ms: int
    step_index: int | None = None


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class CueEvent(Event):
    """Something the therapist should know (a degraded feature, a clamped value)."""

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
    | PressureInBand
    | SessionPaused
    | SessionResumed
    | SessionCompleted
    | SessionAborted
    | SessionFailed
    | DeviceFaultEvent
    | CueEvent,
    Checks(lambda pydantic: (pydantic.Discriminator("type"),)),
]
E = TypeVar("E", bound=Event)


_ANY_EVENT: list[TypeAdapter[AnyEvent]] = []


def _adapter() -> TypeAdapter[AnyEvent]:
    """The validator of any event, built when the first event is parsed."""
    if not _ANY_EVENT:
        from pydantic import TypeAdapter

        _ANY_EVENT.append(TypeAdapter(AnyEvent))
    return _ANY_EVENT[0]


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    """An event back from model_dump() output or its JSON (journal, MQTT)."""
    if isinstance(data, dict):
        return _adapter().validate_python(data)
    return _adapter().validate_json(data)


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
