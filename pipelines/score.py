"""Score: the champion's predictions, reasons and drift for unscored rows, one batch at a time."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import registry
from core.fields import schema_fields
from core.kinds.base import PRIMARY_OUTPUT, Batching
from core.monitor import PSI_FLAG, psi, reference_rows
from core.store.bulk import insert_frame, present_values, refresh_statistics
from core.store.engine import ensure_task_table, read_task_frame
from core.store.runs import heartbeat, track_run
from core.store.schema import ROW_ID, drift_reports, predictions, profile_counts, score_bins
from core.store.summaries import (
    add_score_bins,
    covers,
    profile_gaps,
    profile_rows,
    refresh_score_bins,
    write_profile_counts,
)
from core.task import Task
from pipelines.quality import held_clause
from pipelines.score_groups import (
    GroupResult,
    batch_keys,
    fresh_slices,
    predict_group,
    read_group,
    replace_forecasts,
    scored_origins,
)
from pipelines.score_workers import on_workers, worker_engine, worker_predictor

DEFAULT_CHUNK = 50_000


class ScoreError(RuntimeError):
    """Scoring cannot start (no champion, nothing ingested)."""


@dataclass
class ScoreResult:
    run_id: int
    model_version: int
    rows: int = 0
    batches: list[int] = field(default_factory=list)
    flagged: dict[int, list[str]] = field(default_factory=dict)  # batch -> drifting features
    # Series the champion could not forecast (too little history for it): counted as rejected.
    unscored: list[str] = field(default_factory=list)
    duration_s: float = 0.0


@dataclass(frozen=True)
class Plan:
    """What to score: batch b covers _row_id in (b * chunk_size, (b + 1) * chunk_size]."""

    chunk_size: int
    batches: tuple[int, ...]
    only_unscored: bool  # read only rows without a prediction of this version
    replace: bool  # rows read may have predictions already (--force): delete before insert


def entity_expression(table: sa.Table, id_column: str) -> sa.ColumnElement[str]:
    """The input row's ledger key as SQL (the Kind's id rendered as text)."""
    return sa.cast(table.c[id_column], sa.String)


def plan(
    engine: Engine, task: Task, table: sa.Table, version_id: int, *, chunk_size: int,
    force: bool = False, batches: Sequence[int] | None = None,
) -> Plan:
    """Batches over the _row_id range: fixed ranges, so a re-run hits the same batch."""
    if chunk_size < 1:
        raise ScoreError(f"--chunk-size must be at least 1, got {chunk_size}")
    with engine.connect() as conn:
        low, high = conn.execute(sa.select(sa.func.min(table.c[ROW_ID]),
                                           sa.func.max(table.c[ROW_ID]))).one()
        scored = conn.execute(
            sa.select(predictions.c.id).where(predictions.c.task == task.name,
                                              predictions.c.model_version_id == version_id).limit(1)
        ).first() is not None
    if low is None:
        raise ScoreError(
            f"table {table.name} is empty: ingest rows first (verticals ingest {task.name})"
        )
    every = range((low - 1) // chunk_size, (high - 1) // chunk_size + 1)
    chosen = tuple(every) if batches is None else tuple(b for b in batches if b in every)
    return Plan(chunk_size, chosen, only_unscored=scored and not force, replace=scored and force)


def batch_filter(
    table: sa.Table, id_column: str, task: Task, version_id: int, batch: int, p: Plan
) -> sa.ColumnElement[bool]:
    """The batch's _row_id range (rows already scored are dropped after the read, by
    `read_batch` via `scored_keys`: an anti-join here goes quadratic on PostgreSQL without
    statistics)."""
    rows = table.c[ROW_ID]
    return sa.and_(rows > batch * p.chunk_size, rows <= (batch + 1) * p.chunk_size)


def scored_keys(conn: sa.Connection, task: Task, version_id: int, keys: pd.Series) -> set[str]:
    """Which of `keys` (ledger entity keys) this version has scored: one look-up on the
    ledger's unique index (task, version, entity_key, ...) per batch, where a NOT EXISTS over
    the batch became a nested loop over the whole ledger on PostgreSQL tables without
    statistics (issue #15: a resumed run wrote 0 rows in 87 s)."""
    return present_values(conn, predictions.c.entity_key, keys.unique().tolist(),
                          predictions.c.task == task.name,
                          predictions.c.model_version_id == version_id)


def read_batch(
    conn: sa.Connection, task: Task, table: sa.Table, version_id: int, batch: int, p: Plan
) -> pd.DataFrame:
    where = sa.and_(batch_filter(table, task.kind.entity, task, version_id, batch, p),
                    held_clause(conn, task, table))  # batches the quality gate holds wait
    columns = task.kind.scoring_columns(task)
    if not p.only_unscored:
        return read_task_frame(conn, task, where, columns=columns)
    # The keys first (one narrow column): a batch scored already is not read at all.
    entity = task.kind.entity
    keys = read_task_frame(conn, task, where, columns=[entity])[entity].astype(str)
    scored = scored_keys(conn, task, version_id, keys) if len(keys) else set()
    if len(scored) == keys.nunique():
        return read_task_frame(conn, task, where, columns=columns, limit=0)
    frame = read_task_frame(conn, task, where, columns=columns)
    if scored:
        frame = frame[~frame[entity].astype(str).isin(scored).to_numpy()].reset_index(drop=True)
    return frame


def predict_batch(
    task: Task, predictor: Any, frame: pd.DataFrame, reference: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Ledger rows and PSI per feature for one batch of raw rows."""
    features = task.feature_frame(frame)
    ledger = predictor.predict(features)
    drift = psi(reference, features) if reference else {}
    return ledger, drift


def period_column(task: Task) -> str | None:
    """The date column PSI by month groups by: the schema's first date field (the credit
    page's rule, core.fields), or None when it has none."""
    return next((f.name for f in schema_fields(task.schema) if f.kind == "date"), None)


def batch_profile(task: Task, frame: pd.DataFrame,
                  reference: dict[str, Any]) -> pd.DataFrame | None:
    """The batch's scored rows per month, feature and reference bucket (profile_counts), or
    None when the Task has no date column or the champion no reference."""
    period = period_column(task)
    if period is None or not reference:
        return None
    return profile_rows(frame, reference, period)


def write_batch(
    conn: sa.Connection, task: Task, table: sa.Table, *, version_id: int, run_id: int,
    batch: int, p: Plan | None, ledger: pd.DataFrame, drift: dict[str, float],
    reference_size: int, profile: pd.DataFrame | None = None,
) -> None:
    """Replace this batch's predictions, drift rows and summaries (score_bins, and
    profile_counts when `profile` is given); the caller holds the transaction.

    Row-range batches (`p`, their Plan) under --force delete the range's predictions first;
    grouped batches (series, slices; no Plan) replace forecasts at the same origins instead
    (replace_forecasts)."""
    id_column = task.kind.entity
    recount = {batch}
    if p is not None and p.replace:
        rows = table.c[ROW_ID]
        keys = sa.select(entity_expression(table, id_column)).where(
            rows > batch * p.chunk_size, rows <= (batch + 1) * p.chunk_size)
        replaced = [predictions.c.task == task.name,
                    predictions.c.model_version_id == version_id,
                    predictions.c.entity_key.in_(keys)]
        # Rows scored at another --chunk-size carry other batch numbers: recount those too.
        recount |= set(conn.execute(sa.select(predictions.c.batch).where(*replaced)
                                    .distinct()).scalars())
        conn.execute(predictions.delete().where(*replaced))
    conn.execute(drift_reports.delete().where(
        drift_reports.c.task == task.name, drift_reports.c.model_version_id == version_id,
        drift_reports.c.batch == batch))
    ledger = ledger.assign(task=task.name, model_version_id=version_id, run_id=run_id, batch=batch)
    insert_frame(conn, predictions, ledger)
    if p is not None and not p.replace:  # only new rows: add them to the batch's counts
        add_score_bins(conn, task.name, version_id, batch, ledger)
    else:  # rows were replaced (--force, a forecast at the same origin): recount from SQL
        refresh_score_bins(conn, task.name, version_id, recount)
    period = period_column(task)
    if profile is not None and period is not None:
        write_profile_counts(conn, task.name, version_id, run_id=run_id, batch=batch,
                             period_column=period, counts=profile,
                             replace=p is not None and p.replace)
    if task.after_score is not None:  # same transaction: the batch and its decisions, or neither
        task.after_score(conn, ledger)
    if drift:
        insert_frame(conn, drift_reports, pd.DataFrame({
            "task": task.name, "run_id": run_id, "model_version_id": version_id, "batch": batch,
            "feature": list(drift), "psi": list(drift.values()),
            "flag": [value >= PSI_FLAG for value in drift.values()],
            "reference_rows": reference_size, "batch_rows": len(ledger),
        }))


def _reference(version: Any) -> dict[str, Any]:
    reference = getattr(version, "reference", None) or {}
    return json.loads(reference) if isinstance(reference, str) else dict(reference)


def score(
    engine: Engine, task: Task, *, chunk_size: int = DEFAULT_CHUNK, force: bool = False,
    batches: Sequence[int] | None = None, scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None, version: int | None = None,
) -> ScoreResult:
    """Score rows without a prediction from the champion (all rows in range with `force`).

    Each batch is read, predicted and written in one transaction; a failure stops the run,
    marks it failed and leaves earlier batches committed and the failing one absent.
    """
    # `version`: a challenger shadow-scored beside the champion (its own ledger rows).
    champion = (registry.champion(engine, task.name) if version is None
                else registry.get_version(engine, task.name, version))
    if champion is None:
        raise ScoreError(f"Task {task.name} has no champion: train first "
                         f"(verticals train {task.name})")
    table = ensure_task_table(engine, task)
    params = {"chunk_size": chunk_size, "force": force, "batches": list(batches or []),
              "model_version": champion.version, "scheduler": scheduler}
    started = time.perf_counter()
    with track_run(engine, task, "score", params) as run:
        if chunk_size < 1:
            raise ScoreError(f"--chunk-size must be at least 1, got {chunk_size}")
        if scheduler and engine.dialect.name == "sqlite" and engine.url.database in (
                None, "", ":memory:"):  # workers open the store by URL: they need a shared one
            raise ScoreError("--scheduler needs a file or server database, not in-memory SQLite")
        # The unscored-rows and grouping reads plan on these tables' statistics: a bulk
        # ingest or a killed run's batches since the last ANALYZE leave them stale.
        refresh_statistics(engine, [table, predictions])
        grouped = task.kind.batching is not Batching.ROWS  # whole series or whole slices
        p = None if grouped else plan(engine, task, table, champion.id, chunk_size=chunk_size,
                                      force=force, batches=batches)
        result = ScoreResult(run_id=run.id, model_version=champion.version)
        reference = _reference(champion)
        size = reference_rows(reference)

        def write(batch: int, ledger: pd.DataFrame, drift: dict[str, float],
                  profile: pd.DataFrame | None = None) -> None:
            with engine.begin() as conn:
                if grouped:  # a forecast at the same origin replaces the earlier one
                    replace_forecasts(conn, task, version_id=champion.id, ledger=ledger)
                write_batch(conn, task, table, version_id=champion.id, run_id=run.id,
                            batch=batch, p=p, ledger=ledger, drift=drift, reference_size=size,
                            profile=profile)
            result.rows += len(ledger)
            result.batches.append(batch)
            flagged = [f for f, value in drift.items() if value >= PSI_FLAG]
            if flagged:
                result.flagged[batch] = flagged
            run.rows_in, run.rows_out, run.batches = result.rows, result.rows, len(result.batches)
            heartbeat(engine, run)  # progress in the run history; alive for other hosts

        if grouped:
            work = group_work(engine, task, champion.id, chunk_size, force, batches)
            parts = (on_workers(engine, scheduler, score_group, task, champion, work, reference)
                     if scheduler else _score_groups(engine, task, champion, work, reference))
            for batch, group in parts:
                if len(group.ledger):
                    write(batch, group.ledger, group.drift)
                result.unscored += group.unscored
                run.rows_rejected = len(result.unscored)
                if progress is not None:
                    progress(len(group.ledger), len(work))
        else:
            backfill_profiles(engine, task, table, champion.id, reference, p.chunk_size)
            parts = (on_workers(engine, scheduler, score_partition, task, champion,
                                  [(b, p) for b in p.batches], reference) if scheduler
                     else _score_local(engine, task, table, champion, p, reference))
            # Sequential on purpose: a prefetching reader and a background writer were measured
            # slower on 2 cores (they starve LightGBM's OpenMP threads: predict 6.0 s -> 10.6 s).
            for batch, ledger, drift, profile in parts:
                if len(ledger):
                    write(batch, ledger, drift, profile)
                if progress is not None:
                    progress(len(ledger), len(p.batches))
        # The pages plan on these: a ledger analysed when it was empty sorts a million rows for
        # a page of 50 (PostgreSQL; autovacuum may be off, see refresh_statistics).
        refresh_statistics(engine, [predictions, score_bins, profile_counts])
    result.duration_s = time.perf_counter() - started
    return result


Part = tuple[int, pd.DataFrame, dict[str, float], pd.DataFrame | None]


def _score_local(
    engine: Engine, task: Task, table: sa.Table, champion: Any, p: Plan, reference: dict[str, Any]
) -> Iterator[Part]:
    predictor = registry.load_predictor(engine, task, champion.version)

    for batch in p.batches:
        with engine.connect() as conn:
            frame = read_batch(conn, task, table, champion.id, batch, p)
        if not len(frame):
            yield batch, frame, {}, None
            continue
        ledger, drift = predict_batch(task, predictor, frame, reference)
        yield batch, ledger, drift, batch_profile(task, frame, reference)


def backfill_profiles(engine: Engine, task: Task, table: sa.Table, version_id: int,
                      reference: dict[str, Any], chunk_size: int) -> list[int]:
    """Bring the version's summaries level with its ledger: score_bins recounted when they do
    not add up to it (ledger rows written or deleted by another path), then the input rows of
    the batches profile_counts lacks (scored before revision 0008) counted from the rows the
    ledger names, one transaction per batch; returns those batches. Two small reads once every
    batch is counted."""
    with engine.begin() as conn:
        if not covers(conn, task.name, version_id, exact=True):  # rows written/deleted elsewhere
            # Every batch of the ledger and of the summary: one all gone is dropped too.
            batches = [sa.select(t.c.batch).where(t.c.task == task.name,
                                                  t.c.model_version_id == version_id).distinct()
                       for t in (predictions, score_bins)]
            refresh_score_bins(conn, task.name, version_id,
                               conn.execute(sa.union(*batches)).scalars())
    period = period_column(task)
    if period is None or not reference:
        return []
    with engine.connect() as conn:
        gaps = profile_gaps(conn, task.name, version_id, period)
        if not gaps:
            return []
        scored = conn.execute(
            sa.select(predictions.c.entity_key, predictions.c.batch)
            .where(predictions.c.task == task.name, predictions.c.model_version_id == version_id,
                   predictions.c.output == PRIMARY_OUTPUT, predictions.c.batch.in_(gaps))).all()
        batch_of = pd.Series([b for _, b in scored], index=[k for k, _ in scored], dtype="int64")
        batch_of = batch_of[~batch_of.index.duplicated()]  # an entity at several times: once
        low, high = conn.execute(sa.select(sa.func.min(table.c[ROW_ID]),
                                           sa.func.max(table.c[ROW_ID]))).one()
    entity = task.kind.entity
    columns = list(dict.fromkeys([entity, period, *(c for c in reference if c in table.c)]))
    parts: dict[int, list[pd.DataFrame]] = {b: [] for b in gaps}
    rows = table.c[ROW_ID]
    for start in range(low - 1 if low is not None else 0, high or 0, chunk_size):
        with engine.connect() as conn:
            frame = read_task_frame(conn, task, sa.and_(rows > start, rows <= start + chunk_size),
                                    columns=columns)
        batches = batch_of.reindex(frame[entity].astype(str).to_numpy())
        for batch, part in frame.groupby(batches.to_numpy(), sort=False):
            parts[int(batch)].append(profile_rows(part, reference, period))
    for batch, counted in parts.items():
        counts = (pd.concat(counted).groupby(["month", "feature", "bucket"], dropna=False,
                                             as_index=False)["rows"].sum()
                  if counted else pd.DataFrame(columns=["month", "feature", "bucket", "rows"]))
        with engine.begin() as conn:  # no run_id: this run's own rows of the batch add to it
            write_profile_counts(conn, task.name, version_id, run_id=None, batch=batch,
                                 period_column=period, counts=counts, replace=True)
    return gaps


# --- Grouped scoring (pipelines/score_groups.py): whole series or whole time slices ---------


def group_work(engine: Engine, task: Task, version_id: int, chunk_size: int, force: bool,
               batches: Sequence[int] | None) -> list[tuple[int, list[Any]]]:
    """(batch, keys) to score: every chosen group; for SLICES without --force only the slices
    not forecast yet (new slices arrived by ingest)."""
    groups = batch_keys(engine, task, chunk_size)
    if not groups:
        raise ScoreError(f"table {ensure_task_table(engine, task).name} is empty: ingest rows "
                         f"first (verticals ingest {task.name})")
    chosen = [b for b in (batches if batches is not None else range(len(groups)))
              if b < len(groups)]
    work = [(b, groups[b]) for b in chosen]
    if task.kind.batching is Batching.SLICES and not force:
        done = scored_origins(engine, task, version_id)
        work = [(b, fresh) for b, keys in work if (fresh := fresh_slices(keys, done))]
    return work


def _score_groups(
    engine: Engine, task: Task, champion: Any, work: list[tuple[int, list[Any]]],
    reference: dict[str, Any],
) -> Iterator[tuple[int, GroupResult]]:
    predictor = registry.load_predictor(engine, task, champion.version)
    for batch, keys in work:
        frame = read_group(engine, task, keys)
        yield batch, predict_group(task, predictor, frame, keys, reference)


# --- Dask scale-out: partitions are batches (row ranges or series groups), read and predicted
# on the workers; the driver writes each in its own transaction ------------------------------


def score_partition(
    url: str, task: Task, version: int, version_id: int, batch: int, p: Plan,
    reference: dict[str, Any],
) -> Part:
    """Runs on a Dask worker: read one _row_id range, predict it, return ledger rows, PSI and
    the batch's profile counts."""
    engine = worker_engine(url)
    table = ensure_task_table(engine, task)  # the store's Table object: clauses must share it
    with engine.connect() as conn:
        frame = read_batch(conn, task, table, version_id, batch, p)
    if not len(frame):
        return batch, frame, {}, None
    ledger, drift = predict_batch(task, worker_predictor(url, task, version), frame, reference)
    return batch, ledger, drift, batch_profile(task, frame, reference)


def score_group(
    url: str, task: Task, version: int, version_id: int, batch: int, keys: list[Any],
    reference: dict[str, Any],
) -> tuple[int, GroupResult]:
    """Runs on a Dask worker: read whole series (or slices' histories) and forecast them."""
    frame = read_group(worker_engine(url), task, keys)
    return batch, predict_group(task, worker_predictor(url, task, version), frame, keys,
                                reference)
