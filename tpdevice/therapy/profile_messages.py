"""Pydantic validation errors of a profile rewritten as one-line messages a person can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpdevice.therapy.profile import (
    HoldStep,
    HoldTimer,
    Profile,
    Progression,
    ReleaseStep,
    RestStep,
    SafetyCaps,
    SweepStep,
    fmt_num,
)
from tpdevice.therapy.records import Record

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

__all__ = ["dotted", "error_loc", "error_message"]

_STEP_MODELS: dict[str, type[Record]] = {
    "sweep": SweepStep,
    "hold": HoldStep,
    "release": ReleaseStep,
    "rest": RestStep,
}
_NESTED_MODELS: dict[str, type[Record]] = {
    "caps": SafetyCaps,
    "progression": Progression,
    "hold_timer": HoldTimer,
}
_TYPE_WORDS = {
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "text",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "dataclass_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def dotted(loc: tuple[str | int, ...]) -> str:
    """('steps', 1, 'hold_s') -> 'steps[1].hold_s'; () -> 'top level'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


def show(value: Any) -> str:
    """A value as short as a message needs."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return fmt_num(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def error_loc(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The error's loc with pydantic's discriminator tags (steps[1].hold.x) taken out."""
    clean: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("kind") == part:
            continue  # the union tag pydantic inserts after a step index
        clean.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(clean)


def _model_at(data: Any, loc: tuple[str | int, ...]) -> type[Record] | None:
    """The model that validates the mapping at `loc` (for 'did you mean' hints)."""
    model: type[Record] | None = Profile
    node = data
    for part in loc:
        node = node.get(part) if isinstance(node, dict) else _item(node, part)
        if isinstance(part, str):
            model = _NESTED_MODELS.get(part)
        elif isinstance(node, dict):
            model = _STEP_MODELS.get(str(node.get("kind")))
    return model


def _item(node: Any, part: str | int) -> Any:
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _unknown_key(data: Any, loc: tuple[str | int, ...]) -> str:
    parent, key = loc[:-1], loc[-1]
    where = f"{dotted(parent)}: " if parent else ""
    message = f"{where}unknown key {show(key)}"
    model = _model_at(data, parent)
    if model is RestStep and str(key).startswith("force_"):
        return f"{message} (a rest step has no pressure band)"
    if model is not None:
        import difflib  # only a bad profile needs it: a run starts without

        close = difflib.get_close_matches(str(key), list(model.field_names()), n=1, cutoff=0.6)
        if close:
            return f"{message} (did you mean {close[0]}?)"
        return f"{message} (allowed: {', '.join(model.field_names())})"
    return message


def error_message(data: Any, error: ErrorDetails) -> str:
    """One line for one pydantic error: path, offending value, what is allowed."""
    loc = error_loc(data, tuple(error["loc"]))
    kind = error["type"]
    if kind == "missing":
        where = f"{dotted(loc[:-1])}: " if len(loc) > 1 else ""
        return f"{where}missing required field {loc[-1]}"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return _unknown_key(data, loc)
    path, value = dotted(loc), show(error.get("input"))
    if kind in _TYPE_WORDS:
        return f"{path} = {value} must be {_TYPE_WORDS[kind]}"
    text = _TEMPLATES.get(kind, " = {value}: {msg}")
    ctx = {str(key): str(item) for key, item in (error.get("ctx") or {}).items()}
    return path + text.format_map({**ctx, "value": value, "msg": error["msg"]})


_TEMPLATES = {  # each follows the dotted path
    "out_of_range": " = {value} {msg}",
    "rest_freq": " = {value} {msg}",
    "control_char": " = {value} {msg}",
    "string_pattern_mismatch": " = {value} may use only a-z, 0-9 and single '-' between words",
    "enum": " = {value} is not one of {expected}",
    "union_tag_invalid": ".kind = {tag!r} is not a step kind (allowed sweep, hold, release, rest)",
    "union_tag_not_found": ": missing required field kind (sweep, hold, release or rest)",
    "too_short": " must not be empty",
    "string_too_short": " must not be empty",
    "too_long": " is too long (at most {max_length} items)",
    "string_too_long": " is too long (at most {max_length} characters)",
}
