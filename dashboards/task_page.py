"""The generic Task page: champion, then a tab per section the Task's Kind declares, then the
Task's own section."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from core.page import PageContext
from core.task import Task
from dashboards.components.classifier_section import performance_section
from dashboards.components.drift import drift_section
from dashboards.components.explorer import data_explorer
from dashboards.components.fairness import fairness_section
from dashboards.components.forecast import forecast_section
from dashboards.components.formats import champion_sentence, metric_name, metric_rows
from dashboards.components.leaderboard import leaderboard
from dashboards.components.ledger import predictions_browser
from dashboards.components.live import live_section
from dashboards.components.model_card import champion_training, model_card, synthetic_banner
from dashboards.components.runs import run_history
from dashboards.components.tiles import Tile, metric_tile, tiles
from dashboards.context import empty_store_message, make_context, store_ready


def models_and_live(ctx: PageContext) -> None:
    """The leaderboard (training-time figures), then live accuracy, schedules, decisions."""
    leaderboard(ctx)
    live_section(ctx)


@dataclass(frozen=True)
class Section:
    """How one generic section is drawn: its tab's title and icon, and what fills the tab."""

    title: str
    icon: str  # a Material Symbols name
    render: Callable[[PageContext], None]

    @property
    def label(self) -> str:
        return f":material/{self.icon}: {self.title}"


# Every name in core.kinds.base.ALL_SECTIONS, by name; a Kind picks and orders them (Kind.sections).
SECTION_TABS: dict[str, Section] = {
    "data": Section("Data", "table_chart", data_explorer),
    "models": Section("Models", "leaderboard", models_and_live),
    "predictions": Section("Predictions", "query_stats", predictions_browser),
    "drift": Section("Drift", "monitoring", drift_section),
    "runs": Section("Runs", "history", run_history),
    "forecast": Section("Forecast", "ssid_chart", forecast_section),
    "performance": Section("Performance", "insights", performance_section),
}
# Drawn for any Task that declares protected attributes (Task.protected), whatever its Kind.
FAIRNESS_TAB = Section("Fair lending", "balance", fairness_section)


def champion_header(ctx: PageContext) -> None:
    """Which model serves this Task and how good it is, in tiles and one sentence: the metrics
    the Kind displays (Kind.display_metrics, in its order) that the champion has."""
    model = ctx.champion
    if model is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` to fit and promote one.",
                icon=":material/model_training:")
        return
    shown = [Tile("Champion", f"v{model.version}", f"{model.model}: the version `score` uses")]
    kind = ctx.task.kind
    for name in kind.display_metrics:
        value = model.primary_value if name == model.primary_metric else model.metrics.get(name)
        if value is None:
            continue
        direction = kind.higher_is_better if name == model.primary_metric else None
        shown.append(metric_tile(name, value, metric_rows(model), direction,
                                 f"{metric_name(name)} of the champion"))
    tiles(shown)
    st.caption(champion_sentence(model))


def sections_of(task: Task) -> list[Section]:
    """The sections `task`'s Kind declares, in its order, then the fairness report when the
    Task declares protected attributes."""
    names = task.kind.sections
    unknown = [name for name in names if name not in SECTION_TABS]
    if unknown:
        raise LookupError(f"Task {task.name}: its Kind declares dashboard sections {unknown} "
                          "that dashboards/task_page.py does not draw; known: "
                          f"{', '.join(SECTION_TABS)}")
    fairness = [FAIRNESS_TAB] if task.protected.columns else []
    return [SECTION_TABS[name] for name in names] + fairness


def render(task: Task, url: str | None = None) -> None:
    """Draw the page for `task` on the store at `url` (default: the configured store)."""
    ctx = make_context(task, url)
    st.title(task.title)
    st.caption(f"`{task.name}` · {task.description}")
    if not store_ready(ctx.url):
        empty_store_message(ctx.url)
        return
    # Said first: every number below is about a model that learned from what this names.
    training = champion_training(ctx)
    if ctx.champion is not None and training is not None:
        synthetic_banner(task, ctx.champion, training)
    champion_header(ctx)
    if training is not None:
        model_card(ctx, training)
    sections = sections_of(task)
    if sections:
        for section, tab in zip(sections, st.tabs([s.label for s in sections]), strict=True):
            with tab:
                section.render(ctx)
    page = task.page_function()
    if page is not None:
        st.divider()
        page(ctx)
