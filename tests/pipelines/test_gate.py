"""The gate on arriving outcomes: live metrics stored per batch and month, a champion below
the gate retrains into a challenger, shadow scores, then promotion or keeping back — each a row."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd
import pytest
import sqlalchemy as sa

from core import registry
from core.kinds.base import Candidate
from core.live import live_frame, refresh_live
from core.store.schema import pipeline_runs, predictions
from pipelines.gate import challenger, decisions, monitor, score_with_shadow
from pipelines.ingest import ingest
from pipelines.train import train
from tests.fakes import FakeKind, FakePredictor, fake_sample, make_task


@dataclass(frozen=True)
class RetrainingKind(FakeKind):
    """Trains weight 0.5 first, then the weights listed (one per later training)."""

    later: list[float] = field(default_factory=list)

    def train(self, task, frame, *, profile, seed, models=None):
        weight = self.later.pop(0) if self.later and task.name in TRAINED else 0.5
        TRAINED.add(task.name)
        return [Candidate(name="fake", predictor=FakePredictor(weight=weight),
                          metrics={"auc": 0.7, "ks": 0.35}, params={"weight": weight},
                          train_rows=len(frame))]


TRAINED: set[str] = set()


def rows(start: int, n: int) -> pd.DataFrame:
    frame = fake_sample(start + n, seed=1).iloc[start:].reset_index(drop=True)
    # Defaults come with short loans: the fake champion (score rising with months) ranks
    # them backwards, a weight -0.5 challenger ranks them right.
    frame["default"] = (frame["months"] < 36).astype("Int64")
    return frame


@pytest.fixture
def store(engine: sa.Engine) -> sa.Engine:
    TRAINED.clear()
    return engine


def _setup(engine: sa.Engine, later: list[float]):
    task = make_task("test.gate", kind=RetrainingKind(later=later))
    ingest(engine, task, lambda: rows(0, 60), source="first")
    train(engine, task, profile="smoke")
    score_with_shadow(engine, task)
    return task


def test_live_metrics_are_stored_per_batch_month_and_overall_once(store: sa.Engine) -> None:
    task = _setup(store, [])
    written = refresh_live(store, task)
    assert refresh_live(store, task) == written  # recomputed, never duplicated
    frame = live_frame(store, task.name)
    assert set(frame["scope"]) == {"all", "batch", "month"}
    overall = frame[(frame["scope"] == "all") & (frame["metric"] == "auc")]
    assert len(overall) == 1 and overall["value"].iloc[0] < 0.1  # ranked backwards
    assert overall["n"].iloc[0] == 60


def test_live_metrics_judge_the_primary_output_only(store: sa.Engine) -> None:
    task = _setup(store, [])
    refresh_live(store, task)
    before = live_frame(store, task.name)[["scope", "period", "metric", "value", "n"]]
    with store.begin() as conn:  # a further output ranked the other way round must not count
        rows = conn.execute(sa.select(predictions)).mappings().all()
        conn.execute(predictions.insert(), [
            {**{k: v for k, v in row.items() if k != "id"}, "output": "mode",
             "score": 1.0 - row["score"]} for row in rows])
    refresh_live(store, task)
    after = live_frame(store, task.name)[["scope", "period", "metric", "value", "n"]]
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))


def test_below_the_gate_retrains_then_promotes_a_winning_challenger(store: sa.Engine) -> None:
    task = _setup(store, [-0.5])
    first = monitor(store, task, profile="smoke")
    assert first.decision == "retrain" and "misses 0.6" in first.reason
    assert registry.champion(store, task.name).version == 1  # the champion stays meanwhile
    assert challenger(store, task.name).version == 2
    with store.connect() as conn:
        triggers = [json.loads(p)["trigger"] for p in conn.execute(
            sa.select(pipeline_runs.c.params).where(pipeline_runs.c.pipeline == "train"))
            .scalars()]
    assert triggers == ["hand", "retrain"]
    ingest(store, task, lambda: rows(60, 20), source="next")
    score_with_shadow(store, task)
    with store.connect() as conn:
        shadow_rows = conn.execute(sa.select(sa.func.count()).where(
            predictions.c.model_version_id == challenger(store, task.name).id)).scalar()
    assert shadow_rows == 80  # shadow-scored beside the champion, in its own ledger rows
    second = monitor(store, task, profile="smoke")
    assert second.decision == "promoted"
    assert second.figures["challenger"] > second.figures["champion"]
    assert registry.champion(store, task.name).version == 2
    assert challenger(store, task.name) is None
    history = decisions(store, task.name)
    assert list(history["decision"]) == ["promoted", "retrain"]
    assert json.loads(history["figures"].iloc[0])["n"] == 80


def test_a_challenger_that_does_not_beat_the_champion_is_kept_back(store: sa.Engine) -> None:
    task = _setup(store, [0.5])
    assert monitor(store, task, profile="smoke").decision == "retrain"
    score_with_shadow(store, task)
    kept = monitor(store, task, profile="smoke")
    assert kept.decision == "kept_back" and "does not beat" in kept.reason
    assert registry.champion(store, task.name).version == 1
    assert challenger(store, task.name) is None


def test_a_champion_meeting_the_gate_passes(store: sa.Engine) -> None:
    task = make_task("test.gate_ok", kind=RetrainingKind())
    frame = rows(0, 40)
    frame["default"] = (frame["months"] >= 36).astype("Int64")  # ranked right this time
    ingest(store, task, lambda: frame, source="first")
    train(store, task, profile="smoke")
    score_with_shadow(store, task)
    decision = monitor(store, task, profile="smoke")
    assert decision.decision == "passed" and decision.figures["value"] == pytest.approx(1.0)
    assert len(registry.versions(store, task.name)) == 1  # no retrain
