"""A profile back from its own JSON dump, without validating it again (and without pydantic's
validators, which are built on first use)."""

from __future__ import annotations

from typing import Any

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

__all__ = ["profile_from_dump"]

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
    fields["caps"] = SafetyCaps.model_construct(**fields["caps"])
    fields["steps"] = tuple(_step(step) for step in fields["steps"])
    _require_fields(Profile, fields)
    return Profile.model_construct(**fields)


def _step(data: dict[str, Any]) -> Step:
    if data["kind"] != "hold":
        flat = _FLAT_STEPS[data["kind"]]
        _require_fields(flat, data)
        return flat.model_construct(**data)
    fields = dict(data)
    timer = fields["hold_timer"]
    fields["hold_timer"] = HoldTimer.model_construct(
        policy=HoldTimerPolicy(timer["policy"]), cap_s=timer["cap_s"]
    )
    if fields["progression"] is not None:
        fields["progression"] = Progression.model_construct(**fields["progression"])
    _require_fields(HoldStep, fields)
    return HoldStep.model_construct(**fields)


def _require_fields(model: type[Profile | Step], fields: dict[str, Any]) -> None:
    """A dump names every field and nothing else; anything else is not one of ours."""
    if fields.keys() != model.model_fields.keys():
        raise ValueError(f"not a dump of a {model.__name__}")
