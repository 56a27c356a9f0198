"""core.store.queries for step-indexed Kinds (latest_steps, step_predictions) on a hand-made
ledger, on SQLite and on PostgreSQL: each unit's current row however often it was scored."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from core.kinds.base import EPOCH, PRIMARY_OUTPUT
from core.store import queries
from core.store.bulk import insert_frame
from core.store.schema import predictions
from tests.dashboards.handmade import Store, populate
from tests.fakes import make_task

TASK = "test.steps"
UNITS, STEPS = 30, 700  # 21,000 rows: more than latest_forecasts' 20,000-row cap


def rows(version: int, unit: str, steps: list[int], *, output: str = PRIMARY_OUTPUT,
         as_of: pd.Timestamp = EPOCH, horizon: int = 0, score: float | None = None,
         label: str = "run") -> pd.DataFrame:
    """Ledger rows of one unit scored at `steps`: score = 200 - step unless given."""
    return pd.DataFrame({
        "task": TASK, "model_version_id": version, "batch": 0, "entity_key": unit,
        "output": output, "as_of": as_of, "step": steps, "horizon": horizon,
        "score": [200.0 - s if score is None else score for s in steps], "label": label,
        "lower": 0.0, "upper": 300.0, "payload": [json.dumps({"step": s}) for s in steps],
        "reasons": None})


@pytest.fixture
def store(engine: sa.Engine) -> Store:
    made = populate(engine, make_task())  # model versions to point the ledger rows at
    mine, other = made.champion_id, made.other_id
    with engine.begin() as conn:
        insert_frame(conn, predictions, pd.concat([
            rows(mine, "u1", list(range(1, 30))),
            rows(mine, "u1", [30], label="plan overhaul"),
            rows(mine, "u2", [7, 5]),  # written out of step order
            rows(other, "u2", [99], label="other version"),
            rows(mine, "u2", [50], output="TWF", label="other output"),
            # A newer as_of wins over a higher step (forecasting Kinds move in time).
            rows(mine, "u3", [9]), rows(mine, "u3", [2], as_of=EPOCH + pd.Timedelta(days=1)),
            # Every horizon of the newest step.
            rows(mine, "u4", [4], horizon=1, score=3.0), rows(mine, "u4", [4], horizon=2,
                                                               score=1.0),
            rows(mine, "u4", [3], horizon=1)], ignore_index=True))
    return made


def test_each_unit_at_its_latest_step_with_its_label(engine: sa.Engine, store: Store) -> None:
    latest = queries.latest_steps(engine, TASK, store.champion_id)
    assert latest[["entity_key", "step", "horizon", "label"]].to_dict("records") == [
        {"entity_key": "u1", "step": 30, "horizon": 0, "label": "plan overhaul"},
        {"entity_key": "u2", "step": 7, "horizon": 0, "label": "run"},
        {"entity_key": "u3", "step": 2, "horizon": 0, "label": "run"},
        {"entity_key": "u4", "step": 4, "horizon": 1, "label": "run"},
        {"entity_key": "u4", "step": 4, "horizon": 2, "label": "run"}]
    assert latest["score"].tolist() == [170.0, 193.0, 198.0, 3.0, 1.0]
    assert [json.loads(p)["step"] for p in latest["payload"]] == [30, 7, 2, 4, 4]
    assert set(latest["output"]) == {PRIMARY_OUTPUT}
    by_risk = queries.latest_steps(engine, TASK, store.champion_id, order="score_asc", limit=3)
    assert list(zip(by_risk["entity_key"], by_risk["horizon"], strict=True)) == [
        ("u4", 2), ("u4", 1), ("u1", 0)]
    assert queries.latest_steps(engine, TASK, store.champion_id, order="score_desc",
                                limit=1)["entity_key"].tolist() == ["u3"]
    other = queries.latest_steps(engine, TASK, store.other_id)
    assert other[["entity_key", "step", "label"]].to_dict("records") == [
        {"entity_key": "u2", "step": 99, "label": "other version"}]
    twf = queries.latest_steps(engine, TASK, store.champion_id, output="TWF")
    assert twf[["entity_key", "step"]].to_dict("records") == [{"entity_key": "u2", "step": 50}]
    assert queries.latest_steps(engine, "no.such", store.champion_id).empty
    with pytest.raises(ValueError, match="unknown order"):
        queries.latest_steps(engine, TASK, store.champion_id, order="random")


def test_a_fleet_scored_many_times_keeps_every_unit(engine: sa.Engine, store: Store) -> None:
    with engine.begin() as conn:
        insert_frame(conn, predictions, pd.concat(
            [rows(store.champion_id, f"fleet-{u:02d}", list(range(1, STEPS + 1)))
             for u in range(UNITS)], ignore_index=True))
    latest = queries.latest_steps(engine, TASK, store.champion_id)
    fleet = latest[latest["entity_key"].str.startswith("fleet-")]
    assert len(fleet) == UNITS and (fleet["step"] == STEPS).all()
    # The all-rows query hits its cap and loses units: why the page reads latest_steps.
    capped = queries.latest_forecasts(engine, TASK, store.champion_id)
    assert len(capped) == 20 * queries.MAX_ROWS
    assert capped["entity_key"].nunique() < UNITS + 4


def test_one_units_predictions_step_by_step(engine: sa.Engine, store: Store) -> None:
    history = queries.step_predictions(engine, TASK, store.champion_id, "u1")
    assert history["step"].tolist() == list(range(1, 31))
    assert history["label"].iloc[-1] == "plan overhaul"
    last = queries.step_predictions(engine, TASK, store.champion_id, "u1", limit=5)
    assert last["step"].tolist() == [26, 27, 28, 29, 30]
    assert queries.step_predictions(engine, TASK, store.champion_id, "u2")["step"].tolist() == [
        5, 7]  # another version's and another output's rows stay out
    assert queries.step_predictions(engine, TASK, store.other_id, "u2")["step"].tolist() == [99]
    assert np.isclose(queries.step_predictions(engine, TASK, store.champion_id, "u3")["score"],
                      [198.0, 191.0]).all()
