"""Records dump, parse and describe themselves as pydantic does, without pydantic to use them."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import pytest
from engine_helpers import small_profile
from pydantic import TypeAdapter, ValidationError

from tpdevice.therapy import events
from tpdevice.therapy.events import Event, parse_event
from tpdevice.therapy.records import Record
from tpdevice.therapy.summary import StepSummary, Summary

COMMON: dict[str, Any] = {
    "session_id": "s1", "seq": 3, "mono_s": 1.5, "wall_time": "2026-12-05T00:00:00.000Z",
    "profile_id": "neck", "device": "sim",
}  # fmt: skip
SUMMARY = Summary(
    session_id="s1", profile_id="neck", device="sim", side="left", mode="host",
    outcome="completed", planned_duration_s=10.0, steps_planned=1, faults=["overheat"],
    steps=[StepSummary(index=0, kind="hold", side="left", cycle=1, planned_start_s=0.0,
                       planned_duration_s=10.0, actual_start_s=None, faults=["stall"])],
)  # fmt: skip


def _value(hint: Any) -> Any:
    """A value of the annotated type (the first choice of a union)."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _value(typing.get_args(hint)[0])
    if origin is typing.Literal:
        return typing.get_args(hint)[0]
    if origin in (typing.Union, types.UnionType):
        return _value(typing.get_args(hint)[0])
    return {str: "x", int: 2, float: 2.5, bool: True, Summary: SUMMARY}[hint]


def every_event() -> list[Event]:
    """One event of each concrete class, every field given."""
    made = []
    for name in events.__all__:
        cls = getattr(events, name)
        if not (isinstance(cls, type) and issubclass(cls, Event) and cls.TYPE):
            continue
        hints = typing.get_type_hints(cls, include_extras=True)
        fields = {name: _value(hints[name]) for name in cls.field_names()}
        made.append(cls(**{**fields, **COMMON}))
    return made


def test_there_is_an_event_of_each_of_the_17_types() -> None:
    assert len({event.type for event in every_event()}) == 17


@pytest.mark.parametrize("record", [*every_event(), SUMMARY, small_profile()], ids=repr)
@pytest.mark.parametrize("mode", ["json", "python"])
def test_a_dump_is_pydantic_s(record: Record, mode: typing.Literal["json", "python"]) -> None:
    assert record.model_dump(mode=mode) == TypeAdapter(type(record)).dump_python(record, mode=mode)
    dumped = json.dumps(record.model_dump(mode="json"))
    assert list(json.loads(dumped)) == list(record.field_names())
    assert type(record).model_validate_json(record.model_dump_json()) == record


@pytest.mark.parametrize("event", every_event(), ids=lambda event: event.type)
def test_every_event_comes_back_from_its_dump(event: Event) -> None:
    assert parse_event(event.model_dump(mode="json")) == event
    assert parse_event(json.dumps(event.model_dump(mode="json"))) == event
    assert parse_event(event.model_dump_json()) == event


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"seq": 0}, "greater_than_equal"),
        ({"type": "hold.sideways"}, "union_tag_invalid"),
        ({"surprise": 1}, "unexpected_keyword_argument"),
        ({"freq_hz": "fast"}, "float_parsing"),
    ],
)
def test_parsing_still_checks_every_field(change: dict[str, Any], problem: str) -> None:
    event = next(event for event in every_event() if event.type == "step.started")
    with pytest.raises(ValidationError, match=problem):
        parse_event({**event.model_dump(mode="json"), **change})


def test_an_event_s_schema_keeps_its_constraints() -> None:
    schema = TypeAdapter(events.AnyEvent).json_schema()
    started = schema["$defs"]["StepStarted"]
    assert started["properties"]["seq"]["minimum"] == 1
    assert started["additionalProperties"] is False
    assert started["properties"]["type"]["const"] == "step.started"


def test_records_compare_hash_and_show_by_their_fields() -> None:
    paused, resumed = (
        cls(**COMMON, step_index=1, reason="user", remaining_s=2.0)
        for cls in (events.SessionPaused, events.SessionResumed)
    )
    assert paused != resumed  # the same fields, another class
    assert small_profile() == small_profile() and hash(small_profile()) == hash(small_profile())
    assert paused != events.SessionPaused(**{**COMMON, "seq": 4}, reason="user")
    assert repr(paused).startswith("SessionPaused(type='session.paused', session_id='s1', seq=3,")
    with pytest.raises(TypeError, match="unhashable type: 'Summary'"):
        hash(SUMMARY)
