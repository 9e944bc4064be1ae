"""A profile back from its own JSON dump, without validating it again."""

from __future__ import annotations

from typing import Any, TypeVar

from tpdevice.therapy.profile import (
    Attachment,
    HoldStep,
    HoldTimer,
    HoldTimerPolicy,
    Laterality,
    Profile,
    Progression,
    ReleaseStep,
    RestStep,
    SafetyCaps,
    Step,
    SweepStep,
)
from tpdevice.therapy.records import Record

__all__ = ["profile_from_dump"]

R = TypeVar("R", bound=Record)

_TEXT_TUPLES = ("muscles", "avoid_zones", "contraindications", "sources")
_FLAT_STEPS: dict[str, type[SweepStep | ReleaseStep | RestStep]] = {
    "sweep": SweepStep,
    "release": ReleaseStep,
    "rest": RestStep,
}


def profile_from_dump(data: dict[str, Any]) -> Profile:
    """The profile whose `model_dump(mode="json")` is `data`; only for dumps of valid profiles.

    KeyError, TypeError or ValueError when `data` is not such a dump.
    """
    fields = dict(data)
    fields.update({name: tuple(fields[name]) for name in _TEXT_TUPLES})
    fields["laterality"] = Laterality(fields["laterality"])
    fields["attachment"] = Attachment(fields["attachment"])
    fields["caps"] = _made(SafetyCaps, fields["caps"])
    fields["steps"] = tuple(_step(step) for step in fields["steps"])
    return _made(Profile, fields)


def _step(data: dict[str, Any]) -> Step:
    if data["kind"] != "hold":
        return _made(_FLAT_STEPS[data["kind"]], data)
    fields = dict(data)
    timer = fields["hold_timer"]
    fields["hold_timer"] = _made(
        HoldTimer, {"policy": HoldTimerPolicy(timer["policy"]), "cap_s": timer["cap_s"]}
    )
    if fields["progression"] is not None:
        fields["progression"] = _made(Progression, fields["progression"])
    return _made(HoldStep, fields)


def _made(record: type[R], fields: dict[str, Any]) -> R:
    """A dump names every field and nothing else; anything else is not one of ours."""
    if not isinstance(fields, dict) or fields.keys() != set(record.field_names()):
        raise ValueError(f"not a dump of a {record.__name__}")
    return record(**fields)
