"""The field types of profile records, carrying the checks pydantic applies when it validates
a profile (made on first validation: a session uses profiles without pydantic)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from tpdevice.therapy.profile_text import multi_line_text, single_line_text
from tpdevice.therapy.records import Checks

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

__all__ = [
    "CapForceN",
    "CapFreqHz",
    "Cycles",
    "DurationS",
    "ForceN",
    "FreqHz",
    "LongText",
    "ProfileId",
    "RampNPerS",
    "Range",
    "RecoveryH",
    "RestFreqHz",
    "Text",
    "WorkS",
    "fmt_num",
]


def fmt_num(value: float) -> str:
    """A number as a person writes it: 30.0 -> '30', 2.5 -> '2.5'."""
    return f"{value:g}" if isinstance(value, float) else str(value)


class Range:
    """An inclusive range with a unit (0 may also mean 'off'), as pydantic metadata."""

    def __init__(self, low: float, high: float, unit: str, *, zero_ok: bool = False) -> None:
        self.low, self.high, self.unit, self.zero_ok = low, high, unit, zero_ok

    def text(self) -> str:
        """The allowed values, e.g. '0 or 10..60 Hz'."""
        span = f"{fmt_num(self.low)}..{fmt_num(self.high)}"
        span = f"0 or {span}" if self.zero_ok else span
        return f"{span} {self.unit}".rstrip()

    def check(self, value: float) -> float:
        """The value itself when allowed; a custom pydantic error naming the range otherwise."""
        if (self.zero_ok and value == 0) or self.low <= value <= self.high:
            return value
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError(
            "out_of_range", "is outside the allowed range ({allowed})", {"allowed": self.text()}
        )

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(minimum=0 if self.zero_ok else self.low, maximum=self.high)
        if self.zero_ok:
            json_schema["description"] = f"{self.text()} (0 = motor off)"
        return json_schema


def _strict_range(low: float, high: float, unit: str, *, zero_ok: bool = False) -> Checks:
    span = Range(low, high, unit, zero_ok=zero_ok)
    return Checks(lambda pydantic: (pydantic.Strict(), span))


def _motor_off(value: float) -> float:
    if value != 0:
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError(
            "rest_freq", "is not allowed: a rest step keeps the motor off (allowed 0 Hz)"
        )
    return value


FreqHz = Annotated[float, _strict_range(10, 60, "Hz", zero_ok=True)]
CapFreqHz = Annotated[float, _strict_range(10, 60, "Hz")]
ForceN = Annotated[float, _strict_range(0, 150, "N")]
CapForceN = Annotated[float, _strict_range(1, 150, "N")]
RampNPerS = Annotated[float, _strict_range(0, 150, "N/s")]
DurationS = Annotated[float, _strict_range(1, 600, "s")]
WorkS = Annotated[float, _strict_range(1, 3600, "s")]
RecoveryH = Annotated[float, _strict_range(0, 168, "h")]
Cycles = Annotated[int, _strict_range(1, 6, "")]
Text = Annotated[
    str,
    Checks(
        lambda pydantic: (
            pydantic.Strict(),
            pydantic.Field(min_length=1, max_length=2000),
            pydantic.AfterValidator(single_line_text),
        )
    ),
]
LongText = Annotated[
    str, Checks(lambda pydantic: (pydantic.Strict(), pydantic.AfterValidator(multi_line_text)))
]
ProfileId = Annotated[
    str,
    Checks(
        lambda pydantic: (
            pydantic.Strict(),
            pydantic.Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$"),
        )
    ),
]
RestFreqHz = Annotated[
    float,
    Checks(
        lambda pydantic: (
            pydantic.Strict(),
            pydantic.AfterValidator(_motor_off),
            pydantic.Field(ge=0, le=0),
        )
    ),
]
