"""Dashboard reads of the scheduled loop: live accuracy, schedules with next run, champion
history (the gate's decisions)."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import Engine

from core.store.schema import gate_decisions, live_metrics, model_versions, schedules, utcnow


def live_accuracy(engine: Engine, task: str) -> pd.DataFrame:
    """Monthly live metrics per version: version, period, metric, value, n."""
    query = (sa.select(model_versions.c.version, live_metrics.c.period, live_metrics.c.metric,
                       live_metrics.c.value, live_metrics.c.n)
             .join(model_versions, model_versions.c.id == live_metrics.c.model_version_id)
             .where(live_metrics.c.task == task, live_metrics.c.scope == "month")
             .order_by(live_metrics.c.period, model_versions.c.version))
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(),
                            columns=["version", "period", "metric", "value", "n"])


def task_schedules(engine: Engine, task: str, now: datetime | None = None) -> pd.DataFrame:
    """The Task's schedules with their next run (UTC)."""
    columns = ["id", "pipeline", "cron", "options", "paused", "next run", "last run"]
    now = now or utcnow()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schedules).where(schedules.c.task == task)
                            .order_by(schedules.c.id)).mappings().all()
    return pd.DataFrame([{"id": r["id"], "pipeline": r["pipeline"], "cron": r["cron"],
                          "options": r["options"], "paused": bool(r["paused"]),
                          "next run": croniter(r["cron"], now).get_next(datetime),
                          "last run": r["last_run_id"]} for r in rows], columns=columns)


def champion_history(engine: Engine, task: str) -> pd.DataFrame:
    """The gate's decisions, newest first, with their reason and figures."""
    columns = ["at", "decision", "champion", "challenger", "reason", "figures"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(gate_decisions).where(gate_decisions.c.task == task)
                            .order_by(gate_decisions.c.id.desc())).mappings().all()
    return pd.DataFrame([{"at": r["at"], "decision": r["decision"],
                          "champion": r["champion_version"],
                          "challenger": r["challenger_version"], "reason": r["reason"],
                          "figures": json.dumps(json.loads(r["figures"]))} for r in rows],
                        columns=columns)
