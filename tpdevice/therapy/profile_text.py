"""Text from profile files: refuse terminal control characters, escape them on output."""

from __future__ import annotations

import re

__all__ = [
    "control_char_problem",
    "escape_controls",
    "multi_line_text",
    "single_line_text",
]

# C0 and C1 controls, DEL, and the bidi marks/embeddings/overrides/isolates and line separators
# that can reorder or hide what a terminal shows.
_BIDI = "\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL_RE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_CONTROL_BUT_NEWLINE_RE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}]")


def _pattern(allow_newline: bool) -> re.Pattern[str]:
    return _CONTROL_BUT_NEWLINE_RE if allow_newline else _CONTROL_RE


def control_char_problem(text: str, *, allow_newline: bool = False) -> str | None:
    """'contains control character U+001B at position 3', or None when the text is clean."""
    found = _pattern(allow_newline).search(text)
    if found is None:
        return None
    return f"contains control character U+{ord(found.group()):04X} at position {found.start()}"


def escape_controls(text: str, *, allow_newline: bool = False) -> str:
    """The text with every control character shown as an escape (\\x1b, \\u202e)."""
    return _pattern(allow_newline).sub(_escaped, text)


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def single_line_text(value: str) -> str:
    """Validator: `value` unchanged when it holds no control character (newline included)."""
    return _refuse(value, allow_newline=False)


def multi_line_text(value: str) -> str:
    """Validator: `value` unchanged when it holds no control character other than newline."""
    return _refuse(value, allow_newline=True)


def _refuse(value: str, *, allow_newline: bool) -> str:
    problem = control_char_problem(value, allow_newline=allow_newline)
    if problem is not None:
        from pydantic_core import PydanticCustomError  # not at import: listings stay light

        raise PydanticCustomError("control_char", problem)
    return value
