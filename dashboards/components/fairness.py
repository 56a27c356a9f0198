"""Fair lending: per protected group, approval rate, default rate, AUC and the adverse-impact
ratio against the four-fifths rule, for the champion's stored predictions (core.fairness)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import sqlalchemy as sa
import streamlit as st

from core.fairness import FOUR_FIFTHS, band_labels, report_from_counts
from core.kinds.base import PRIMARY_OUTPUT
from core.kinds.tabular import TabularClassification
from core.kinds.tabular_predictor import decision_settings
from core.page import PageContext
from core.store.schema import predictions
from dashboards.components.formats import count
from dashboards.components.on_demand import requested, scored_rows
from dashboards.context import QUERY_TTL_S, store_state

RED, GREEN = "#cf222e", "#2da44e"


def fairness_counts(
    engine: sa.Engine, table: sa.Table, *, task: str, model_version_id: int, entity: str,
    attribute: str, outcome: str, digits: int = 3,
) -> pd.DataFrame:
    """What core.fairness.report_from_counts needs of one attribute, counted in SQL (never the
    rows themselves): rows per (attribute value, decision label, stored outcome, PD rounded to
    `digits`) among a model version's primary predictions joined to their input rows.
    Columns: value, label, outcome, score, rows."""
    key = table.c[entity]
    joined = predictions.join(table, predictions.c.entity_key == (
        key if isinstance(key.type, sa.String) else sa.cast(key, sa.String)))
    # PostgreSQL rounds only numerics (round(double, int) does not exist there)
    score = sa.cast(sa.func.round(sa.cast(predictions.c.score, sa.Numeric), digits), sa.Float)
    columns = [table.c[attribute].label("value"), predictions.c.label.label("label"),
               table.c[outcome].label("outcome"), score.label("score")]
    statement = (
        sa.select(*columns, sa.func.count().label("rows")).select_from(joined)
        .where(predictions.c.task == task,
               predictions.c.model_version_id == model_version_id,
               predictions.c.output == PRIMARY_OUTPUT)
        .group_by(*columns[:3], score))
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(statement).mappings().all(),
                            columns=["value", "label", "outcome", "score", "rows"])


@st.cache_data(ttl=QUERY_TTL_S, show_spinner="Counting decisions per group…")
def _counts(url: str, state: tuple[str, ...], task: str, model_version_id: int, entity: str,
            attribute: str, outcome: str, _engine: sa.Engine, _table: sa.Table) -> pd.DataFrame:
    """fairness_counts cached per store state (a new score or ingest run is a miss)."""
    return fairness_counts(_engine, _table, task=task, model_version_id=model_version_id,
                           entity=entity, attribute=attribute, outcome=outcome)


def fairness_report_for(ctx: PageContext, *, approve: str, positive: Any) -> pd.DataFrame:
    """The champion's fairness report over every stored prediction joined to its input row."""
    protected = ctx.task.protected
    outcome = ctx.task.kind.label_columns[0]
    counts = {a: _counts(ctx.url, store_state(ctx.url), ctx.task.name, ctx.champion.id,
                         ctx.task.kind.entity, a, outcome, _engine=ctx.engine, _table=ctx.table)
              for a in protected.columns}
    return report_from_counts(counts, approve=approve, positive=positive, bands=protected.bands)


def _ratio_figure(report: pd.DataFrame) -> go.Figure:
    labels = [f"{a}: {g}" for a, g in zip(report["attribute"], report["group"], strict=True)]
    ratios = report["adverse_impact_ratio"].to_numpy(dtype=float)
    fig = go.Figure(go.Bar(
        x=ratios, y=labels, orientation="h",
        marker_color=[RED if r < FOUR_FIFTHS else GREEN for r in ratios],
        hovertemplate="%{y}: adverse-impact ratio %{x:.2f}<extra></extra>"))
    fig.add_vline(x=FOUR_FIFTHS, line_dash="dash", line_color=RED,
                  annotation_text="four-fifths (0.80)", annotation_position="top")
    fig.update_layout(height=80 + 26 * len(labels), template="plotly_white",
                      margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis={"title": "approval rate ÷ most-favoured group's (higher is "
                                      "fairer; 1 = the most-favoured group)",
                             "range": [0, 1.05]},
                      yaxis={"autorange": "reversed"})
    return fig


def fairness_section(ctx: PageContext) -> None:
    """The fair-lending report of a Task that declares protected attributes: the champion at
    its own cut-off (the decision words and cut-off that labelled its stored predictions)."""
    protected, kind = ctx.task.protected, ctx.task.kind
    if not protected.columns:
        st.info(f"Task {ctx.task.name} declares no protected attributes (Task.protected).")
        return
    if ctx.champion is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` first.")
        return
    if not isinstance(kind, TabularClassification):
        st.info("The fairness report covers approve/decline classifiers (TabularClassification "
                "with a tabular champion).")
        return
    names = ", ".join(f"`{c}`" for c in protected.columns)
    # The version's record names the features its model reads: no model load for this check.
    read = [c for c in ctx.champion.params.get("features", []) if c in protected.columns]
    if read and not protected.use:
        st.error(f"Champion v{ctx.champion.version} reads protected attributes "
                 f"{', '.join(read)}: it was trained before the Task declared them. Retrain "
                 f"(`verticals train {ctx.task.name}`) so no decision rests on them.",
                 icon=":material/gavel:")
    elif protected.use:
        st.warning(f"The model reads the protected attributes {names} (the Task opted in): "
                   f"{protected.note}", icon=":material/gavel:")
    else:
        st.caption(f"Protected attributes {names} are kept with every application for this "
                   "report; no model reads them, so they are never a reason for a decision.")
    if not requested(ctx, f"{ctx.task.slug}-fairness-run", "the fair-lending report",
                     scored_rows(ctx)):
        return
    settings = decision_settings(ctx.champion.params, ctx.predictor)
    if settings is None:
        st.info("The fairness report covers approve/decline classifiers with a tabular "
                "champion.")
        return
    cutoff, (approve, decline) = settings
    positive = kind.positive
    report = fairness_report_for(ctx, approve=approve, positive=positive)
    if report.empty:
        st.info(f"No scored applications of champion v{ctx.champion.version} yet: run "
                f"`verticals score {ctx.task.name}`.")
        return
    flagged = report[report["below_four_fifths"]]
    if flagged.empty:
        st.success("Every group is approved at four-fifths or more of its most-favoured "
                   "group's rate.", icon=":material/check_circle:")
    else:
        st.warning(f"{len(flagged)} group(s) below the four-fifths rule: " + ", ".join(
            f"{a} {g} ({r:.2f})" for a, g, r in zip(
                flagged["attribute"], flagged["group"], flagged["adverse_impact_ratio"],
                strict=True)), icon=":material/warning:")
    st.plotly_chart(_ratio_figure(report), key=f"{ctx.task.slug}-fairness-ratio")
    shown = report.rename(columns={
        "scored": "scored rows", "approval_rate": "approval rate",
        "adverse_impact_ratio": "adverse-impact ratio", "below_four_fifths": "below 4/5",
        "outcomes": "rows with outcome", "default_rate": "default rate", "auc": "AUC"})
    st.dataframe(shown, hide_index=True, column_config={
        "approval rate": st.column_config.NumberColumn(format="percent"),
        "default rate": st.column_config.NumberColumn(format="percent"),
        "adverse-impact ratio": st.column_config.NumberColumn(format="%.2f"),
        "AUC": st.column_config.NumberColumn(format="%.3f")}, key=f"{ctx.task.slug}-fairness")
    scored = int(report.groupby("attribute")["scored"].sum().max())
    known = int(report.groupby("attribute")["outcomes"].sum().max())
    bands = "; ".join(f"`{c}` in bands {', '.join(band_labels(e))}"
                      for c, e in protected.bands.items())
    st.caption(
        f"Champion v{ctx.champion.version} at its cut-off PD {cutoff:.2f} ({approve} below it, "
        f"{decline} at or above: the decisions stored with its predictions, not the what-if "
        f"slider). Approval rate: on all {count(scored)} scored applications. Default rate "
        f"and AUC (higher is better; of the PD, within the group): only on the "
        f"{count(known)} with a realised outcome (these include rows the champion was trained "
        "on, so its AUC reads optimistic); AUC from PDs rounded to 0.001, blank where a group "
        "lacks defaults or repayments. Adverse-impact ratio: the group's approval rate "
        f"÷ the highest approval rate among that attribute's groups; under {FOUR_FIFTHS:.2f} "
        "fails the four-fifths rule (small groups are noisy: read the row counts)."
        + (f" {bands}." if bands else ""))
