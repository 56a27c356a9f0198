"""Read-only SQL aggregates the dashboards draw from: grouped in SQL, row-capped, both dialects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.kinds.base import PRIMARY_OUTPUT
from core.store.schema import (
    aliases,
    drift_reports,
    model_versions,
    pipeline_runs,
    predictions,
    quarantine,
)

CHAMPION = "champion"
MAX_ROWS = 1000
MAX_CATEGORIES = 50


@dataclass(frozen=True)
class ModelSummary:
    """One registered model version as the dashboards show it."""

    id: int
    task: str
    version: int
    model: str
    created_at: datetime
    profile: str | None
    dataset: str | None
    train_rows: int | None
    primary_metric: str
    primary_value: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    is_champion: bool = False


def month_of(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[str]:
    """'YYYY-MM' of a date/datetime column: the one place the two dialects differ."""
    if dialect == "sqlite":
        return sa.func.strftime("%Y-%m", column)
    if dialect == "postgresql":
        return sa.func.to_char(column, "YYYY-MM")
    raise NotImplementedError(f"month_of: no month expression for the {dialect!r} dialect")


def bin_index(column: sa.ColumnElement[Any], edges: Sequence[float]) -> sa.ColumnElement[int]:
    """Index of the bin a value falls in: bin i is [edges[i], edges[i+1]); the last bin is closed.

    A CASE over the inner edges instead of floor(): floor() is missing from many SQLite builds,
    and CAST rounds on PostgreSQL but truncates on SQLite.
    """
    inner = list(edges[1:-1])
    if not inner:
        return sa.literal(0)
    return sa.case(*[(column < edge, i) for i, edge in enumerate(inner)], else_=len(inner))


def mean_of(column: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
    """Average of a numeric or boolean column (PostgreSQL cannot cast boolean to float)."""
    if isinstance(column.type, sa.Boolean):
        return sa.func.avg(sa.case((column.is_(None), None), (column, 1.0), else_=0.0))
    return sa.func.avg(sa.cast(column, sa.Float))


# The tables these queries read; a store may hold more (newer migrations) without the
# dashboards needing them.
READ_TABLES = tuple(t.name for t in (pipeline_runs, model_versions, aliases, predictions,
                                     drift_reports, quarantine))


def has_store(engine: Engine) -> bool:
    """True when the tables the dashboards read exist (`verticals init`/`demo` has run)."""
    present = set(sa.inspect(engine).get_table_names())
    return set(READ_TABLES) <= present


def has_table(engine: Engine, name: str) -> bool:
    return sa.inspect(engine).has_table(name)


# --- registry -------------------------------------------------------------------------------


def _summary(row: sa.Row[Any], champion_id: int | None) -> ModelSummary:
    return ModelSummary(
        id=row.id, task=row.task, version=row.version, model=row.model,
        created_at=row.created_at, profile=row.profile, dataset=row.dataset,
        train_rows=row.train_rows, primary_metric=row.primary_metric,
        primary_value=row.primary_value, metrics=json.loads(row.metrics or "{}"),
        params=json.loads(row.params or "{}"), is_champion=row.id == champion_id,
    )


def _champion_id(conn: sa.Connection, task: str) -> int | None:
    return conn.execute(
        sa.select(aliases.c.model_version_id)
        .where(aliases.c.task == task, aliases.c.alias == CHAMPION)
    ).scalar_one_or_none()


_VERSION_COLUMNS = [c for c in model_versions.c if c.name not in ("reference", "artifact_path")]


def versions(engine: Engine, task: str) -> list[ModelSummary]:
    """Every registered version of a Task, newest first, the champion marked."""
    with engine.connect() as conn:
        champion_id = _champion_id(conn, task)
        rows = conn.execute(
            sa.select(*_VERSION_COLUMNS).where(model_versions.c.task == task)
            .order_by(model_versions.c.version.desc())
        ).all()
    return [_summary(row, champion_id) for row in rows]


def champion(engine: Engine, task: str) -> ModelSummary | None:
    """The version the `champion` alias points at, or None before the first training."""
    with engine.connect() as conn:
        champion_id = _champion_id(conn, task)
        if champion_id is None:
            return None
        row = conn.execute(
            sa.select(*_VERSION_COLUMNS).where(model_versions.c.id == champion_id)
        ).one()
    return _summary(row, champion_id)


def reference_profile(engine: Engine, model_version_id: int) -> dict[str, Any]:
    """The drift reference profile stored with a model version ({} when it has none)."""
    with engine.connect() as conn:
        text = conn.execute(
            sa.select(model_versions.c.reference).where(model_versions.c.id == model_version_id)
        ).scalar_one_or_none()
    return json.loads(text) if text else {}


# --- runs and counts ------------------------------------------------------------------------


def last_runs(engine: Engine, task: str) -> pd.DataFrame:
    """The latest run of each pipeline for a Task (one row per pipeline)."""
    latest = (
        sa.select(pipeline_runs.c.pipeline, sa.func.max(pipeline_runs.c.id).label("id"))
        .where(pipeline_runs.c.task == task).group_by(pipeline_runs.c.pipeline).subquery()
    )
    query = (
        sa.select(pipeline_runs.c.pipeline, pipeline_runs.c.status, pipeline_runs.c.started_at,
                  pipeline_runs.c.duration_s, pipeline_runs.c.rows_in, pipeline_runs.c.rows_out,
                  pipeline_runs.c.rows_rejected, pipeline_runs.c.error)
        .join(latest, latest.c.id == pipeline_runs.c.id)
        .order_by(pipeline_runs.c.pipeline)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=list(query.selected_columns.keys()))


def run_history(engine: Engine, task: str, limit: int = 200) -> pd.DataFrame:
    """The Task's most recent pipeline runs, newest first."""
    query = (
        sa.select(pipeline_runs.c.id, pipeline_runs.c.pipeline, pipeline_runs.c.status,
                  pipeline_runs.c.started_at, pipeline_runs.c.duration_s, pipeline_runs.c.rows_in,
                  pipeline_runs.c.rows_out, pipeline_runs.c.rows_rejected, pipeline_runs.c.batches,
                  pipeline_runs.c.params, pipeline_runs.c.error)
        .where(pipeline_runs.c.task == task)
        .order_by(pipeline_runs.c.id.desc()).limit(min(limit, MAX_ROWS))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=list(query.selected_columns.keys()))


def row_counts(engine: Engine, task: str, input_table: str | None = None, *,
               output: str | None = PRIMARY_OUTPUT) -> dict[str, int]:
    """Input rows, predictions (of the primary output by default; `output=None`: of every
    output) and quarantined rows of a Task (0 where a table is missing)."""
    with engine.connect() as conn:
        ledger = conn.execute(sa.select(sa.func.count()).select_from(predictions)
                              .where(predictions.c.task == task, *_of_output(output))
                              ).scalar_one()
        return counts_beside(conn, task, input_table, int(ledger))


def counts_beside(conn: sa.Connection, task: str, input_table: str | None,
                  ledger_rows: int) -> dict[str, int]:
    """row_counts' shape around a ledger count however it was counted (a scan here, the
    per-batch summaries in core.store.summaries): quarantined and input rows."""
    counts = {
        "predictions": ledger_rows,
        "quarantined": conn.execute(
            sa.select(sa.func.count()).select_from(quarantine)
            .where(quarantine.c.task == task)).scalar_one(),
        "input_rows": 0,
    }
    if input_table is not None and sa.inspect(conn).has_table(input_table):
        counts["input_rows"] = conn.execute(
            sa.select(sa.func.count()).select_from(sa.table(input_table))).scalar_one()
    return counts


def quarantine_rules(engine: Engine, task: str, limit: int = 20) -> pd.DataFrame:
    """Why rows were rejected: counts per column and rule, most frequent first."""
    count = sa.func.count().label("rows")
    query = (
        sa.select(quarantine.c.column, quarantine.c.rule, count)
        .where(quarantine.c.task == task)
        .group_by(quarantine.c.column, quarantine.c.rule)
        .order_by(count.desc()).limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=["column", "rule", "rows"])


QUARANTINE_EXPORT_ROWS = 100_000  # a page or a CSV download of rejected rows holds at most this
QUARANTINE_COLUMNS = ("row_number", "column", "value", "rule", "source", "run_id",
                      "created_at", "payload")


def _quarantined(task: str, rule: str | None) -> list[sa.ColumnElement[bool]]:
    return [quarantine.c.task == task, *([quarantine.c.rule == rule] if rule else [])]


def quarantine_count(engine: Engine, task: str, rule: str | None = None) -> int:
    """How many quarantine rows a Task has (of one rule when given)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(quarantine)
                            .where(*_quarantined(task, rule))).scalar_one()


def quarantine_page(engine: Engine, task: str, rule: str | None = None, page: int = 0,
                    size: int = 50) -> pd.DataFrame:
    """One page of the rows ingest rejected (newest run first, then by row number): where
    (source, run, row), which column and value, the rule, and the raw row as JSON. `size` is
    capped at QUARANTINE_EXPORT_ROWS (the CSV download asks for one page of that size)."""
    size = min(size, QUARANTINE_EXPORT_ROWS)
    query = (
        sa.select(*(quarantine.c[name] for name in QUARANTINE_COLUMNS))
        .where(*_quarantined(task, rule))
        .order_by(quarantine.c.run_id.desc(), quarantine.c.row_number, quarantine.c.id)
        .limit(size).offset(max(page, 0) * size)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS))


# --- drift ----------------------------------------------------------------------------------


def drift_by_batch(
    engine: Engine, task: str, model_version_id: int | None = None,
) -> pd.DataFrame:
    """PSI per feature per scored batch (optionally for one model version), oldest batch first."""
    query = (
        sa.select(drift_reports.c.batch, drift_reports.c.run_id, drift_reports.c.model_version_id,
                  drift_reports.c.feature, drift_reports.c.psi, drift_reports.c.flag,
                  drift_reports.c.batch_rows, drift_reports.c.created_at)
        .where(drift_reports.c.task == task)
        .order_by(drift_reports.c.id).limit(20 * MAX_ROWS)
    )
    if model_version_id is not None:
        query = query.where(drift_reports.c.model_version_id == model_version_id)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=list(query.selected_columns.keys()))


def latest_drift(engine: Engine, task: str) -> pd.DataFrame:
    """PSI per feature of the most recently written drift report (last scored batch)."""
    with engine.connect() as conn:
        last_id = conn.execute(
            sa.select(sa.func.max(drift_reports.c.id)).where(drift_reports.c.task == task)
        ).scalar_one()
        if last_id is None:
            return pd.DataFrame(columns=["feature", "psi", "flag"])
        last = conn.execute(
            sa.select(drift_reports.c.run_id, drift_reports.c.batch)
            .where(drift_reports.c.id == last_id)).one()
        run_match = (drift_reports.c.run_id.is_(None) if last.run_id is None
                     else drift_reports.c.run_id == last.run_id)
        rows = conn.execute(
            sa.select(drift_reports.c.feature, drift_reports.c.psi, drift_reports.c.flag)
            .where(drift_reports.c.task == task, drift_reports.c.batch == last.batch, run_match)
            .order_by(drift_reports.c.psi.desc())
        ).mappings().all()
    return pd.DataFrame(rows, columns=["feature", "psi", "flag"])


# --- predictions ----------------------------------------------------------------------------
# The ledger holds one row per entity, output, time, step and horizon. These queries show "the"
# prediction: the primary output (PRIMARY_OUTPUT) unless `output` names another one.


def _of_output(output: str | None) -> list[sa.ColumnElement[bool]]:
    """The clause selecting one output of the ledger (none for `output=None`: every output)."""
    return [] if output is None else [predictions.c.output == output]


def _of_version(task: str, model_version_id: int, output: str) -> list[sa.ColumnElement[bool]]:
    return [predictions.c.task == task, predictions.c.model_version_id == model_version_id,
            predictions.c.output == output]


def predicted_versions(engine: Engine, task: str, *,
                       output: str | None = PRIMARY_OUTPUT) -> list[int]:
    """Model version ids that have predictions (of `output`; None: of any) in the ledger."""
    with engine.connect() as conn:
        return list(conn.execute(
            sa.select(predictions.c.model_version_id)
            .where(predictions.c.task == task, *_of_output(output))
            .distinct().order_by(predictions.c.model_version_id)).scalars())


def outputs(engine: Engine, task: str, model_version_id: int) -> list[str]:
    """The outputs a model version has predictions of (PRIMARY_OUTPUT first when present)."""
    with engine.connect() as conn:
        return list(conn.execute(
            sa.select(predictions.c.output)
            .where(predictions.c.task == task, predictions.c.model_version_id == model_version_id)
            .distinct().order_by(predictions.c.output)).scalars())


def score_range(engine: Engine, task: str, model_version_id: int, *,
                output: str = PRIMARY_OUTPUT) -> tuple[float, float] | None:
    with engine.connect() as conn:
        low, high = conn.execute(
            sa.select(sa.func.min(predictions.c.score), sa.func.max(predictions.c.score))
            .where(*_of_version(task, model_version_id, output))).one()
    return None if low is None else (float(low), float(high))


def score_histogram(
    engine: Engine, task: str, model_version_id: int, edges: Sequence[float], *,
    output: str = PRIMARY_OUTPUT,
) -> pd.DataFrame:
    """Prediction counts per score bin and label (bins from `edges`, counted in SQL)."""
    index = bin_index(predictions.c.score, edges).label("bin")
    query = (
        sa.select(index, predictions.c.label, sa.func.count().label("rows"))
        .where(*_of_version(task, model_version_id, output), predictions.c.score.is_not(None))
        .group_by(index, predictions.c.label).order_by(index)
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=["bin", "label", "rows"])
    frame["low"] = [edges[int(i)] for i in frame["bin"]]
    frame["high"] = [edges[int(i) + 1] for i in frame["bin"]]
    return frame


def label_counts(engine: Engine, task: str, model_version_id: int, *,
                 output: str = PRIMARY_OUTPUT) -> pd.DataFrame:
    count = sa.func.count().label("rows")
    query = (
        sa.select(predictions.c.label, count, sa.func.avg(predictions.c.score).label("mean_score"))
        .where(*_of_version(task, model_version_id, output))
        .group_by(predictions.c.label).order_by(count.desc())
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).mappings().all(),
                            columns=["label", "rows", "mean_score"])


_PREDICTION_COLUMNS = (predictions.c.entity_key, predictions.c.output, predictions.c.as_of,
                       predictions.c.step, predictions.c.horizon, predictions.c.score,
                       predictions.c.label, predictions.c.lower, predictions.c.upper,
                       predictions.c.batch, predictions.c.payload, predictions.c.reasons)


def prediction_page(
    engine: Engine, task: str, model_version_id: int, *, page: int = 0, size: int = 50,
    order: str = "score_desc", label: str | None = None, output: str = PRIMARY_OUTPUT,
) -> pd.DataFrame:
    """One page of one output of the ledger for a model version (size capped), ordered by
    score or key."""
    orders = {
        "score_desc": (predictions.c.score.desc(), predictions.c.id),
        "score_asc": (predictions.c.score.asc(), predictions.c.id),
        "entity": (predictions.c.entity_key, predictions.c.as_of, predictions.c.step,
                   predictions.c.horizon, predictions.c.id),
        "newest": (predictions.c.id.desc(),),
    }
    if order not in orders:
        raise ValueError(f"unknown order {order!r}: use one of {', '.join(orders)}")
    size = max(1, min(size, MAX_ROWS))
    query = (
        sa.select(*_PREDICTION_COLUMNS)
        .where(*_of_version(task, model_version_id, output))
        .order_by(*orders[order]).limit(size).offset(max(page, 0) * size)
    )
    if label is not None:
        query = query.where(predictions.c.label == label)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in _PREDICTION_COLUMNS])


def predictions_for(engine: Engine, task: str, entity_key: str, limit: int = 50, *,
                    output: str | None = PRIMARY_OUTPUT) -> pd.DataFrame:
    """The ledger rows of one entity (all versions, times, steps and horizons) of `output`
    (None: of every output), newest first."""
    # Naming the Task's versions lets both dialects walk the ledger's unique index (task,
    # version, entity, ...) once per version: without it, a lookup of one entity read every
    # row of the Task (4 s at 1M rows on SQLite), now about a millisecond.
    versions_of = sa.select(model_versions.c.id).where(model_versions.c.task == task)
    query = (
        sa.select(predictions.c.model_version_id, *_PREDICTION_COLUMNS)
        .where(predictions.c.task == task, predictions.c.model_version_id.in_(versions_of),
               predictions.c.entity_key == entity_key, *_of_output(output))
        .order_by(predictions.c.id.desc()).limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=["model_version_id", *[c.name for c in _PREDICTION_COLUMNS]])


# --- a Task's own section -------------------------------------------------------------------


def latest_forecasts(engine: Engine, task: str, model_version_id: int, *,
                     output: str = PRIMARY_OUTPUT) -> pd.DataFrame:
    """A version's ledger rows of `output` at each entity's latest time (as_of): the newest
    forecast of every series, one row per horizon, by entity then horizon (row-capped)."""
    mine = (predictions.c.task == task, predictions.c.model_version_id == model_version_id,
            predictions.c.output == output)
    latest = (sa.select(predictions.c.entity_key, sa.func.max(predictions.c.as_of).label("as_of"))
              .where(*mine).group_by(predictions.c.entity_key).subquery())
    columns = (predictions.c.entity_key, predictions.c.as_of, predictions.c.step,
               predictions.c.horizon, predictions.c.score, predictions.c.lower,
               predictions.c.upper, predictions.c.payload)
    query = (sa.select(*columns)
             .join(latest, sa.and_(latest.c.entity_key == predictions.c.entity_key,
                                   latest.c.as_of == predictions.c.as_of))
             .where(*mine)
             .order_by(predictions.c.entity_key, predictions.c.step, predictions.c.horizon)
             .limit(20 * MAX_ROWS))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in columns])


def latest_steps(engine: Engine, task: str, model_version_id: int, *,
                 output: str = PRIMARY_OUTPUT, order: str = "entity",
                 limit: int = 20 * MAX_ROWS) -> pd.DataFrame:
    """A version's ledger rows of `output` at each entity's latest as_of and, within it, its
    latest step: the current prediction of every entity of a step-indexed Kind however many
    steps it was scored at (one row per entity, or per horizon), with its label. Ordered by
    entity (`order="entity"`) or by score (`"score_asc"`, `"score_desc"`: the capped listing
    keeps that end), at most `limit` rows (20,000 at most)."""
    # rank(), not a join on max(step): one pass, and every horizon of the newest step ties at 1.
    newest = sa.func.rank().over(
        partition_by=predictions.c.entity_key,
        order_by=(predictions.c.as_of.desc(), predictions.c.step.desc())).label("newest")
    ranked = (sa.select(*_PREDICTION_COLUMNS, newest)
              .where(*_of_version(task, model_version_id, output)).subquery())
    orders = {"entity": (), "score_asc": (ranked.c.score.asc(),),
              "score_desc": (ranked.c.score.desc(),)}
    if order not in orders:
        raise ValueError(f"unknown order {order!r}: use one of {', '.join(orders)}")
    query = (sa.select(*(ranked.c[c.name] for c in _PREDICTION_COLUMNS))
             .where(ranked.c.newest == 1)
             .order_by(*orders[order], ranked.c.entity_key, ranked.c.horizon)
             .limit(max(1, min(limit, 20 * MAX_ROWS))))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in _PREDICTION_COLUMNS])


def step_predictions(engine: Engine, task: str, model_version_id: int, entity_key: str, *,
                     output: str = PRIMARY_OUTPUT, limit: int = MAX_ROWS) -> pd.DataFrame:
    """One entity's ledger rows of a version and `output`, the `limit` with the highest steps
    (of every as_of), oldest step first: the prediction as it moved step by step."""
    query = (sa.select(*_PREDICTION_COLUMNS)
             .where(*_of_version(task, model_version_id, output),
                    predictions.c.entity_key == entity_key)
             .order_by(predictions.c.step.desc(), predictions.c.as_of.desc(),
                       predictions.c.horizon)
             .limit(max(1, min(limit, MAX_ROWS))))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    frame = pd.DataFrame(rows, columns=[c.name for c in _PREDICTION_COLUMNS])
    return frame.iloc[::-1].reset_index(drop=True)


def entity_history(
    engine: Engine, task: str, input_table: str, entity_column: str, entity: Any,
    time_column: str, value_column: str, limit: int = MAX_ROWS,
) -> pd.DataFrame:
    """The last `limit` values of one entity in the Task's input table `input_table`
    (PageContext.table.name), as columns `time_column`, `value_column`, oldest first: the
    history a forecast is drawn after. `task` is the Task whose table it is (unused by the SQL:
    the table is the Task's own)."""
    table = sa.table(input_table, sa.column(entity_column), sa.column(time_column),
                     sa.column(value_column))
    query = (sa.select(table.c[time_column], table.c[value_column])
             .where(table.c[entity_column] == entity)
             .order_by(table.c[time_column].desc()).limit(max(1, min(limit, MAX_ROWS))))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=[time_column, value_column]).iloc[::-1].reset_index(
        drop=True)


# The scheduled loop (core/store/loop_queries.py), reachable through PageContext.query.
def live_accuracy(engine: Engine, task: str) -> pd.DataFrame:
    from core.store.loop_queries import live_accuracy as monthly

    return monthly(engine, task)


def task_schedules(engine: Engine, task: str) -> pd.DataFrame:
    from core.store.loop_queries import task_schedules as listing

    return listing(engine, task)


def champion_history(engine: Engine, task: str) -> pd.DataFrame:
    from core.store.loop_queries import champion_history as history

    return history(engine, task)
