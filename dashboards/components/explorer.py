"""Data explorer: schema-driven filters, counts and histograms computed in SQL, a capped sample."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from core.fields import Field
from core.page import PageContext
from dashboards.components import charts
from dashboards.components.formats import count
from dashboards.components.tiles import Tile, tiles

SAMPLE_ROWS = 200
BINS = 20


def _edges(low: float, high: float, integer: bool) -> list[float]:
    if high <= low:
        return [low, low + 1.0]
    if integer and high - low + 1 <= BINS:
        # One bar per integer value instead of bins that straddle two of them.
        return [v - 0.5 for v in np.arange(low, high + 2)]
    return [float(v) for v in np.linspace(low, high, BINS + 1)]


def _filters(ctx: PageContext, fields: list[Field]) -> dict[str, Any]:
    key = ctx.task.slug
    filterable = [f.name for f in fields if f.kind != "date"]
    chosen = st.multiselect("Filter by", filterable, key=f"{key}-filter-by",
                            placeholder="pick columns to filter on")
    by_name = {f.name: f for f in fields}
    filters: dict[str, Any] = {}
    columns = st.columns(3) if chosen else []
    for i, name in enumerate(chosen):
        field, slot = by_name[name], columns[i % 3]
        if field.kind in ("category", "boolean", "text"):
            # Free text is filtered on its most frequent values (capped in SQL).
            present = ctx.input_query("category_counts", name)["value"].dropna().tolist()
            picked = slot.multiselect(name, present, default=present, key=f"{key}-f-{name}")
            if picked != present:
                filters[name] = list(picked)
        else:
            span = ctx.input_query("numeric_range", name)
            if span is None or span[0] == span[1]:
                slot.caption(f"{name}: a single value, nothing to filter")
                continue
            if field.kind == "integer":
                span = (int(span[0]), int(span[1]))
            low, high = slot.slider(name, span[0], span[1], span, key=f"{key}-f-{name}")
            if (low, high) != span:
                filters[name] = (float(low), float(high))
    return filters


def data_explorer(ctx: PageContext) -> None:
    """The Data tab: filter the Task's input rows and look at one column at a time."""
    if not ctx.has_input():
        st.info(f"No input rows yet: run `verticals ingest {ctx.task.name}` (or `verticals demo`).",
                icon=":material/upload_file:")
        return
    kind = ctx.task.kind
    # An entity that is one row (an application id) is unique per row: nothing to filter or
    # chart. An entity of many rows (a series) and its step (a date) are kept: a useful filter,
    # a monthly chart.
    row_id = kind.entity if kind.step_column is None else None
    fields = [f for f in ctx.fields() if f.name != row_id]
    # The first label is the outcome `train` learns: the one the rate tile and lines show.
    target = kind.label_columns[0] if kind.label_columns else None
    target_field = next((f for f in fields if f.name == target), None)
    # A 0/1 target declared with isin([0, 1]) is a category to a form but a rate to a chart;
    # any other numeric target (a price, a flow) is shown by its mean, never as a percentage.
    binary_target = target_field is not None and (
        target_field.kind == "boolean"
        or (bool(target_field.choices) and set(target_field.choices) <= {0, 1}))
    numeric_target = target_field is not None and (
        binary_target or target_field.kind in ("integer", "number"))
    rate_of = target if numeric_target else None

    filters = _filters(ctx, fields)
    matching = ctx.input_query("count_rows", filters)
    total = ctx.input_query("count_rows")
    shown = [Tile("Rows matching", count(matching), "input rows that pass the filters"),
             Tile("Rows stored", count(total), f"all rows in table {ctx.table.name}")]
    if rate_of:
        mean = ctx.input_query("column_mean", rate_of, filters)
        if mean is not None and binary_target:
            shown.append(Tile(f"Mean {rate_of}", f"{mean:.1%}",
                              f"share of matching labelled rows with {rate_of} = 1"))
        elif mean is not None:
            shown.append(Tile(f"Mean {rate_of}", f"{mean:,.4g}",
                              f"mean {rate_of} over the matching rows that have one"))
    tiles(shown)

    name = st.selectbox("Column", [f.name for f in fields], key=f"{ctx.task.slug}-column")
    field = next(f for f in fields if f.name == name)
    rate = rate_of if name != rate_of else None
    line = "target rate" if binary_target else f"mean {rate_of}"
    if field.kind in ("category", "boolean", "text"):
        frame = ctx.input_query("category_counts", name, filters, rate)
        st.plotly_chart(charts.counts_chart(frame, "value", name, line_name=line),
                        key=f"{ctx.task.slug}-counts")
    elif field.kind == "date":
        frame = ctx.input_query("monthly_counts", name, filters, rate)
        st.plotly_chart(charts.counts_chart(frame, "month", f"{name} (month)", line_name=line),
                        key=f"{ctx.task.slug}-months")
    else:
        span = ctx.input_query("numeric_range", name)
        if span is not None:
            edges = _edges(span[0], span[1], field.kind == "integer")
            frame = ctx.input_query("numeric_histogram", name, edges, filters, rate)
            frame["value"] = [f"{lo:.4g}–{hi:.4g}" for lo, hi in zip(frame["low"], frame["high"],
                                                                       strict=True)]
            st.plotly_chart(charts.counts_chart(frame, "value", name, line_name=line),
                            key=f"{ctx.task.slug}-hist")
    if rate:
        meaning = "the observed target rate" if binary_target else "its average"
        st.caption(f"Bars: rows per {name} among the matching rows; line: mean {rate} "
                   f"({meaning}) in each group.")

    st.markdown(f"**Sample** — first {SAMPLE_ROWS} matching rows")
    st.dataframe(ctx.input_query("sample_rows", filters, SAMPLE_ROWS), hide_index=True,
                 height=300)
