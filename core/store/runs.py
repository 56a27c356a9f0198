"""pipeline_runs bookkeeping: one row per run with status, counts, duration and error."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from core.store.schema import pipeline_runs, utcnow

if TYPE_CHECKING:
    from core.task import Task

PIPELINES = ("ingest", "train", "score", "bench", "demo", "monitor")
# What started the runs of this context: "hand" (a command), "schedule" or "retrain"; the
# scheduler and the gate set it, track_run records it in the run's params.
TRIGGER: ContextVar[str] = ContextVar("verticals_run_trigger", default="hand")
RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"


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


@contextmanager
def track_run(
    engine: sa.Engine, task: Task | str, pipeline: str, params: Mapping[str, Any] | None = None
) -> Iterator[RunRecord]:
    """Record a pipeline run: `running` on entry, then `succeeded` or `failed` (with the error).

    Each write is its own transaction, so a run whose batch rolled back still shows as failed.
    The exception is re-raised, never swallowed.
    """
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown pipeline {pipeline!r}: use one of {', '.join(PIPELINES)}")
    task_name = task if isinstance(task, str) else task.name
    started = utcnow()
    clock = time.perf_counter()
    with engine.begin() as connection:
        run_id = connection.execute(
            pipeline_runs.insert().values(
                task=task_name, pipeline=pipeline, status=RUNNING, started_at=started,
                params=json.dumps({"trigger": TRIGGER.get(), **dict(params or {})}, default=str,
                                  sort_keys=True),
            ).returning(pipeline_runs.c.id)
        ).scalar_one()
    record = RunRecord(id=run_id, task=task_name, pipeline=pipeline)

    def finish(status: str, error: str | None) -> None:
        with engine.begin() as connection:
            connection.execute(
                pipeline_runs.update().where(pipeline_runs.c.id == run_id).values(
                    status=status, finished_at=utcnow(),
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


def runs(engine: sa.Engine, task_name: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest runs (all Tasks, or one), as plain dicts."""
    statement = sa.select(pipeline_runs).order_by(pipeline_runs.c.id.desc()).limit(limit)
    if task_name is not None:
        statement = statement.where(pipeline_runs.c.task == task_name)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(statement).mappings()]
