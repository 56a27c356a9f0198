"""Form and filter fields read from a Task's pandera schema (allowed values, ranges, dtypes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandera.dtypes as pdt

FieldKind = Literal["category", "integer", "number", "date", "boolean", "text"]


@dataclass(frozen=True)
class Field:
    """One schema column as a widget sees it."""

    name: str
    kind: FieldKind
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    nullable: bool = False


def _kind(dtype: Any, choices: tuple[Any, ...]) -> FieldKind:
    if choices:
        return "category"
    if pdt.is_bool(dtype):
        return "boolean"
    if pdt.is_int(dtype) or pdt.is_uint(dtype):
        return "integer"
    if pdt.is_float(dtype):
        return "number"
    if pdt.is_datetime(dtype) or isinstance(dtype, pdt.Date):
        return "date"
    # A category dtype without declared categories is free text to a widget.
    return "text"


def schema_fields(schema: Any) -> list[Field]:
    """Fields of a pandera DataFrameSchema: `isin` -> choices, range checks -> low/high."""
    fields = []
    for name, column in schema.columns.items():
        choices: tuple[Any, ...] = ()
        low: float | None = None
        high: float | None = None
        for check in column.checks:
            stats = check.statistics or {}
            if check.name in ("isin", "is_in"):
                choices = tuple(stats.get("allowed_values", ()))
            if "min_value" in stats and check.name != "less_than_or_equal_to":
                low = stats["min_value"] if low is None else max(low, stats["min_value"])
            if "max_value" in stats and check.name != "greater_than_or_equal_to":
                high = stats["max_value"] if high is None else min(high, stats["max_value"])
        if not choices:
            categories = getattr(getattr(column.dtype, "type", None), "categories", None)
            if categories is not None:
                choices = tuple(categories)
        fields.append(Field(name, _kind(column.dtype, choices), choices, low, high,
                            bool(column.nullable)))
    return fields
