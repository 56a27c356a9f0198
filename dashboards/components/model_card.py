"""The champion's model card (which model, trained when, on what data, split, metrics, fit
time) and the banner a page shows when that data was the Task's synthetic sample."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from core.intervals import Interval, recorded
from core.page import PageContext
from core.store import schema
from core.store.queries import ModelSummary
from core.task import Task
from dashboards.components.formats import (
    count,
    held_out_rows,
    metric_display,
    metric_name,
    seconds,
    when,
)

SAMPLES_DIR = "data_samples"  # where `verticals demo` and `verticals ingest TASK` read samples


@dataclass(frozen=True)
class IngestSource:
    """One ingest run whose rows were in the store when the champion was trained."""

    run_id: int
    source: str
    rows: int  # rows it accepted
    synthetic: bool  # the Task's seeded sample, not real data


@dataclass(frozen=True)
class Training:
    """What the store recorded of the run that trained a version."""

    run_id: int | None
    rows_read: int | None  # the labelled rows the train run read
    duration_s: float | None  # the whole train run (every candidate), not one version
    candidates: int | None  # versions the run registered
    sources: tuple[IngestSource, ...]  # ingests before it, when it trained on the store
    period: tuple[Any, Any] | None  # first and last time of its rows, where the Task has a time
    period_column: str | None
    later_rows: int = 0  # rows accepted by ingest runs after the train run

    @property
    def synthetic(self) -> str | None:
        """'all' or 'some' when (some of) the rows came from the synthetic sample, else None."""
        flags = [s.synthetic for s in self.sources if s.rows]
        if not flags or not any(flags):
            return None
        return "all" if all(flags) else "some"


def is_sample_source(task: Task, source: str, params: dict[str, Any]) -> bool:
    """Whether an ingest run read the Task's seeded sample: recorded by `verticals demo`
    (params "synthetic"), or its file is data_samples/<task>.csv (what the demo and a bare
    `verticals ingest TASK` read; stores from before the flag)."""
    if params.get("synthetic") is True:
        return True
    path = Path(source)
    return path.parent.name == SAMPLES_DIR and path.name == task.sample_path(Path()).name


def _params(text: str | None) -> dict[str, Any]:
    parsed = json.loads(text) if text else {}
    return parsed if isinstance(parsed, dict) else {}


def time_column(task: Task) -> str | None:
    """The schema's first date or datetime column (the Task's time, where it has one)."""
    from core.fields import schema_fields

    return next((f.name for f in schema_fields(task.schema) if f.kind == "date"), None)


def training_of(engine: sa.Engine, task: Task, model: ModelSummary, *,
                period: bool = True) -> Training:
    """The train run of `model`, and for a version trained on the store the ingest runs before
    it and (with `period`: a scan of the input table's time) the period of the labelled rows
    they wrote."""
    runs, versions = schema.pipeline_runs, schema.model_versions
    with engine.connect() as conn:
        run_id = conn.execute(sa.select(versions.c.run_id)
                              .where(versions.c.id == model.id)).scalar_one_or_none()
        if run_id is None:
            return Training(None, None, None, None, (), None, None)
        run = conn.execute(sa.select(runs.c.rows_in, runs.c.rows_out, runs.c.duration_s)
                           .where(runs.c.id == run_id)).one()
        sources: tuple[IngestSource, ...] = ()
        period, column = None, None
        later = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(runs.c.rows_out), 0))
            .where(runs.c.task == task.name, runs.c.pipeline == "ingest",
                   runs.c.status == "succeeded", runs.c.id > run_id)).scalar_one()
        if (model.dataset or "store") == "store":
            ingests = conn.execute(
                sa.select(runs.c.id, runs.c.params, runs.c.rows_out)
                .where(runs.c.task == task.name, runs.c.pipeline == "ingest",
                       runs.c.status == "succeeded", runs.c.id < run_id)
                .order_by(runs.c.id)).all()
            sources = tuple(
                IngestSource(row.id, str(_params(row.params).get("source", "unrecorded")),
                             int(row.rows_out or 0),
                             is_sample_source(task, str(_params(row.params).get("source", "")),
                                              _params(row.params)))
                for row in ingests)
            column = time_column(task) if period else None
            table = schema.task_table(task, sa.MetaData())
            labels = task.kind.label_columns
            if column is not None and sa.inspect(conn).has_table(table.name):
                where = [table.c[schema.RUN_ID] < run_id]
                if labels:
                    where.append(table.c[labels[0]].is_not(None))
                low, high = conn.execute(sa.select(sa.func.min(table.c[column]),
                                                   sa.func.max(table.c[column])).where(*where)).one()
                period = (low, high) if low is not None else None
    return Training(run_id, run.rows_in, run.duration_s, run.rows_out, sources, period, column,
                    int(later))


def _day(value: Any) -> str:
    if isinstance(value, datetime | pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def split_line(model: ModelSummary, training: Training) -> str:
    """'600 labelled rows read: 360 fit, 120 calibration, 120 test' as far as recorded."""
    test = held_out_rows(model)
    parts = []
    if model.train_rows is not None:
        parts.append(f"{count(model.train_rows)} fit")
    if training.rows_read is not None and model.train_rows is not None and test is not None:
        held = training.rows_read - model.train_rows - test
        if held > 0:
            parts.append(f"{count(held)} held out for calibration / early stopping")
    if test is not None:
        parts.append(f"{count(test)} test (the metrics below)")
    read = (f"{count(training.rows_read)} labelled rows read" if training.rows_read is not None
            else "rows read not recorded")
    return f"{read}: {', '.join(parts)}" if parts else read


def data_line(task: Task, model: ModelSummary, training: Training) -> str:
    """Where the rows came from: the store's ingests (synthetic ones said) or an adapter file."""
    if (model.dataset or "store") != "store":
        return f"read directly from `{model.dataset}` (a dataset adapter, not the store's rows)"
    if not training.sources:
        return "the store's labelled rows (no ingest run recorded before training)"
    shown = [f"`{s.source}` ({count(s.rows)} rows{', synthetic sample' if s.synthetic else ''})"
             for s in training.sources[:5]]
    more = len(training.sources) - len(shown)
    return ("the store's labelled rows, ingested from " + "; ".join(shown)
            + (f" and {more} more ingest runs" if more > 0 else ""))


def interval_words(name: str, interval: Interval) -> str:
    """'95% CI 0.760–0.820': a metric's recorded interval in the metric's own unit."""
    return (f"{interval.level:.0%} CI {metric_display(name, interval.low)}–"
            f"{metric_display(name, interval.high)}")


def resampled_words(interval: Interval) -> str:
    """'200 bootstrap resamples of the 300 test rows': what an interval was resampled over."""
    return (f"{count(interval.resamples)} bootstrap resamples of the {count(interval.units)} "
            f"{interval.over}")


def primary_line(model: ModelSummary) -> str:
    """'AUC 0.790 (95% CI 0.760–0.820; 200 bootstrap resamples of the 300 test rows)', or the
    point value and why no interval is shown for a version trained before they were kept."""
    name, value = model.primary_metric, model.primary_value
    point = f"{metric_name(name)} {metric_display(name, value)}"
    interval = recorded(model.params).get(name)
    if interval is None:
        return f"{point} (no interval: this version was trained before intervals were recorded)"
    return f"{point} ({interval_words(name, interval)}; {resampled_words(interval)})"


def card_frame(model: ModelSummary) -> pd.DataFrame:
    """The version's recorded metrics, readable, each with its bootstrap interval where the
    version recorded one (core.intervals; "not recorded" otherwise, never invented)."""
    intervals = recorded(model.params)
    rows = []
    for name, value in sorted(model.metrics.items()):
        if not isinstance(value, int | float):
            continue
        interval = intervals.get(name)
        rows.append({"metric": metric_name(name), "value": metric_display(name, value),
                     "interval": (interval_words(name, interval) if interval is not None
                                  else "not recorded")})
    return pd.DataFrame(rows, columns=["metric", "value", "interval"])


def real_data_hint(task: Task) -> str:
    """One line on how to train this Task on real data instead of its sample."""
    public = [name for name, d in task.datasets.items() if d.conforms]
    if public:
        name = public[0]
        return (f"To train on real data, start a fresh store (`VERTICALS_HOME=./real`), then "
                f"`verticals ingest {task.name} --dataset {name} --data PATH` and "
                f"`verticals train {task.name}` ({task.datasets[name].description}).")
    return (f"To train on real data, start a fresh store (`VERTICALS_HOME=./real`), ingest a file "
            f"in the Task's schema with `verticals ingest {task.name} FILE`, then "
            f"`verticals train {task.name}`.")


def synthetic_words(model: ModelSummary, training: Training) -> str | None:
    """'Champion v2 was trained on the Task's seeded synthetic sample': the one sentence the
    Task page's banner and the overview's card both say; None for real data."""
    if training.synthetic is None:
        return None
    share = "the" if training.synthetic == "all" else "partly the"
    return (f"Champion v{model.version} was trained on {share} Task's seeded synthetic sample "
            "(`verticals demo` / `verticals sample`), not real records")


def synthetic_banner(task: Task, model: ModelSummary, training: Training) -> None:
    """A warning at the top of the page when the champion learned from the synthetic sample."""
    words = synthetic_words(model, training)
    if words is None:
        return
    st.warning(f"**Synthetic data.** {words}: its metrics say how well it learned the "
               f"generator. {real_data_hint(task)}", icon=":material/science:")


@st.cache_data(ttl=3600, show_spinner=False)
def cached_training(url: str, state: tuple[str, ...], task_name: str, version_id: int,
                    period: bool, _task: Task, _model: ModelSummary) -> Training:
    from dashboards.context import engine_for

    return training_of(engine_for(url), _task, _model, period=period)


def champion_training(ctx: PageContext, *, period: bool = True) -> Training | None:
    """The champion's Training, cached per store state; None before the first training.
    `period=False` skips the period (the overview needs only the sources, not a scan)."""
    from dashboards.context import store_state

    if ctx.champion is None:
        return None
    return cached_training(ctx.url, store_state(ctx.url), ctx.task.name, ctx.champion.id,
                           period, _task=ctx.task, _model=ctx.champion)


def model_card(ctx: PageContext, training: Training) -> None:
    """The champion's card: model, version, when, data, period, split, metrics, fit time."""
    model = ctx.champion
    if model is None:
        return
    lines = [
        f"**Model** {model.model}, version {model.version}"
        + (f", {model.profile} profile" if model.profile else ""),
        f"**Trained** {when(model.created_at)}"
        + (f" (train run {training.run_id})" if training.run_id is not None else ""),
        f"**Data** {data_line(ctx.task, model, training)}"
        + (" — **synthetic sample**" if training.synthetic == "all" else
           " — **partly the synthetic sample**" if training.synthetic == "some" else ""),
    ]
    if training.period_column is not None:
        lines.append(f"**Period** `{training.period_column}` "
                     + (f"{_day(training.period[0])} to {_day(training.period[1])}"
                        if training.period else "not known (no rows recorded before training)"))
    lines.append(f"**Split** {split_line(model, training)}")
    lines.append(f"**Primary metric** {primary_line(model)}")
    lines.append(
        "**Fit time** "
        + (f"{seconds(training.duration_s)} for the whole train run ({count(training.candidates)} "
           "versions); per-version fit time is not recorded" if training.duration_s is not None
           else "not recorded"))
    with st.expander(f":material/badge: Model card: {model.model} v{model.version}",
                     expanded=False):
        st.markdown("  \n".join(lines))
        metrics = card_frame(model)
        if not metrics.empty:
            st.dataframe(metrics, hide_index=True)
            test = held_out_rows(model)
            intervals = recorded(model.params)
            kinds = sorted({resampled_words(i) for i in intervals.values()})
            st.caption(
                (f"Measured at train time on {count(test)} held-out test rows" if test is not None
                 else "Measured at train time on held-out rows")
                + (f"; intervals are percentile bootstraps ({'; '.join(kinds)}): the spread "
                   "of each metric over other draws of the same held-out units." if intervals
                   else "; this version was trained before intervals were recorded, so it "
                        "records point values only and no intervals are shown."))
