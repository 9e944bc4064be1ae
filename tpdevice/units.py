"""Numbers with units as people read them: 29.1667 Hz shows as 29.2 Hz, 40.0 Hz as 40 Hz."""

from __future__ import annotations

__all__ = ["NOT_MEASURED", "for_people", "range_with_unit", "with_unit"]

NOT_MEASURED = "not measured"
RANGE_DASH = "\u2013"  # an en dash, as ranges are printed


def for_people(value: float, decimals: int = 1) -> str:
    """`value` rounded to `decimals`, without trailing zeros: 29.1667 -> '29.2', 40.0 -> '40'."""
    text = f"{round(value, decimals):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def with_unit(value: float, unit: str, decimals: int = 1) -> str:
    """'29.2 Hz'."""
    return f"{for_people(value, decimals)} {unit}"


def range_with_unit(low: float, high: float, unit: str, decimals: int = 1) -> str:
    """'29.2-40 Hz' with an en dash."""
    return f"{for_people(low, decimals)}{RANGE_DASH}{for_people(high, decimals)} {unit}"
