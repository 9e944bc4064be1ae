"""Records: plain dataclasses that pydantic validates, dumps to JSON text and describes.

Using one (making it, reading it, dumping it to a dict) needs no pydantic: a session runs
without loading it. Pydantic is imported when a record is first validated, written as JSON
text or described as JSON Schema.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, TypeAdapter
    from pydantic_core import CoreSchema

__all__ = ["Checks", "Record"]


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


class Record:
    """A dataclass that pydantic validates (unknown fields refused), dumps and describes.

    Its dataclasses are declared with eq=False and repr=False: equality, hash and repr are
    the ones here, for every record, instead of three methods compiled for each class (a
    tenth of the time a session takes to start).
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return vars(self) == vars(other)

    def __hash__(self) -> int:
        if not self.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            raise TypeError(f"unhashable type: {type(self).__name__!r}")
        return hash((self.__class__, *vars(self).values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{self.__class__.__qualname__}({fields})"

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
        """The fields as a dict, records inside too; mode="json": JSON values only (as
        pydantic dumps them: enums as values, tuples as lists)."""
        as_json = mode == "json"
        return {
            name: _dumped(value, as_json, exclude_none)
            for name, value in vars(self).items()
            if not (exclude_none and value is None)
        }

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


def _dumped(value: Any, as_json: bool, exclude_none: bool) -> Any:
    if isinstance(value, Record):
        return value.model_dump(mode="json" if as_json else "python", exclude_none=exclude_none)
    if isinstance(value, enum.Enum):
        return value.value if as_json else value
    if isinstance(value, tuple | list):
        items = [_dumped(item, as_json, exclude_none) for item in value]
        return items if as_json or isinstance(value, list) else tuple(items)
    return value


_ADAPTERS: dict[type[Record], TypeAdapter[Any]] = {}


def _adapter(cls: type[Record]) -> TypeAdapter[Any]:
    """The record class's pydantic adapter, built on first use."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter
