"""Live accuracy: ledger predictions joined with the outcomes that arrived by ingest, the
realised metrics per model version, scored batch and month, stored in `live_metrics`."""

from __future__ import annotations

import math

import pandas as pd
import sqlalchemy as sa

from core.store.engine import ensure_task_table, read_task_frame
from core.store.schema import live_metrics, predictions, utcnow
from core.task import Task


def ledger(engine: sa.Engine, task: Task) -> pd.DataFrame:
    """Every ledger row of the Task (champion and shadow versions alike)."""
    statement = sa.select(predictions).where(predictions.c.task == task.name)
    with engine.connect() as conn:
        return pd.read_sql(statement, conn)


def realised(engine: sa.Engine, task: Task) -> pd.DataFrame:
    """Ledger rows whose outcome arrived (Kind.realised), with model_version_id and batch."""
    ensure_task_table(engine, task)
    with engine.connect() as conn:
        frame = read_task_frame(conn, task)
    return task.kind.realised(task, frame, ledger(engine, task))


def _rows(task: Task, version_id: int, scope: str, period: str,
          metrics: dict[str, float]) -> list[dict]:
    n = int(metrics.get("n", 0))
    now = utcnow()
    return [{"task": task.name, "model_version_id": version_id, "scope": scope,
             "period": period, "metric": name,
             "value": None if value is None or math.isnan(value) else float(value),
             "n": n, "computed_at": now}
            for name, value in metrics.items() if name != "n"]


def refresh_live(engine: sa.Engine, task: Task) -> int:
    """Recompute and replace the Task's live metrics (all, per batch, per month) for every
    version with outcomes; returns the rows written. Re-running rewrites, never duplicates."""
    joined = realised(engine, task)
    rows: list[dict] = []
    for version_id, part in joined.groupby("model_version_id"):
        kind = task.kind
        rows += _rows(task, int(version_id), "all", "all", kind.live_metrics(part))
        for batch, group in part.groupby("batch"):
            rows += _rows(task, int(version_id), "batch", str(int(batch)),
                          kind.live_metrics(group))
        months = pd.to_datetime(part["at"]).dt.strftime("%Y-%m")
        for month, group in part.groupby(months):
            rows += _rows(task, int(version_id), "month", str(month), kind.live_metrics(group))
    with engine.begin() as conn:
        conn.execute(live_metrics.delete().where(live_metrics.c.task == task.name))
        if rows:
            conn.execute(live_metrics.insert(), rows)
    return len(rows)


def live_frame(engine: sa.Engine, task_name: str, scope: str | None = None) -> pd.DataFrame:
    """Stored live metrics of a Task (optionally one scope), with the model version number."""
    from core.store.schema import model_versions

    statement = (sa.select(live_metrics, model_versions.c.version)
                 .join(model_versions, model_versions.c.id == live_metrics.c.model_version_id)
                 .where(live_metrics.c.task == task_name)
                 .order_by(live_metrics.c.scope, live_metrics.c.period, model_versions.c.version))
    if scope is not None:
        statement = statement.where(live_metrics.c.scope == scope)
    with engine.connect() as conn:
        return pd.read_sql(statement, conn)
