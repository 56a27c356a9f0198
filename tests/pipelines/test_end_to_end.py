"""ingest -> train (smoke) -> score of the reference Task on its data_samples file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from core import registry
from core.store.engine import ensure_task_table
from core.store.schema import drift_reports, pipeline_runs, predictions
from core.task import get_task
from pipelines.demo import SampleNotFoundError, sample_file
from pipelines.ingest import ingest_file
from pipelines.score import score
from pipelines.train import train

TASK = get_task("finance.credit_scoring")


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """data_samples/finance_credit_scoring.csv, or the same generator's output when absent."""
    try:
        return sample_file(TASK)
    except SampleNotFoundError:
        path = tmp_path / "finance_credit_scoring.csv"
        TASK.sample(TASK.sample_rows, 0).to_csv(path, index=False)
        return path


def _frame(engine: sa.Engine, query: sa.Select) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).mappings().all())


def test_ingest_train_score(engine: sa.Engine, sample: Path) -> None:
    rows = len(pd.read_csv(sample))
    ingested = ingest_file(engine, TASK, sample)
    assert (ingested.accepted, ingested.quarantined) == (rows, 0)

    # Every candidate once (SQLite); the dialect-specific part needs only two on PostgreSQL.
    everyone = engine.dialect.name == "sqlite"
    trained = train(engine, TASK, profile="smoke",
                    models=None if everyone else ("scorecard", "lightgbm"))
    expected = {"scorecard", "lightgbm", "tabular_net"} if everyone else {"scorecard", "lightgbm"}
    assert {v.model for v in trained.versions} >= expected
    champion = registry.champion(engine, TASK.name)
    assert champion is not None and champion.id == trained.champion.id
    assert champion.primary_value == max(v.primary_value for v in trained.versions)

    chunk = 1000
    result = score(engine, TASK, chunk_size=chunk)
    batches = -(-rows // chunk)
    assert (result.rows, result.batches) == (rows, list(range(batches)))
    ledger = _frame(engine, sa.select(predictions))
    assert len(ledger) == rows and ledger["entity_key"].is_unique
    assert set(ledger["model_version_id"]) == {champion.id}
    assert ledger["score"].between(0, 1).all()
    assert set(ledger["label"]) <= {"approve", "decline"}
    reasons = ledger["reasons"].map(json.loads)
    assert reasons.map(len).eq(3).all()
    assert {"feature", "value", "effect"} <= set(reasons.iloc[0][0])
    table = ensure_task_table(engine, TASK)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(table.c.application_id)).scalars())
    assert set(ledger["entity_key"]) == ids

    drift = _frame(engine, sa.select(drift_reports))
    features = champion.reference.keys()
    assert len(drift) == batches * len(features)
    assert drift.groupby("batch")["feature"].apply(set).map(lambda s: s == set(features)).all()
    assert (drift["flag"] == (drift["psi"] >= 0.2)).all()

    again = score(engine, TASK, chunk_size=chunk)
    assert again.rows == 0 and len(_frame(engine, sa.select(predictions.c.id))) == rows
    forced = score(engine, TASK, chunk_size=chunk, force=True, batches=[1])
    assert forced.rows == chunk
    after = _frame(engine, sa.select(predictions.c.entity_key, predictions.c.run_id,
                                     predictions.c.batch))
    assert len(after) == rows and set(after.loc[after["batch"] == 1, "run_id"]) == {forced.run_id}

    runs = _frame(engine, sa.select(pipeline_runs).order_by(pipeline_runs.c.id))
    assert runs["pipeline"].tolist() == ["ingest", "train", "score", "score", "score"]
    assert (runs["status"] == "succeeded").all()
    assert runs[["rows_in", "rows_out", "batches"]].values.tolist() == [
        [rows, rows, 0], [rows, len(trained.versions), 0], [rows, rows, batches], [0, 0, 0],
        [chunk, chunk, 1]]
