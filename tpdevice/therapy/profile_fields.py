"""What profile records are made of: plain frozen dataclasses, and field types carrying the
checks pydantic applies when it validates them. Pydantic is imported when a profile is first
validated, dumped or described, never to use one: a session starts without it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from tpdevice.therapy.profile_text import multi_line_text, single_line_text

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, TypeAdapter
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

__all__ = [
    "CapForceN",
    "CapFreqHz",
    "Checks",
    "Cycles",
    "DurationS",
    "ForceN",
    "FreqHz",
    "LongText",
    "ProfileId",
    "RampNPerS",
    "Range",
    "Record",
    "RecoveryH",
    "RestFreqHz",
    "Text",
    "WorkS",
    "fmt_num",
]


def fmt_num(value: float) -> str:
    """A number as a person writes it: 30.0 -> '30', 2.5 -> '2.5'."""
    return f"{value:g}" if isinstance(value, float) else str(value)


class Checks:
    """Pydantic metadata of a field type, made from the pydantic module on first validation."""

    def __init__(self, make: Callable[[ModuleType], tuple[object, ...]]) -> None:
        self._make = make

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        import pydantic

        annotated: Any = Annotated  # subscripted at run time with metadata made just now
        return handler.generate_schema(annotated[(source, *self._make(pydantic))])


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


class Record:
    """A profile record: a frozen dataclass that pydantic validates, dumps and describes."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    @classmethod
    def model_validate(cls, data: Any, *, context: dict[str, Any] | None = None) -> Self:
        """The record in `data` (mappings and lists as YAML gives them); ValidationError else."""
        record: Self = _adapter(cls).validate_python(data, context=context)
        return record

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> Self:
        """The record in JSON text; pydantic's ValidationError otherwise."""
        record: Self = _adapter(cls).validate_json(text)
        return record

    def model_dump(
        self, *, mode: Literal["json", "python"] = "python", exclude_none: bool = False
    ) -> dict[str, Any]:
        """The fields as a dict (mode="json": JSON values only)."""
        adapter = _adapter(type(self))
        dumped: dict[str, Any] = adapter.dump_python(self, mode=mode, exclude_none=exclude_none)
        return dumped

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """The fields as JSON text."""
        dumped: bytes = _adapter(type(self)).dump_json(self, indent=indent)
        return dumped.decode()

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of the record."""
        schema: dict[str, Any] = _adapter(cls).json_schema()
        return schema

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A copy with the `update` fields replaced, not validated (as pydantic's)."""
        return dataclasses.replace(self, **(update or {}))  # type: ignore[type-var]

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the fields, in order."""
        return tuple(item.name for item in dataclasses.fields(cls))  # type: ignore[arg-type]


_ADAPTERS: dict[type[Record], TypeAdapter[Any]] = {}


def _adapter(cls: type[Record]) -> TypeAdapter[Any]:
    """The record class's pydantic adapter, built on first use."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter
