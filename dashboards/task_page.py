"""The generic Task page: champion, then data, models, predictions, drift and runs tabs."""

from __future__ import annotations

import streamlit as st

from core.task import Task
from dashboards.components.drift import drift_section
from dashboards.components.explorer import data_explorer
from dashboards.components.formats import champion_sentence, metric_name, metric_value
from dashboards.components.leaderboard import leaderboard
from dashboards.components.ledger import predictions_browser
from dashboards.components.runs import run_history
from dashboards.components.tiles import Tile, tiles
from dashboards.context import PageContext, empty_store_message, make_context, store_ready

TABS = ("Data", "Models", "Predictions", "Drift", "Runs")


def champion_header(ctx: PageContext) -> None:
    """Which model serves this Task and how good it is, in tiles and one sentence."""
    model = ctx.champion
    if model is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` to fit and promote one.",
                icon=":material/model_training:")
        return
    ordered = [model.primary_metric, *[k for k in model.metrics if k != model.primary_metric]]
    shown = [Tile("Champion", f"v{model.version}", f"{model.model}: the version `score` uses")]
    for name in ordered[:5]:
        value = model.primary_value if name == model.primary_metric else model.metrics.get(name)
        shown.append(Tile(metric_name(name), metric_value(value),
                          f"{metric_name(name)} of the champion on held-out data"))
    tiles(shown)
    st.caption(champion_sentence(model))


def render(task: Task, url: str | None = None) -> None:
    """Draw the page for `task` on the store at `url` (default: the configured store)."""
    ctx = make_context(task, url)
    st.title(task.title)
    st.caption(f"`{task.name}` · {task.description}")
    if not store_ready(ctx.url):
        empty_store_message(ctx.url)
        return
    champion_header(ctx)
    data, models, scored, drift, runs = st.tabs(
        [f":material/{icon}: {name}" for icon, name in zip(
            ("table_chart", "leaderboard", "query_stats", "monitoring", "history"), TABS,
            strict=True)])
    with data:
        data_explorer(ctx)
    with models:
        leaderboard(ctx)
    with scored:
        predictions_browser(ctx)
    with drift:
        drift_section(ctx)
    with runs:
        run_history(ctx)
    page = task.page_function()
    if page is not None:
        st.divider()
        page(ctx)
