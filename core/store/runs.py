"""pipeline_runs bookkeeping: one row per run with status, counts, duration and error; the
run lock (one live ingest, train or score run per Task) and the marking of runs whose process
died as `interrupted` (docs/architecture.md, "Run lock")."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import psutil  # a dependency of dask.distributed: whether a pid is still the run's process
import sqlalchemy as sa

from core.store.schema import (
    LOCKED_PIPELINES,
    RUN_ID,
    model_versions,
    pipeline_runs,
    predictions,
    quarantine,
    task_table_name,
    utcnow,
)

if TYPE_CHECKING:
    from core.task import Task

PIPELINES = ("ingest", "train", "score", "bench", "demo", "monitor")
# What started the runs of this context: "hand" (a command), "schedule" or "retrain"; the
# scheduler and the gate set it, track_run records it in the run's params.
TRIGGER: ContextVar[str] = ContextVar("verticals_run_trigger", default="hand")
RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"
# A run on another host whose heartbeat is older than this is presumed dead (its pid cannot
# be checked from here). Score beats once per batch, ingest around its one write.
STALE_ENV, STALE_DEFAULT_S = "VERTICALS_RUN_STALE_S", 3600.0


class RunInProgress(RuntimeError):
    """Another live run of the same Task and pipeline holds the run lock."""


@dataclass
class RunRecord:
    """The run in progress: its row id and the counters the pipeline bumps as it goes."""

    id: int
    task: str
    pipeline: str
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    batches: int = 0

    def counts(self) -> dict[str, int]:
        return {"rows_in": self.rows_in, "rows_out": self.rows_out,
                "rows_rejected": self.rows_rejected, "batches": self.batches}


def _error_text(error: BaseException) -> str:
    # First line for the dashboards' run history, then the traceback for whoever debugs it.
    headline = "".join(traceback.format_exception_only(error)).strip()
    return f"{headline}\n\n{''.join(traceback.format_exception(error)).strip()}"


def _stale_after() -> timedelta:
    text = os.environ.get(STALE_ENV, "")
    try:
        seconds = float(text) if text else STALE_DEFAULT_S
    except ValueError as error:
        raise ValueError(f"{STALE_ENV}={text!r} is not a number of seconds") from error
    return timedelta(seconds=seconds)


def process_gone(row: Any, host: str, now: datetime) -> bool:
    """Whether the process that owns a `running` run row is known to be dead.

    The rule (docs/architecture.md, "Run lock"): a row without a pid predates revision 0007
    and is presumed dead; on this host the pid decides (no such process, a zombie, or a
    process started after the run did: the pid was reused); on another host the run is
    presumed dead once its heartbeat (or its start) is older than VERTICALS_RUN_STALE_S.
    """
    if row.pid is None:
        return True
    if row.host != host:
        return (row.heartbeat_at or row.started_at) < now - _stale_after()
    try:
        process = psutil.Process(row.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        # create_time is rounded to clock ticks: a second of slack.
        return process.create_time() > row.started_at.timestamp() + 1.0
    except psutil.NoSuchProcess:
        return True


def _written(connection: sa.Connection, task: Task | str, row: Any) -> dict[str, int]:
    """What a run left committed, counted from the rows that carry its id."""
    counts = {"rows_out": 0, "rows_rejected": 0, "batches": 0}
    if row.pipeline == "score":
        counts["rows_out"], counts["batches"] = connection.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(predictions.c.batch)))
            .where(predictions.c.run_id == row.id)).one()
    elif row.pipeline == "ingest":
        if not isinstance(task, str):  # the input table's name needs the Task
            table = sa.table(task_table_name(task), sa.column(RUN_ID))
            if sa.inspect(connection).has_table(table.name):
                counts["rows_out"] = connection.execute(
                    sa.select(sa.func.count()).select_from(table)
                    .where(table.c[RUN_ID] == row.id)).scalar_one()
        counts["rows_rejected"] = connection.execute(
            sa.select(sa.func.count(sa.distinct(quarantine.c.row_number)))
            .where(quarantine.c.run_id == row.id)).scalar_one()
    elif row.pipeline == "train":
        counts["rows_out"] = connection.execute(
            sa.select(sa.func.count()).select_from(model_versions)
            .where(model_versions.c.run_id == row.id)).scalar_one()
    return counts


def _mark_interrupted(engine: sa.Engine, task: Task | str, row: Any, by: str) -> None:
    now = utcnow()
    with engine.begin() as connection:
        counts = _written(connection, task, row)
        last = row.heartbeat_at or row.started_at
        connection.execute(
            pipeline_runs.update()
            .where(pipeline_runs.c.id == row.id, pipeline_runs.c.status == RUNNING)
            .values(status=INTERRUPTED, finished_at=now,
                    duration_s=(last - row.started_at).total_seconds(),
                    rows_in=max(row.rows_in, counts["rows_out"] + counts["rows_rejected"]),
                    error=(f"interrupted: its process (pid {row.pid} on {row.host}) ended "
                           f"without finishing; it had committed {counts['rows_out']} row(s) "
                           f"in {counts['batches']} batch(es). Marked at {now:%Y-%m-%d %H:%M:%S}"
                           f" UTC by {by}; the next run picks up what it left."),
                    **counts)
        )


def _in_progress(row: Any, host: str) -> RunInProgress:
    where = f"pid {row.pid} on {'this host' if row.host == host else row.host}"
    beat = row.heartbeat_at or row.started_at
    hint = ("" if row.host == host else
            f"; if that process is gone, the next run takes over once its heartbeat is older "
            f"than {_stale_after().total_seconds():.0f} s ({STALE_ENV})")
    return RunInProgress(
        f"run {row.id} ({row.pipeline} of {row.task}) is in progress since "
        f"{row.started_at:%Y-%m-%d %H:%M:%S} UTC ({where}, last heartbeat "
        f"{beat:%H:%M:%S} UTC, {row.rows_out} row(s) so far): wait for it to finish, then run "
        f"again (`verticals runs --task {row.task}` shows it){hint}"
    )


def _start(engine: sa.Engine, task: Task | str, task_name: str, pipeline: str,
           values: dict[str, Any]) -> int:
    """Insert the run row; for a locked pipeline a live `running` row of the Task refuses it
    (RunInProgress) and a dead one is marked interrupted first."""
    host, refused = values["host"], None
    for _attempt in range(3):
        try:
            with engine.begin() as connection:
                return connection.execute(
                    pipeline_runs.insert().values(**values).returning(pipeline_runs.c.id)
                ).scalar_one()
        except sa.exc.IntegrityError as error:
            if pipeline not in LOCKED_PIPELINES:
                raise
            refused = error
        with engine.connect() as connection:
            holder = connection.execute(sa.select(pipeline_runs).where(
                pipeline_runs.c.task == task_name, pipeline_runs.c.pipeline == pipeline,
                pipeline_runs.c.status == RUNNING)).first()
        if holder is None:  # it finished in between: try again
            continue
        if not process_gone(holder, host, utcnow()):
            raise _in_progress(holder, host)
        _mark_interrupted(engine, task, holder, by=f"a new {pipeline} run (pid {values['pid']})")
    raise RunInProgress(f"could not start a {pipeline} run of {task_name}: other runs keep "
                        "taking the run lock; see `verticals runs`") from refused


def _mark_dead_runs(engine: sa.Engine, task: Task | str, task_name: str, pipeline: str,
                    run_id: int, host: str) -> None:
    """`running` rows of an unlocked pipeline (bench, monitor) whose process is gone."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(pipeline_runs).where(
            pipeline_runs.c.task == task_name, pipeline_runs.c.pipeline == pipeline,
            pipeline_runs.c.status == RUNNING, pipeline_runs.c.id != run_id)).all()
    now = utcnow()
    for row in rows:
        if process_gone(row, host, now):
            _mark_interrupted(engine, task, row, by=f"run {run_id}")


def heartbeat(engine: sa.Engine, record: RunRecord) -> None:
    """Write the run's counters and heartbeat now (score calls it after every batch), so the
    run history shows progress and another host can tell the run is alive."""
    with engine.begin() as connection:
        connection.execute(pipeline_runs.update().where(pipeline_runs.c.id == record.id)
                           .values(heartbeat_at=utcnow(), **record.counts()))


@contextmanager
def track_run(
    engine: sa.Engine, task: Task | str, pipeline: str, params: Mapping[str, Any] | None = None
) -> Iterator[RunRecord]:
    """Record a pipeline run: `running` on entry, then `succeeded` or `failed` (with the error).

    Each write is its own transaction, so a run whose batch rolled back still shows as failed.
    The exception is re-raised, never swallowed. Ingest, train and score take the run lock:
    while a live run of the same Task and pipeline is `running` a second one raises
    RunInProgress before it writes anything; a run whose process died is marked
    `interrupted` with the rows it committed (process_gone says when).
    """
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown pipeline {pipeline!r}: use one of {', '.join(PIPELINES)}")
    task_name = task if isinstance(task, str) else task.name
    started = utcnow()
    clock = time.perf_counter()
    host = socket.gethostname()[:255]
    run_id = _start(engine, task, task_name, pipeline, {
        "task": task_name, "pipeline": pipeline, "status": RUNNING, "started_at": started,
        "heartbeat_at": started, "host": host, "pid": os.getpid(),
        "params": json.dumps({"trigger": TRIGGER.get(), **dict(params or {})}, default=str,
                             sort_keys=True),
    })
    if pipeline not in LOCKED_PIPELINES:
        _mark_dead_runs(engine, task, task_name, pipeline, run_id, host)
    record = RunRecord(id=run_id, task=task_name, pipeline=pipeline)

    def finish(status: str, error: str | None) -> None:
        with engine.begin() as connection:
            connection.execute(
                pipeline_runs.update().where(pipeline_runs.c.id == run_id).values(
                    status=status, finished_at=utcnow(), heartbeat_at=utcnow(),
                    duration_s=time.perf_counter() - clock, error=error, **record.counts(),
                )
            )

    try:
        yield record
    except BaseException as error:
        try:
            finish(FAILED, _error_text(error))
        except Exception as bookkeeping:
            error.add_note(f"(also: could not mark pipeline run {run_id} failed: {bookkeeping})")
        raise
    finish(SUCCEEDED, None)


def fit_width(text: str, width: int) -> str:
    """`text` as a column of `width` characters keeps it: unchanged when it fits, else a
    digest of the whole and its end (a path's file name is its most telling part)."""
    if len(text) <= width:
        return text
    head = f"sha256:{hashlib.sha256(text.encode()).hexdigest()[:16]}:…"
    return head + text[len(text) - (width - len(head)):]


def runs(engine: sa.Engine, task_name: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest runs (all Tasks, or one), as plain dicts."""
    statement = sa.select(pipeline_runs).order_by(pipeline_runs.c.id.desc()).limit(limit)
    if task_name is not None:
        statement = statement.where(pipeline_runs.c.task == task_name)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(statement).mappings()]
