"""A row of metric tiles (st.metric in columns), each with an optional explanation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    help: str | None = None


def tiles(items: Sequence[Tile], border: bool = True) -> None:
    """Tiles side by side; the help text is the tooltip that says what the number is."""
    if not items:
        return
    for column, item in zip(st.columns(len(items)), items, strict=True):
        column.metric(item.label, item.value, help=item.help, border=border)
