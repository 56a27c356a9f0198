"""A hand-made populated store (rows written directly) whose aggregates the tests know exactly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from core.monitor import reference_profile
from core.store.bulk import insert_frame
from core.store.engine import ensure_task_table
from core.store.schema import (
    aliases,
    drift_reports,
    model_versions,
    pipeline_runs,
    predictions,
    quarantine,
)
from core.task import Task
from tests.fakes import fake_sample

ROWS = 120
OTHER_OUTPUT, OTHER_OUTPUT_ROWS = "fraud", 10
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Store:
    """What was written, for the assertions."""

    task: Task
    frame: pd.DataFrame
    champion_id: int
    other_id: int


def _run(conn: sa.Connection, task: str, pipeline: str, minutes: int, **counts: int) -> int:
    started = T0 + timedelta(minutes=minutes)
    return conn.execute(pipeline_runs.insert().values(
        task=task, pipeline=pipeline, status=counts.pop("status_failed", 0) and "failed"
        or "succeeded", started_at=started, finished_at=started + timedelta(seconds=3),
        duration_s=3.0, **counts)).inserted_primary_key[0]


def _version(conn: sa.Connection, task: str, version: int, model: str, auc: float, run: int,
             reference: dict) -> int:
    return conn.execute(model_versions.insert().values(
        task=task, version=version, model=model, format="fake-json",
        created_at=T0 + timedelta(minutes=10 + version), run_id=run, profile="smoke",
        dataset="store", train_rows=100, primary_metric="auc", primary_value=auc,
        metrics=json.dumps({"auc": auc, "ks": round(auc / 2, 4), "brier": 0.2}),
        params=json.dumps({}), reference=json.dumps(reference),
        artifact_path=f"artifacts/{task}/{version}", artifact_sha256="0" * 64,
    )).inserted_primary_key[0]


def populate(engine: sa.Engine, task: Task) -> Store:
    """Input rows, two versions (v2 champion, AUC 0.8123), a scored ledger (the primary output
    of every row, OTHER_OUTPUT of the first few), drift, quarantine."""
    table = ensure_task_table(engine, task)
    frame = fake_sample(ROWS, seed=3)
    with engine.begin() as conn:
        ingest = _run(conn, task.name, "ingest", 0, rows_in=ROWS + 2, rows_out=ROWS,
                      rows_rejected=2)
        insert_frame(conn, table, frame.assign(_run_id=ingest))
        train = _run(conn, task.name, "train", 5, rows_in=ROWS, rows_out=2)
        reference = reference_profile(frame, ["amount", "months", "owner", "region"])
        other = _version(conn, task.name, 1, "logistic", 0.7012, train, reference)
        champion = _version(conn, task.name, 2, "boosting", 0.8123, train, reference)
        conn.execute(aliases.insert().values(task=task.name, alias="champion",
                                             model_version_id=champion, updated_at=T0))
        score = _run(conn, task.name, "score", 20, rows_in=ROWS, rows_out=ROWS, batches=2)
        scores = np.arange(ROWS) / ROWS  # 0, 1/120, ..., 119/120: bins are exact
        insert_frame(conn, predictions, pd.DataFrame({
            "task": task.name, "model_version_id": champion, "run_id": score,
            "batch": np.arange(ROWS) // 60, "entity_key": frame["application_id"],
            "as_of": pd.Timestamp("1970-01-01"), "horizon": 0, "score": scores,
            "label": np.where(scores >= 0.5, "bad", "good"), "lower": np.nan, "upper": np.nan,
            "payload": [json.dumps({"points": 600 - i}) for i in range(ROWS)],
            "reasons": [json.dumps([{"feature": "months", "value": int(m), "effect": 0.42},
                                    {"feature": "region", "value": "north", "effect": -0.1}])
                        for m in frame["months"]],
        }))
        # A second output of the first entities (a Kind with several): never "the" prediction.
        insert_frame(conn, predictions, pd.DataFrame({
            "task": task.name, "model_version_id": champion, "run_id": score, "batch": 0,
            "entity_key": frame["application_id"].iloc[:OTHER_OUTPUT_ROWS], "output": OTHER_OUTPUT,
            "as_of": pd.Timestamp("1970-01-01"), "step": 0, "horizon": 0, "score": 0.9,
            "label": "flag", "lower": np.nan, "upper": np.nan, "payload": None, "reasons": None,
        }))
        insert_frame(conn, drift_reports, pd.DataFrame({
            "task": task.name, "run_id": score, "model_version_id": champion,
            "batch": [0, 0, 1, 1], "feature": ["months", "region", "months", "region"],
            "psi": [0.05, 0.25, 0.31, 0.1], "flag": [False, True, True, False],
            "reference_rows": ROWS, "batch_rows": 60,
        }))
        conn.execute(quarantine.insert(), [
            {"task": task.name, "run_id": ingest, "source": "sample.csv", "row_number": n,
             "column": "months", "value": "-1", "rule": "in_range(1, 72)"} for n in (4, 9)])
    return Store(task=task, frame=frame, champion_id=champion, other_id=other)


def store_with_ingest(path: Path, ingest_params: dict | None) -> str:
    """A SQLite store at `path` populated with the fake Task, its ingest run's params replaced
    by `ingest_params` (what marks a sample as synthetic or names a real file)."""
    from core.store.engine import make_engine, migrate
    from tests.fakes import make_task

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    populate(engine, make_task())
    with engine.begin() as conn:
        conn.execute(pipeline_runs.update().where(pipeline_runs.c.pipeline == "ingest")
                     .values(params=json.dumps(ingest_params) if ingest_params else None))
    engine.dispose()
    return url
