"""Predictions browser: score distribution from SQL, a paged ledger, one entity's reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.kinds.base import PRIMARY_OUTPUT
from core.ood import OUTLIER_COLUMNS, describe, out_of_range
from core.page import PageContext
from core.store.queries import ModelSummary
from dashboards.components import charts
from dashboards.components.formats import count, points, reasons, reasons_text
from dashboards.components.tiles import Tile, count_tile, tiles

PAGE_SIZE = 50
ORDERS = {"highest score": "score_desc", "lowest score": "score_asc", "entity": "entity",
          "newest": "newest"}


def _pick_version(ctx: PageContext, scored: list[int]) -> ModelSummary | None:
    models = {m.id: m for m in ctx.query("versions") if m.id in scored}
    if not models:
        return None
    ids = sorted(models, key=lambda i: models[i].version, reverse=True)
    default = ctx.champion.id if ctx.champion and ctx.champion.id in models else ids[0]
    chosen = st.selectbox(
        "Model version", ids, index=ids.index(default), key=f"{ctx.task.slug}-ledger-version",
        format_func=lambda i: f"v{models[i].version} {models[i].model}"
        + (" (champion)" if models[i].is_champion else ""),
    )
    return models[chosen]


def _pick_output(ctx: PageContext) -> str:
    """The output to browse: the primary one, or the one picked when the Kind has several."""
    outputs = list(ctx.task.kind.outputs)
    if len(outputs) < 2:
        return PRIMARY_OUTPUT
    return st.selectbox("Output", outputs, key=f"{ctx.task.slug}-ledger-output",
                        format_func=lambda o: "primary" if o == PRIMARY_OUTPUT else o,
                        help="which of the Kind's predictions per entity the tab shows")


def ledger_table(rows: pd.DataFrame) -> pd.DataFrame:
    """A page of the ledger as the browser shows it: readable reasons, scorecard points where
    the model wrote them (blank, never "None", where it did not), and only the columns that say
    something for this Kind (time, step and horizon when they vary)."""
    table = rows.assign(
        points=pd.array([points(p) for p in rows["payload"]], dtype="Int64"),
        **{"top reasons": [reasons_text(text) for text in rows["reasons"]]})
    varying = ("as_of", "step", "horizon")
    shown = [c for c in ("entity_key", "as_of", "step", "horizon", "score", "points", "label",
                         "lower", "upper", "batch", "top reasons")
             if c in table and table[c].notna().any()
             and (c not in varying or table[c].nunique() > 1)]
    return table[shown]


def _outside_training(ctx: PageContext, entity: str, version_id: int) -> pd.DataFrame:
    """The entity's stored input values outside the champion's training ranges (core.ood);
    empty when the prediction is another version's (the reference is the champion's) or the
    store keeps no input row for it."""
    if ctx.champion is None or version_id != ctx.champion.id or not ctx.has_input():
        return pd.DataFrame(columns=OUTLIER_COLUMNS)
    row = ctx.row(entity)
    if row.empty:
        return pd.DataFrame(columns=OUTLIER_COLUMNS)
    return out_of_range(ctx.reference(), ctx.task.feature_frame(row))


def predictions_browser(ctx: PageContext) -> None:
    """The Predictions tab."""
    scored = ctx.query("predicted_versions")
    model = _pick_version(ctx, scored)
    if model is None:
        st.info(f"No predictions yet: run `verticals score {ctx.task.name}`.",
                icon=":material/query_stats:")
        return
    output = _pick_output(ctx)
    # Widgets of another output start afresh (page 1); the primary output's keep short keys.
    key = f"{ctx.task.slug}-{model.id}" + (f"-{output}" if output != PRIMARY_OUTPUT else "")
    span = ctx.query("score_range", model.id, output=output)
    labels = ctx.query("label_counts", model.id, output=output)
    total = int(labels["rows"].sum())
    shown = [count_tile("Predictions", total, f"ledger rows of v{model.version}"
                  + (f", output {output}" if output != PRIMARY_OUTPUT else ""))]
    # Label shares and the label filter are for Kinds that store a decision per row; a
    # forecast's rows have none, and a "no label 100%" tile would say nothing.
    labelled = bool(labels["label"].notna().any())
    for _, row in labels.head(3 if labelled else 0).iterrows():
        share = row["rows"] / total if total else 0
        shown.append(Tile(f"{row['label'] or 'no label'}", f"{share:.1%}",
                          f"{count(row['rows'])} rows, mean score {row['mean_score']:.3f}"))
    tiles(shown)
    if span is not None:
        low, high = (0.0, 1.0) if 0 <= span[0] and span[1] <= 1 else span
        edges = [float(v) for v in np.linspace(low, high, 26)]
        frame = ctx.query("score_histogram", model.id, edges, output=output)
        st.plotly_chart(charts.bins_chart(frame, "score"), key=f"{key}-hist")
        st.caption("Score distribution of every prediction of this version"
                   + (", split by the label (decision) stored with it." if labelled else "."))

    left, middle, right = st.columns([2, 1, 1])
    order = left.selectbox("Order by", list(ORDERS), key=f"{key}-order")
    pages = max(1, -(-total // PAGE_SIZE))
    page = middle.number_input(f"Page (of {pages})", 1, pages, 1, key=f"{key}-page")
    label = (right.selectbox("Label", ["all", *[str(v) for v in labels["label"].dropna()]],
                             key=f"{key}-label") if labelled else "all")
    rows = ctx.query("prediction_page", model.id, page=int(page) - 1, size=PAGE_SIZE,
                     order=ORDERS[order], label=None if label == "all" else label,
                     output=output)
    st.dataframe(ledger_table(rows), hide_index=True, height=320,
                 column_config={"score": st.column_config.NumberColumn(format="%.4f")})

    entity = st.text_input("Look up one entity by its key", key=f"{key}-lookup",
                           placeholder="e.g. " + (str(rows["entity_key"].iloc[0])
                                                  if len(rows) else "an id"))
    if entity:
        found = ctx.query("predictions_for", entity.strip(), output=output)
        if found.empty:
            st.warning(f"No prediction for entity {entity!r} in task {ctx.task.name}.")
            return
        latest = found.iloc[0]
        shown = [Tile("Score", f"{latest['score']:.4f}", "the latest prediction for this entity")]
        scored = points(latest["payload"])
        if scored is not None:
            shown.append(Tile("Points", f"{scored:,}", "scorecard points (higher is safer)"))
        if isinstance(latest["label"], str):
            shown.append(Tile("Label", latest["label"], "decision stored with the prediction"))
        shown.append(Tile("Batch", str(latest["batch"]),
                          f"model version id {latest['model_version_id']}"))
        tiles(shown)
        outliers = _outside_training(ctx, entity.strip(), int(latest["model_version_id"]))
        if not outliers.empty:
            st.warning("Outside the champion's training data, so this score is an "
                       "extrapolation: " + "; ".join(describe(outliers)) + ".",
                       icon=":material/warning:")
        top = reasons(latest["reasons"], limit=10)
        if top:
            st.plotly_chart(charts.reasons_chart(top), key=f"{key}-reasons")
            st.caption("Top reasons: each feature's effect on this entity's score "
                       "(red pushes it up, green down).")
