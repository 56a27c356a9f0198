"""The overview page: every Task's champion, metric, freshness, drift flag and row counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from core.monitor import PSI_FLAG
from core.task import Task
from dashboards.components import charts
from dashboards.components.formats import (
    champion_sentence,
    count,
    metric_name,
    metric_rows,
    readable_columns,
    seconds,
    when,
)
from dashboards.components.model_card import champion_training, synthetic_words
from dashboards.components.tiles import Tile, count_tile, metric_tile, tiles
from dashboards.context import empty_store_message, make_context, store_ready, store_url


def _runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    shown = runs[["pipeline", "status", "started_at", "duration_s", "rows_in", "rows_out",
                  "rows_rejected"]].copy()
    shown["started_at"] = [when(t) for t in shown["started_at"]]
    shown["duration_s"] = [seconds(v) for v in shown["duration_s"]]
    for column in ("rows_in", "rows_out", "rows_rejected"):
        shown[column] = [count(v) if pd.notna(v) else "" for v in shown[column]]
    return readable_columns(shown.rename(columns={"duration_s": "duration"}))


def task_summary(task: Task, url: str, page: Any | None = None) -> None:
    """One Task's card: tiles, a caption that explains them, two small charts, last runs."""
    ctx = make_context(task, url)
    model = ctx.champion
    counts = ctx.query("row_counts", ctx.table.name)
    drift = ctx.query("latest_drift")
    drifted = drift[drift["psi"] >= PSI_FLAG]
    runs = ctx.query("last_runs")

    with st.container(border=True):
        head, link = st.columns([4, 1])
        head.subheader(task.title)
        head.caption(f"`{task.name}` · {task.description}")
        if page is not None:
            link.page_link(page, label="Open", icon=":material/arrow_forward:")
        if model is None:
            tiles([Tile("Champion", "none"), count_tile("Input rows", counts["input_rows"],
                                                        "rows in the Task's input table")])
            st.info(f"No model trained yet: run `verticals train {task.name}` "
                    "(or `verticals demo` for every Task).", icon=":material/model_training:")
            return
        tiles([
            Tile("Champion", f"v{model.version}", f"{model.model}: the version `score` uses"),
            metric_tile(model.primary_metric, model.primary_value, metric_rows(model),
                        task.kind.higher_is_better, "primary metric of the champion"),
            count_tile("Input rows", counts["input_rows"], "rows in the Task's input table"),
            count_tile("Predictions", counts["predictions"],
                       "rows in the ledger, all versions, the primary output"),
            count_tile("Quarantined", counts["quarantined"],
                       "rejections ingest recorded (a row breaking two rules counts twice)"),
            Tile("Drift flags", "n/a" if drift.empty else str(len(drifted)),
                 f"features with PSI >= {PSI_FLAG} in the last scored batch",
                 better="lower"),
        ])
        st.caption(champion_sentence(model))
        training = champion_training(ctx, period=False)
        synthetic = None if training is None else synthetic_words(model, training)
        if synthetic is not None:
            st.warning(f"**Synthetic data.** {synthetic}.", icon=":material/science:")
        left, right = st.columns(2)
        versions = ctx.query("versions")
        left.markdown(f"**{metric_name(model.primary_metric)} by model version**")
        left.plotly_chart(charts.leaderboard_chart(versions, height=220),
                          key=f"overview-{task.slug}-versions", config=charts.SMALL)
        right.markdown("**PSI per feature, last scored batch**")
        if drift.empty:
            right.caption(f"No drift report yet: run `verticals score {task.name}`.")
        else:
            right.plotly_chart(charts.psi_bars(drift, height=220),
                               key=f"overview-{task.slug}-psi", config=charts.SMALL)
        if runs.empty:
            st.caption("No pipeline runs recorded.")
        else:
            st.markdown("**Last run of each pipeline**")
            st.dataframe(_runs_table(runs), hide_index=True)


def render(registry: Mapping[str, Task], pages: Mapping[str, Any] | None = None,
           url: str | None = None) -> None:
    """Draw the overview of `registry`'s Tasks; `pages` maps Task names to their st.Page."""
    url = url or store_url()
    st.title("Verticals")
    st.caption("Every Task's champion model, how good it is, how fresh, and whether its inputs "
               "drift. Open a Task for its data, models, predictions and runs.")
    if not store_ready(url):
        empty_store_message(url)
        return
    if not registry:
        st.info("No Tasks are registered: declare one in the `verticals.tasks` entry-point "
                "group (pyproject.toml), then `pip install -e .`.")
        return
    for name, task in registry.items():
        task_summary(task, url, (pages or {}).get(name))
