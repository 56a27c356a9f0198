"""Score: batches, one transaction each, replace-not-duplicate, failure leaves the batch absent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from core.kinds.base import Candidate
from core.monitor import reference_profile
from core.store.schema import drift_reports, pipeline_runs, predictions
from pipelines.ingest import ingest
from pipelines.score import ScoreError, score
from pipelines.train import train
from tests.fakes import FakeKind, FakePredictor, fake_sample, make_task

FEATURES = ["amount", "months", "region"]


@dataclass(frozen=True)
class ProfilingKind(FakeKind):
    """The fake Kind with a real drift reference, as core.monitor builds it."""

    def train(self, task: Any, frame: pd.DataFrame, **_: Any) -> list[Candidate]:
        return [Candidate(name="fake", predictor=FakePredictor(), metrics={"auc": 0.7},
                          params={}, train_rows=len(frame),
                          reference=reference_profile(frame, FEATURES))]


TASK = make_task("test.score", kind=ProfilingKind())


def _ingest(engine: sa.Engine, frame: pd.DataFrame) -> None:
    ingest(engine, TASK, lambda: frame, source="frame")


def _predictions(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(predictions.c.entity_key, predictions.c.batch,
                                      predictions.c.run_id, predictions.c.score)
                            .order_by(predictions.c.entity_key)).all()
    return pd.DataFrame(rows, columns=["entity_key", "batch", "run_id", "score"])


def _drift(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(drift_reports.c.batch, drift_reports.c.feature,
                                      drift_reports.c.batch_rows, drift_reports.c.flag)).all()
    return pd.DataFrame(rows, columns=["batch", "feature", "batch_rows", "flag"])


def _last_run(engine: sa.Engine) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id.desc())).first()


@pytest.fixture
def trained(engine: sa.Engine) -> sa.Engine:
    _ingest(engine, fake_sample(120, seed=3))
    train(engine, TASK, profile="smoke")
    return engine


def test_score_writes_each_row_once_in_fixed_batches(trained: sa.Engine) -> None:
    result = score(trained, TASK, chunk_size=50)
    assert (result.rows, result.batches) == (120, [0, 1, 2])
    scored = _predictions(trained)
    assert len(scored) == 120 and scored["entity_key"].is_unique
    assert scored.groupby("batch").size().to_dict() == {0: 50, 1: 50, 2: 20}
    drift = _drift(trained)
    assert len(drift) == 3 * len(FEATURES)
    assert drift.groupby("batch")["batch_rows"].first().to_dict() == {0: 50, 1: 50, 2: 20}
    run = _last_run(trained)
    assert (run.pipeline, run.status, run.rows_in, run.rows_out, run.batches) == (
        "score", "succeeded", 120, 120, 3)

    again = score(trained, TASK, chunk_size=50)  # nothing left unscored
    assert (again.rows, again.batches) == (0, [])
    assert len(_predictions(trained)) == 120

    forced = score(trained, TASK, chunk_size=50, force=True, batches=[1])
    assert (forced.rows, forced.batches) == (50, [1])
    after = _predictions(trained)
    assert len(after) == 120 and after["entity_key"].is_unique
    assert set(after.loc[after["batch"] == 1, "run_id"]) == {forced.run_id}
    assert len(_drift(trained)) == 3 * len(FEATURES)


def test_new_rows_are_scored_alone(trained: sa.Engine) -> None:
    score(trained, TASK, chunk_size=50)
    _ingest(trained, fake_sample(130, seed=3).iloc[120:].reset_index(drop=True)
            .assign(application_id=lambda f: "B" + f["application_id"]))
    result = score(trained, TASK, chunk_size=50)
    assert (result.rows, result.batches) == (10, [2])
    assert len(_predictions(trained)) == 130


def test_failed_batch_leaves_nothing_of_it(
    trained: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = FakePredictor.predict

    def flaky(self: FakePredictor, frame: pd.DataFrame) -> pd.DataFrame:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("model exploded on chunk 2")
        return original(self, frame)

    monkeypatch.setattr(FakePredictor, "predict", flaky)
    with pytest.raises(RuntimeError, match="exploded"):
        score(trained, TASK, chunk_size=50)
    scored = _predictions(trained)
    assert set(scored["batch"]) == {0} and len(scored) == 50
    assert set(_drift(trained)["batch"]) == {0}
    run = _last_run(trained)
    assert run.status == "failed" and "model exploded on chunk 2" in run.error
    assert (run.rows_out, run.batches) == (50, 1)

    monkeypatch.setattr(FakePredictor, "predict", original)
    resumed = score(trained, TASK, chunk_size=50)  # picks up where the failure stopped
    assert (resumed.rows, resumed.batches) == (70, [1, 2])
    assert len(_predictions(trained)) == 120


def test_write_failure_rolls_back_the_batch(
    trained: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.score as module

    real = module.insert_frame

    def failing(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
        real(conn, table, frame)
        if table is drift_reports:  # predictions already written in this transaction
            raise RuntimeError("disk full")
        return len(frame)

    monkeypatch.setattr(module, "insert_frame", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        score(trained, TASK, chunk_size=50)
    assert len(_predictions(trained)) == 0 and len(_drift(trained)) == 0


def test_score_without_champion_is_a_clear_error(engine: sa.Engine) -> None:
    with pytest.raises(ScoreError, match="no champion"):
        score(engine, TASK)


def test_dask_partitions_match_the_local_path(trained: sa.Engine) -> None:
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        result = score(trained, TASK, chunk_size=50, scheduler=cluster.scheduler_address)
    assert (result.rows, sorted(result.batches)) == (120, [0, 1, 2])
    scored = _predictions(trained)
    assert scored.groupby("batch").size().to_dict() == {0: 50, 1: 50, 2: 20}
    assert len(_drift(trained)) == 3 * len(FEATURES)


def test_the_dask_scheduler_refuses_an_in_memory_store_before_scoring() -> None:
    from core.store.engine import make_engine, migrate

    memory = make_engine("sqlite://")
    migrate(memory)
    _ingest(memory, fake_sample(40, seed=3))
    train(memory, TASK, profile="smoke")
    # Workers open the store by its URL: an in-memory database would be a new, empty one.
    with pytest.raises(ScoreError, match="not in-memory SQLite"):
        score(memory, TASK, scheduler="local")
    assert len(_predictions(memory)) == 0
    assert (_last_run(memory).pipeline, _last_run(memory).status) == ("score", "failed")
    memory.dispose()
