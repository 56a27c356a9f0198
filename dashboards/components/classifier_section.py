"""A binary classifier's performance charts on labelled rows of the store: the champion's
scores in the ledger joined to the outcomes stored with the input rows.

No Kind stores its held-out predictions at train time, so the rows are chosen here and said on
every chart: the champion's test rows (the latest `test_rows` of what it was trained on, by the
Task's time, exactly as the time-ordered split held them out: offered only when their AUC
reproduces the one recorded at train time), outcomes ingested after training (never seen by the
model), or every scored row with an outcome (includes the training rows: optimistic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from core.kinds.tabular import TabularClassification
from core.kinds.tabular_predictor import decision_settings
from core.page import PageContext
from core.store import schema
from core.store.queries import ModelSummary
from core.task import Task
from dashboards.components import classifier_charts as charts
from dashboards.components.formats import count, held_out_rows, percent
from dashboards.components.model_card import Training, champion_training
from dashboards.components.on_demand import requested, scored_rows
from dashboards.components.tiles import Tile, metric_tile, tiles

TEST, AFTER, ALL = "test", "after", "all"
SOURCE_WORDS = {
    TEST: "the champion's held-out test rows",
    AFTER: "outcomes ingested after the champion was trained",
    ALL: "every scored row with an outcome (includes the rows it was trained on: optimistic)",
}
REPRODUCED = 1e-6  # |AUC here - AUC recorded|: the rows are the ones the metrics were on


@dataclass(frozen=True)
class Scored:
    """Labelled scored rows from one source, and what to say about them."""

    source: str
    outcomes: charts.Outcomes
    period: tuple[Any, Any] | None  # first and last time of the rows, where the Task has one


def labelled_scores(engine: sa.Engine, task: Task, kind: TabularClassification,
                    model: ModelSummary, training: Training, source: str,
                    limit: int | None = None) -> pd.DataFrame:
    """Columns score, actual (1.0 = the positive class), at: the champion's primary-output
    scores of input rows whose target is stored, from `source` (TEST, AFTER or ALL); at most
    `limit` of them (1: whether the source has any)."""
    table = schema.task_table(task, sa.MetaData())
    p = schema.predictions
    entity = table.c[kind.id]
    key = entity if isinstance(entity.type, sa.String) else sa.cast(entity, sa.String)
    time = table.c[kind.time] if kind.time is not None and kind.time in table.c else None
    target = table.c[kind.target]
    # Read as text and parsed once below: SQLAlchemy's per-value datetime processing costs
    # seconds on a million rows (as read_task_frame does).
    at = sa.type_coerce(time, sa.Text) if time is not None else sa.null()
    # The input rows first (their filters and the test rows' order need no ledger), then each
    # one's score by the ledger's unique (task, version, entity) index: a correlated lookup,
    # which SQLite's planner would otherwise turn into a scan of every prediction of the
    # version (measured at 1M rows: 7 s against 18 s for the test rows).
    rows = sa.select(key.label("key"), sa.case((target == kind.positive, 1.0),
                                               else_=0.0).label("actual"),
                     at.label("at")).where(target.is_not(None))
    if source == TEST:
        test = held_out_rows(model)
        if time is None or training.run_id is None or test is None:
            raise ValueError("the champion's test rows are known only for a time-split version "
                             "trained on the store that recorded its test rows")
        # time_split holds out the last rows in a stable time order (ties in stored order).
        rows = (rows.where(table.c[schema.RUN_ID] < training.run_id)
                .order_by(time.desc(), table.c[schema.ROW_ID].desc()).limit(test))
    elif source == AFTER:
        if training.run_id is None:
            raise ValueError("the champion's train run is not recorded")
        rows = rows.where(table.c[schema.RUN_ID] > training.run_id)
    elif source != ALL:
        raise ValueError(f"unknown source {source!r}: use {TEST}, {AFTER} or {ALL}")
    picked = rows.subquery()
    score = (sa.select(p.c.score)
             .where(p.c.task == task.name, p.c.model_version_id == model.id,
                    p.c.entity_key == picked.c.key, p.c.output == "")
             .limit(1).scalar_subquery())
    statement = sa.select(score.label("score"), picked.c.actual, picked.c.at)
    if limit is not None:  # a probe: a scored row
        statement = statement.where(score.is_not(None)).limit(limit)
    with engine.connect() as conn:
        found = conn.execute(statement).all()
    frame = pd.DataFrame(found, columns=["score", "actual", "at"])
    frame["at"] = pd.to_datetime(frame["at"])
    return frame[frame["score"].notna()].reset_index(drop=True)  # rows never scored: no score


@st.cache_data(ttl=3600, show_spinner="Joining scores to outcomes…", max_entries=16)
def cached_scores(url: str, state: tuple[str, ...], task_name: str, version_id: int,
                  source: str, _task: Task, _model: ModelSummary, _training: Training,
                  limit: int | None = None) -> pd.DataFrame:
    from dashboards.context import engine_for

    kind = _task.kind
    if not isinstance(kind, TabularClassification):
        raise TypeError(f"Task {task_name} is not a binary classifier")
    return labelled_scores(engine_for(url), _task, kind, _model, _training, source, limit)


def _scored(frame: pd.DataFrame, source: str) -> Scored:
    times = frame["at"].dropna()
    period = (times.min(), times.max()) if len(times) else None
    return Scored(source, charts.Outcomes.of(frame["actual"], frame["score"]), period)


def reproduces(scored: Scored, model: ModelSummary) -> bool:
    """Whether `scored` are the rows the version's recorded AUC was measured on."""
    recorded = model.metrics.get("auc")
    if recorded is None or not scored.outcomes.both_classes:
        return False
    roc = charts.roc_frame(scored.outcomes)
    return (scored.outcomes.rows == held_out_rows(model)
            and abs(charts.auc_of(roc) - recorded) <= REPRODUCED)


def _scores(ctx: PageContext, training: Training, source: str,
            limit: int | None = None) -> pd.DataFrame:
    from dashboards.context import store_state

    model = ctx.champion
    return cached_scores(ctx.url, store_state(ctx.url), ctx.task.name, model.id, source,
                         _task=ctx.task, _model=model, _training=training, limit=limit)


def sources(ctx: PageContext, kind: TabularClassification, training: Training) -> list[str]:
    """The sources with rows, the champion's test rows only when they reproduce its AUC.
    Only the test rows (a few thousand at most) are read here; the others are probed with
    one row and read when picked (every scored row may be a million)."""
    model = ctx.champion
    found = []
    if (training.run_id is not None and kind.time is not None
            and held_out_rows(model) is not None and (model.dataset or "store") == "store"):
        frame = _scores(ctx, training, TEST)
        if not frame.empty and reproduces(_scored(frame, TEST), model):
            found.append(TEST)
    # Outcomes after training need an ingest after it (training.later_rows: a run-table read).
    probes = [AFTER, ALL] if training.run_id is not None and training.later_rows else [ALL]
    found += [source for source in probes if not _scores(ctx, training, source, limit=1).empty]
    return found


def _period(scored: Scored, column: str | None) -> str:
    if scored.period is None:
        return ""
    low, high = (pd.Timestamp(v).strftime("%Y-%m-%d") for v in scored.period)
    return f", `{column}` {low} to {high}"


def rows_words(scored: Scored, column: str | None) -> str:
    """'120 rows (36 positive, 30.0%), application_date 2024-01-02 to 2024-03-01, the
    champion's held-out test rows'."""
    data = scored.outcomes
    return (f"{count(data.rows)} rows ({count(data.positives)} positive, "
            f"{percent(data.positives / data.rows if data.rows else None)})"
            f"{_period(scored, column)}: {SOURCE_WORDS[scored.source]}")


def _cutoff(ctx: PageContext, kind: TabularClassification) -> tuple[float, tuple[str, str]]:
    """The champion's own cut-off and decisions (they labelled its stored predictions)."""
    return (decision_settings(ctx.champion.params, ctx.predictor)
            or (float(kind.cutoff), kind.decisions))


def performance_section(ctx: PageContext) -> None:
    """ROC, KS, gains/lift, calibration, the confusion matrix and decision rates at the
    champion's cut-off, on labelled rows the user picks (each chart says which). Outcomes are
    named by the target: `default` and `no default`."""
    kind = ctx.task.kind
    if not isinstance(kind, TabularClassification):
        raise TypeError(f"Task {ctx.task.name}: the performance section draws a binary "
                        "classifier (a TabularClassification Kind); its Kind should not list it")
    key = f"{ctx.task.slug}-performance"
    positive, negative = kind.target.replace("_", " "), f"no {kind.target.replace('_', ' ')}"
    training = champion_training(ctx)
    if ctx.champion is None or training is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` first.")
        return
    if not requested(ctx, f"{key}-run", "ROC, KS, gains and calibration",
                     scored_rows(ctx)):
        return
    found = sources(ctx, kind, training)
    if not found:
        st.info(f"No scored row has a stored outcome yet: run `verticals score {ctx.task.name}` "
                "and ingest rows with the target filled.")
        return
    chosen = st.radio("Rows", found, format_func=lambda s: SOURCE_WORDS[s],
                      key=f"{key}-rows", horizontal=True,
                      help="The ledger keeps no copy of the predictions made at train time: "
                           "the champion's test rows are found again in the store (the latest "
                           "rows it trained on, by time) and offered only when their AUC equals "
                           "the recorded one.")
    scored = _scored(_scores(ctx, training, chosen), chosen)
    data = scored.outcomes
    rows = rows_words(scored, kind.time)
    if chosen == ALL:
        st.warning("These rows include the ones the champion was fit and calibrated on: its "
                   "figures here are better than it will do on new applicants.",
                   icon=":material/warning:")
    cutoff, (below, above) = _cutoff(ctx, kind)
    confusion = charts.confusion_at(data, cutoff)
    shown = [Tile(f"{below.capitalize()} rate", percent(confusion.pass_rate),
                  f"share of rows below the cut-off {cutoff:.2f} ({below})", rows=rows),
             Tile(f"{positive.capitalize()} rate among {below}",
                  percent(confusion.positive_rate_passed),
                  f"share of positives among the {count(confusion.passed)} rows below the "
                  f"cut-off {cutoff:.2f}", rows=rows, better="lower")]
    if data.both_classes:
        roc = charts.roc_frame(data)
        ks, _ = charts.ks_of(roc)
        shown = [metric_tile("auc", charts.auc_of(roc), rows, None, "area under the ROC curve"),
                 metric_tile("ks", ks, rows, None, "largest gap of positives and negatives "
                             "flagged, max TPR - FPR"), *shown]
    tiles(shown)
    st.caption(f"On {rows}. Decisions at the champion's cut-off **{cutoff:.2f}** (score at or "
               f"above it: {above}), the one its stored predictions were labelled with.")
    if not data.both_classes:
        st.info(f"The {count(data.rows)} rows hold one outcome only: ROC, KS and gains need both.")
    else:
        left, right = st.columns(2)
        left.plotly_chart(charts.roc_figure(roc, confusion), key=f"{key}-roc")
        right.plotly_chart(charts.ks_figure(roc), key=f"{key}-ks")
        left, right = st.columns(2)
        left.plotly_chart(charts.gains_figure(charts.gains_frame(data)), key=f"{key}-gains")
        right.plotly_chart(charts.calibration_figure(charts.calibration_frame(data)),
                           key=f"{key}-calibration")
    left, right = st.columns(2)
    left.plotly_chart(charts.confusion_figure(confusion, above, below, positive, negative),
                      key=f"{key}-confusion")
    right.plotly_chart(charts.cutoff_figure(charts.cutoff_frame(data), cutoff, below,
                                           positive),
                       key=f"{key}-cutoff")
    sens, spec = confusion.sensitivity, confusion.specificity
    st.caption(
        f"At cut-off {cutoff:.2f}: {count(confusion.flagged)} {above}, {count(confusion.passed)} "
        f"{below} of {count(confusion.rows)} rows; sensitivity "
        f"{percent(sens) if math.isfinite(sens) else 'n/a'}, specificity "
        f"{percent(spec) if math.isfinite(spec) else 'n/a'}. Gains: rows in ten equal groups by "
        "score, highest first. Calibration: ten equal-count score bins.")

