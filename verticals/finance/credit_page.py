"""Credit scoring's own dashboard section: an applicant what-if form and PSI by month."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.kinds.tabular_predictor import decision_settings
from core.monitor import EPSILON, PSI_FLAG
from core.ood import describe, out_of_range

if TYPE_CHECKING:
    from core.fields import Field
    from core.page import PageContext

APPLICANT_CHOICES = 500
DEFAULT_CUTOFF, DEFAULT_DECISIONS = 0.5, ("approve", "decline")
RED, GREEN, GREY = "#cf222e", "#2da44e", "#9aa4b2"


def render(ctx: PageContext) -> None:
    """The section the credit-scoring TASK names as `page=`."""
    st.header(":material/calculate: Applicant what-if")
    if ctx.champion is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` first.")
        return
    what_if(ctx)
    st.header(":material/calendar_month: PSI by application month")
    psi_by_month(ctx)


# --- what-if --------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _prefill(field: Field, value: Any) -> Any:
    """The widget's starting value for a stored value (missing ones get a neutral default)."""
    if field.kind == "category":
        return value if value in field.choices else field.choices[0]
    if field.kind == "boolean":
        return False if _missing(value) else bool(value)
    if field.kind == "integer":
        return int(field.low or 0) if _missing(value) else int(value)
    if field.kind == "number":
        return float(field.low or 0.0) if _missing(value) else float(value)
    if field.kind == "date":
        return date.today() if _missing(value) else pd.Timestamp(value).date()
    return "" if _missing(value) else str(value)


def _widget(field: Field, start: Any, key: str, slot: Any) -> Any:
    """One input for a schema field: isin -> selectbox, ranges -> bounded number inputs."""
    if field.kind == "category":
        choices = list(field.choices)
        return slot.selectbox(field.name, choices, index=choices.index(start), key=key)
    if field.kind == "boolean":
        return slot.checkbox(field.name, value=start, key=key)
    if field.kind in ("integer", "number"):
        cast = int if field.kind == "integer" else float
        low = cast(field.low) if field.low is not None else None
        high = cast(field.high) if field.high is not None else None
        return slot.number_input(field.name, min_value=low, max_value=high, value=start,
                                 step=cast(1) if field.kind == "integer" else None, key=key)
    if field.kind == "date":
        return slot.date_input(field.name, value=start, key=key)
    return slot.text_input(field.name, value=start, key=key)


def _with_values(row: pd.DataFrame, values: dict[str, Any]) -> pd.DataFrame:
    """The applicant's row with the form's values, keeping each column's dtype."""
    edited = row.copy()
    for name, value in values.items():
        if isinstance(value, date) and not isinstance(value, datetime):
            value = pd.Timestamp(value)
        edited[name] = pd.Series([value], index=edited.index).astype(row[name].dtype)
    return edited


def score_applicant(ctx: PageContext, row: pd.DataFrame) -> dict[str, Any]:
    """PD, decision, top reasons and, for a scorecard champion, its points (else None) of one
    applicant from the champion predictor."""
    ledger = ctx.predictor().predict(ctx.task.feature_frame(row))
    return _scored(ledger.iloc[0])


def stored_score(ctx: PageContext, key: Any) -> dict[str, Any] | None:
    """What `score_applicant` gives for the stored application, as `score` wrote it to the
    ledger with the champion; None when the champion has not scored this applicant yet.
    Read first, so the page shows a stored applicant without loading the model."""
    # The champion's own rows of this applicant: an index lookup (version, entity), not a
    # search of every version's ledger.
    rows = ctx.query("step_predictions", ctx.champion.id, str(key), limit=1)
    return None if rows.empty else _scored(rows.iloc[-1])


def _scored(first: pd.Series) -> dict[str, Any]:
    """A ledger row's PD, decision, reasons and (a scorecard's) points."""
    payload = _json(first["payload"]) or {}
    points = payload.get("points") if isinstance(payload, dict) else None
    if not isinstance(points, int | float) or not math.isfinite(points):
        points = None  # a LightGBM or blend champion writes no points: a null payload
    return {"pd": float(first["score"]), "label": first["label"], "points": points,
            "reasons": _json(first["reasons"]) or []}


def _json(text: Any) -> Any:
    """A ledger JSON column's value parsed; None for a null one (None, NaN or NA)."""
    return json.loads(text) if isinstance(text, str) and text else None


def _reasons_figure(reasons: list[dict[str, Any]]) -> go.Figure:
    labels = [f"{r.get('feature')} = {r.get('value')}" for r in reasons][::-1]
    effects = [float(r.get("effect") or 0) for r in reasons][::-1]
    fig = go.Figure(go.Bar(x=effects, y=labels, orientation="h",
                           marker_color=[RED if e > 0 else GREEN for e in effects],
                           hovertemplate="%{y}: %{x:+.3f}<extra></extra>"))
    fig.update_layout(height=60 + 40 * len(labels), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      template="plotly_white", xaxis_title="effect on the PD (log-odds)")
    return fig


def what_if(ctx: PageContext) -> None:
    """Pick an applicant, change fields, and watch the PD, points, reasons and decision."""
    id_column, labels = ctx.task.kind.entity, ctx.task.kind.label_columns
    keys = ctx.input_query("distinct_keys", id_column, APPLICANT_CHOICES)
    if not keys:
        st.info(f"No applicants stored: run `verticals ingest {ctx.task.name}` first.")
        return
    # The picker lists the first ids; the search reaches every stored applicant (an indexed
    # lookup on the id, then ids starting with the text).
    wanted = st.text_input("Find an applicant by id", key="credit-find",
                           placeholder="an id or its beginning, e.g. APP-0000501")
    if wanted.strip():
        keys = ctx.input_query("find_keys", id_column, wanted)
        if not keys:
            st.warning(f"No stored applicant id is or starts with {wanted.strip()!r}.")
            return
    key = st.selectbox("Start from applicant", keys, key="credit-applicant",
                       help="the form is prefilled with this stored application ("
                            + ("ids matching the search" if wanted.strip()
                               else f"first {APPLICANT_CHOICES} ids; search for any other")
                            + ")")
    original = ctx.row(key)
    if original.empty:
        st.warning(f"Applicant {key!r} is no longer in the store; pick another.")
        return
    fields = [f for f in ctx.fields() if f.name != id_column and f.name not in labels]
    starts = {f.name: _prefill(f, original[f.name].iloc[0]) for f in fields}
    values: dict[str, Any] = {}
    with st.expander("Application fields", expanded=True):
        columns = st.columns(4)
        for i, field in enumerate(fields):
            # Keys carry the applicant so picking another one refills the form.
            values[field.name] = _widget(field, starts[field.name], f"credit-{key}-{field.name}",
                                         columns[i % 4])
        # The version's record names the features its model reads (no model load).
        read = ctx.champion.params.get("features", [])
        unread = [c for c in ctx.task.protected.excluded if c not in read]
        if unread:
            st.caption(f"{', '.join(unread)} are protected attributes: the model does not read "
                       "them, so changing them leaves the PD as it is.")
    # Only fields the user touched are written back: untouched missing values stay missing.
    changed = [name for name, value in values.items() if value != starts[name]]
    edited = _with_values(original, {name: values[name] for name in changed})
    # The model is loaded when a field changes (or the applicant was never scored): until then
    # the ledger already holds what it would say.
    stored = None if changed else stored_score(ctx, key)
    before = stored if stored is not None else score_applicant(ctx, original)
    after = score_applicant(ctx, edited) if changed else before

    # The champion's own cut-off and decision words (they labelled the stored predictions);
    # a champion of another predictor type starts from credit's defaults.
    start, (below, above) = (decision_settings(ctx.champion.params, ctx.predictor)
                             or (DEFAULT_CUTOFF, DEFAULT_DECISIONS))
    cutoff = st.slider(f"Cut-off PD ({above} at or above)", 0.0, 1.0, float(start), 0.01,
                       key="credit-cutoff")
    decision = above if after["pd"] >= cutoff else below
    # Points only exist for a scorecard champion (a LightGBM or blend payload carries none).
    points = after["points"]
    slots = iter(st.columns(3 if points is not None else 2))
    next(slots).metric("PD", f"{after['pd']:.2%}", border=True,
                       delta=f"{after['pd'] - before['pd']:+.2%}" if changed else None,
                       delta_color="inverse", help="probability of default from the champion")
    if points is not None:
        moved = before["points"] is not None and changed
        next(slots).metric("Score points", f"{points:.0f}", border=True,
                           delta=f"{points - before['points']:+.0f}" if moved else None,
                           help="scorecard points (higher is safer), from the model's payload")
    next(slots).metric("Decision", decision, border=True,
                       help=f"{above} when the PD is at or above the cut-off {cutoff:.2f}")
    st.caption(
        f"Champion {ctx.champion.model} v{ctx.champion.version} scoring applicant {key}"
        + (f" with {', '.join(changed)} changed (delta vs the stored application)." if changed
           else " as stored; change a field to see its effect.")
    )
    # Scored all the same, but said: a PD outside the training data is an extrapolation.
    outliers = out_of_range(ctx.reference(), ctx.task.feature_frame(edited))
    if not outliers.empty:
        st.warning("Outside the champion's training data, so this PD is an extrapolation: "
                   + "; ".join(describe(outliers)) + ".", icon=":material/warning:")
    if after["reasons"]:
        st.markdown("**Top reasons**")
        st.plotly_chart(_reasons_figure(after["reasons"]), key="credit-reasons")


# --- PSI by month ---------------------------------------------------------------------------


def psi_from_counts(expected: list[float], counts: np.ndarray) -> float:
    """PSI of observed bucket counts against reference proportions (core.monitor's smoothing)."""
    total = counts.sum()
    if total == 0:
        return float("nan")
    e = np.maximum(np.asarray(expected, dtype=float), EPSILON)
    a = np.maximum(counts / total, EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def _bucket_counts(entry: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """Counts in the reference's bucket order from one month's (value, rows) rows."""
    if entry["kind"] == "numeric":
        counts = np.zeros(len(entry["edges"]) + 2)
        for value, rows in zip(frame["value"], frame["rows"], strict=True):
            counts[int(value)] += rows
        return counts
    categories = list(entry["categories"])
    counts = np.zeros(len(categories) + 2)  # ..., other, missing (core.monitor's layout)
    for value, rows in zip(frame["value"], frame["rows"], strict=True):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            counts[-1] += rows
        elif str(value) in categories:
            counts[categories.index(str(value))] += rows
        else:
            counts[-2] += rows
    return counts


def monthly_psi(ctx: PageContext, date_column: str) -> tuple[pd.DataFrame, list[str]]:
    """PSI per (month, feature) for profiled features stored in the input table; and the
    profiled features that are derived (not stored), which SQL cannot count."""
    reference = ctx.reference()
    stored = set(ctx.table.c.keys())
    rows, derived = [], []
    for feature, entry in reference.items():
        if feature not in stored:
            derived.append(feature)
            continue
        # Counted per scored batch by `score` (core.store.summaries), else from the table.
        counts = ctx.input_query("monthly_profile", ctx.task.name, ctx.champion.id,
                                 date_column, feature, entry)
        for month, part in counts.groupby("month"):
            bucketed = _bucket_counts(entry, part)
            rows.append({"month": month, "feature": feature, "rows": int(bucketed.sum()),
                         "psi": psi_from_counts(entry["proportions"], bucketed)})
    return pd.DataFrame(rows, columns=["month", "feature", "rows", "psi"]), derived


def _heatmap(frame: pd.DataFrame) -> go.Figure:
    grid = frame.pivot_table(index="feature", columns="month", values="psi", aggfunc="max")
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=list(grid.columns), y=list(grid.index), zmin=0,
        zmax=max(0.3, float(np.nanmax(grid.to_numpy()))),
        colorscale=[[0, "#f6f8fa"], [0.22, "#ffe8a3"], [0.66, "#d29922"], [1, RED]],
        colorbar={"title": "PSI"}, hovertemplate="%{y} in %{x}: PSI %{z:.3f}<extra></extra>"))
    fig.update_layout(height=max(300, 22 * len(grid.index) + 90), template="plotly_white",
                      margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_type="category")
    return fig


def psi_by_month(ctx: PageContext) -> None:
    """Each application month's distribution of every feature vs the champion's reference."""
    dates = [f.name for f in ctx.fields() if f.kind == "date"]
    if not dates:
        st.info("The schema has no date column to group applications by month.")
        return
    if not ctx.reference():
        st.info(f"Champion v{ctx.champion.version} has no reference profile; retrain to get one.")
        return
    frame, derived = monthly_psi(ctx, dates[0])
    if frame.empty:
        st.info("No stored applications to compare yet.")
        return
    st.plotly_chart(_heatmap(frame), key="credit-psi-month")
    months = frame.groupby("month")["rows"].max()
    st.caption(
        f"PSI of each feature's distribution among applications of each `{dates[0]}` month "
        f"(counted in SQL) against the training reference of champion v{ctx.champion.version}; "
        f"{PSI_FLAG} and above is a material shift. Months hold {months.min():,}–{months.max():,} "
        "applications; small months are noisy."
        + (f" Derived features not stored in the table are left out: {', '.join(derived)}."
           if derived else "")
    )
    flagged = frame[frame["psi"] >= PSI_FLAG].sort_values("psi", ascending=False)
    if not flagged.empty:
        st.dataframe(flagged, hide_index=True, height=200,
                     column_config={"psi": st.column_config.NumberColumn(format="%.3f")})

