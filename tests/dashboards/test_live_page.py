"""The Task page shows live accuracy beside the training-time figure, the schedules with their
next run and the champion's history, on SQLite and PostgreSQL (AppTest)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from core.store.schema import schedules
from dashboards.testing import open_page
from pipelines.gate import monitor, score_with_shadow
from pipelines.ingest import ingest
from pipelines.train import train
from tests.fakes import make_task
from tests.pipelines.test_gate import TRAINED, RetrainingKind, rows


def test_the_task_page_shows_live_accuracy_schedules_and_champion_history(
        engine: sa.Engine, db_url: str) -> None:
    TRAINED.clear()
    task = make_task("test.live_page", kind=RetrainingKind(later=[0.5]))
    ingest(engine, task, lambda: rows(0, 40), source="first")
    train(engine, task, profile="smoke")
    score_with_shadow(engine, task)
    assert monitor(engine, task, profile="smoke").decision == "retrain"
    with engine.begin() as conn:
        conn.execute(schedules.insert().values(
            task=task.name, pipeline="score", cron="0 22 * * 1-5", options=json.dumps({}),
            created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    at = open_page(task.name, db_url, registry={task.name: task}, timeout=60)
    assert not at.exception, at.exception
    headers = [h.value for h in at.subheader]
    assert {"Live accuracy", "Schedules", "Champion history"} <= set(headers)
    captions = "\n".join(c.value for c in at.caption)
    assert "Training-time" in captions and "gate: live auc ≥ 0.6" in captions
    frames = [f.value for f in at.dataframe]
    plans = next(f for f in frames if "cron" in f.columns)
    assert plans["cron"].tolist() == ["0 22 * * 1-5"] and plans["next run"].notna().all()
    history = next(f for f in frames if "decision" in f.columns)
    assert history["decision"].tolist() == ["retrain"]
    assert len(at.get("plotly_chart")) >= 1
