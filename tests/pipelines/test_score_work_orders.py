"""Task.after_score: score fills the work-order queue in each batch's own transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from core.kinds.base import Candidate
from core.monitor import reference_profile
from core.store import work_orders
from core.store.schema import predictions
from core.store.work_orders import WorkOrders
from pipelines.ingest import ingest
from pipelines.score import score
from pipelines.train import train
from tests.fakes import FakeKind, FakePredictor, fake_sample, make_task


@dataclass(frozen=True)
class ProfilingKind(FakeKind):
    """The fake Kind with a real drift reference (as tests/pipelines/test_score.py)."""

    def train(self, task: Any, frame: pd.DataFrame, **_: Any) -> list[Candidate]:
        return [Candidate(name="fake", predictor=FakePredictor(), metrics={"auc": 0.7},
                          params={}, train_rows=len(frame),
                          reference=reference_profile(frame, ["amount", "months"]))]


# The fake predictor says "bad" when its score is above 0.5: here the decision to act on.
TASK = replace(make_task("test.orders", kind=ProfilingKind()),
               after_score=WorkOrders(act="bad", missed_cost=100.0))


@pytest.fixture
def trained(engine: sa.Engine) -> sa.Engine:
    ingest(engine, TASK, lambda: fake_sample(120, seed=3), source="frame")
    train(engine, TASK, profile="smoke")
    return engine


def _ledger(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(predictions.c.entity_key, predictions.c.score,
                                      predictions.c.label)).all()
    return pd.DataFrame(rows, columns=["entity_key", "score", "label"])


def test_every_bad_row_gets_one_ranked_order_and_rescoring_adds_none(trained: sa.Engine):
    result = score(trained, TASK, chunk_size=50)
    ledger = _ledger(trained)
    bad = ledger[ledger["label"] == "bad"].sort_values("score", ascending=False)
    queue = work_orders.queue(trained, TASK.name)
    assert len(bad) > 0
    assert sorted(queue["entity_key"]) == sorted(bad["entity_key"])
    assert queue["rank"].tolist() == list(range(1, len(bad) + 1))
    assert queue["expected_cost_of_waiting"].is_monotonic_decreasing
    assert queue["expected_cost_of_waiting"].tolist() == pytest.approx(
        (queue["probability"] * 100.0).tolist())
    assert set(queue["run_id"]) == {result.run_id}

    forced = score(trained, TASK, chunk_size=50, force=True)
    again = work_orders.queue(trained, TASK.name)
    assert len(again) == len(queue) and set(again["run_id"]) == {forced.run_id}
    assert len(work_orders.history(trained, TASK.name)) == len(queue)


def test_a_failing_hook_rolls_its_batch_back(trained: sa.Engine):
    def broken(conn: sa.Connection, ledger: pd.DataFrame) -> None:
        WorkOrders(act="bad", missed_cost=1.0)(conn, ledger)
        if int(ledger["batch"].iloc[0]) == 1:
            raise RuntimeError("queue down")

    with pytest.raises(RuntimeError, match="queue down"):
        score(trained, replace(TASK, after_score=broken), chunk_size=50)
    assert len(_ledger(trained)) == 50  # batch 0 only: batch 1 and its orders are absent
    assert set(work_orders.queue(trained, TASK.name)["batch"]) <= {0}
