"""A row of metric tiles (st.metric in columns), each saying what its number is, on which rows
and which way is good."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from dashboards.components.formats import (
    better,
    compact_count,
    count,
    metric_display,
    metric_name,
)


@dataclass(frozen=True)
class Tile:
    """One number: `help` says what it is, `rows` which rows it was computed on, `better`
    ("higher" or "lower") which way is good; the three make the tooltip."""

    label: str
    value: str
    help: str | None = None
    rows: str | None = None
    better: str | None = None

    @property
    def tooltip(self) -> str | None:
        parts = [self.help.rstrip(".") + "." if self.help else None,
                 f"On {self.rows}." if self.rows else None,
                 f"{self.better.capitalize()} is better." if self.better else None]
        text = " ".join(p for p in parts if p)
        return text or None


def count_tile(label: str, value: int | float | None, help: str | None = None) -> Tile:
    """A count that never overflows its tile: compact (1.0M) on the tile, exact in the help."""
    exact = count(value)
    shown = compact_count(value)
    note = f"Exactly {exact}." if shown != exact else None
    return Tile(label, shown, " ".join(p for p in (help and help.rstrip(".") + ".", note) if p)
                or None)


def metric_tile(name: str, value: float | None, rows: str,
                higher_is_better: bool | None = None, help: str | None = None) -> Tile:
    """A model metric in its unit, its name, the rows it was measured on and which way is good
    (`higher_is_better` for the Kind's primary metric; the known direction otherwise)."""
    return Tile(metric_name(name), metric_display(name, value), help or metric_name(name),
                rows=rows, better=better(name, higher_is_better))


def tiles(items: Sequence[Tile], border: bool = True) -> None:
    """Tiles side by side; the tooltip says what the number is."""
    if not items:
        return
    for column, item in zip(st.columns(len(items)), items, strict=True):
        column.metric(item.label, item.value, help=item.tooltip, border=border)
