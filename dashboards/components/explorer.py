"""Data explorer: schema-driven filters, counts and histograms computed in SQL, a capped sample."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core import images
from core.fields import Field
from core.page import PageContext
from dashboards.components import charts
from dashboards.components.tiles import Tile, count_tile, tiles

SAMPLE_ROWS = 200
BINS = 20
THUMBNAILS = 24  # image cells shown per page of the sample
THUMBNAIL_COLUMNS = 6
THUMBNAIL_PX = 96
IMAGE_PROBE = 5  # sample cells that must all decode for a text column to be an image column


def image_columns(fields: list[Field], sample: pd.DataFrame) -> list[str]:
    """Text columns whose cells are stored images (core.images): told by their content, as the
    schema types them as plain text; the first IMAGE_PROBE non-empty cells must all decode."""
    found = []
    for field in fields:
        if field.kind != "text" or field.name not in sample:
            continue
        cells = sample[field.name].dropna().head(IMAGE_PROBE)
        if len(cells) and all(images.is_valid(cell) for cell in cells):
            found.append(field.name)
    return found


def is_identifier(counts: pd.DataFrame) -> bool:
    """Whether category_counts (most frequent first) says every value is distinct: a bar
    chart of it would be bars of height 1."""
    return len(counts) > 1 and int(counts["rows"].max()) == 1


def thumbnails(ctx: PageContext, sample: pd.DataFrame, columns: list[str]) -> None:
    """A page of the sample's image cells as a grid of thumbnails, captioned by entity."""
    entity = ctx.task.kind.entity
    pages = max(1, -(-len(sample) // THUMBNAILS))
    page = st.number_input(f"Images page (of {pages})", 1, pages, 1,
                           key=f"{ctx.task.slug}-thumbs-page") if pages > 1 else 1
    shown = sample.iloc[(int(page) - 1) * THUMBNAILS:int(page) * THUMBNAILS]
    for column in columns:
        st.markdown(f"**{column}** — {len(shown)} of the sample's images")
        cells = [(row[entity] if entity in shown else i, row[column])
                 for i, row in shown.iterrows() if isinstance(row[column], str)]
        for start in range(0, len(cells), THUMBNAIL_COLUMNS):
            slots = st.columns(THUMBNAIL_COLUMNS)
            for slot, (key, cell) in zip(slots, cells[start:start + THUMBNAIL_COLUMNS],
                                         strict=False):
                slot.image(images.png_bytes(cell), caption=str(key), width=THUMBNAIL_PX)


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

    # Image cells are looked at, not counted: thumbnails below, no filter, no bar chart.
    sample = ctx.input_query("sample_rows", None, IMAGE_PROBE)
    pictures = image_columns(fields, sample)
    fields = [f for f in fields if f.name not in pictures]
    filters = _filters(ctx, fields)
    total = ctx.input_query("count_rows")
    # Unfiltered, the two tiles are one count: a scan of the table at a million rows, done once.
    matching = ctx.input_query("count_rows", filters) if filters else total
    shown = [count_tile("Rows matching", matching, "input rows that pass the filters"),
             count_tile("Rows stored", total, f"all rows in table {ctx.table.name}")]
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
        if is_identifier(frame):
            rate = None  # no group to average over
            st.info(f"Every matching row has its own {name}: it identifies rows, so there are "
                    "no groups to chart. Look a row up in the sample below.",
                    icon=":material/fingerprint:")
        else:
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
    rows = ctx.input_query("sample_rows", filters, SAMPLE_ROWS)
    st.dataframe(rows.drop(columns=pictures), hide_index=True, height=300)
    if pictures:
        st.caption(f"{', '.join(pictures)}: image cells, shown as thumbnails instead of text.")
        thumbnails(ctx, rows, pictures)
