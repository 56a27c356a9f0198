"""TabularClassification leaves a Task's protected attributes out of every model's features
(so out of reasons and the drift reference) unless the Task opts in."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from core.fairness import Protected
from core.kinds.tabular import TabularClassification
from core.models.boosting import LightGBM
from core.task import Task

PROTECTED = ("sex", "age")


def sample(n: int, seed: int = 0) -> pd.DataFrame:
    """Age drives the default as strongly as months do: a model free to read it would."""
    rng = np.random.default_rng(seed)
    months = rng.integers(6, 60, n)
    age = rng.integers(18, 80, n)
    z = -1 + 0.05 * (months - 30) - 0.08 * (age - 45)
    return pd.DataFrame({
        "loan_id": pd.Series([f"L{i}" for i in range(n)], dtype="str"),
        "months": months, "age": age, "sex": pd.Series(rng.choice(["f", "m"], n), dtype="str"),
        "bad": pd.array((rng.random(n) < 1 / (1 + np.exp(-z))).astype(int), dtype="Int64"),
    })


def make_task(protected: Protected) -> Task:
    return Task(
        name="test.loans", title="Loans", description="test", schema=pa.DataFrameSchema({}),
        kind=TabularClassification(target="bad", id="loan_id", blend=False), sample=sample,
        models={"lightgbm": lambda **kw: LightGBM(n_estimators=20, num_leaves=8, n_jobs=1)},
        protected=protected)


def reason_features(ledger: pd.DataFrame) -> set[str]:
    return {r["feature"] for text in ledger["reasons"] for r in json.loads(text)}


@pytest.fixture(scope="module")
def excluded():
    task = make_task(Protected(PROTECTED, bands={"age": (25, 35, 50, 65)}))
    frame = sample(400)
    return task, frame, task.kind.train(task, frame, profile="smoke", seed=0)[0]


def test_protected_columns_are_not_features_of_the_fitted_model(excluded) -> None:
    _, _, candidate = excluded
    assert candidate.predictor.features == ["months"]
    assert candidate.params["features"] == ["months"]
    assert candidate.predictor.model.features_ == ["months"]  # what LightGBM was fit on
    assert set(candidate.reference) == {"months"}  # nor drift-watched as a feature


def test_protected_columns_never_appear_as_reasons(excluded) -> None:
    _, frame, candidate = excluded
    ledger = candidate.predictor.predict(frame)
    assert reason_features(ledger) == {"months"}
    # and the score does not move with them
    moved = frame.assign(age=frame["age"].to_numpy()[::-1], sex="f")
    np.testing.assert_array_equal(ledger["score"], candidate.predictor.predict(moved)["score"])


def test_the_bench_protocol_says_they_are_left_out(excluded) -> None:
    task, frame, _ = excluded
    result = task.kind.bench(task, frame, dataset="test", profile="smoke", seed=0)
    assert "protected attributes sex, age are not features" in result["protocol"]


def test_a_task_that_opts_in_lets_the_model_read_them_but_never_names_them(
        tmp_path) -> None:
    from core.kinds.contract import protected_problems

    task = make_task(Protected(PROTECTED, use=True, note="a fairness study, not lending",
                               bands={"age": (25, 35, 50, 65)}))
    frame = sample(400)
    candidate = task.kind.train(task, frame, profile="smoke", seed=0)[0]
    assert candidate.predictor.features == ["months", "age", "sex"]
    ledger = candidate.predictor.predict(frame)
    moved = frame.assign(age=frame["age"].to_numpy()[::-1])
    assert not np.array_equal(ledger["score"], candidate.predictor.predict(moved)["score"])
    assert reason_features(ledger) == {"months"}  # age drives the PD, yet is never a reason
    candidate.predictor.save(tmp_path)
    loaded = task.kind.load_predictor(tmp_path, {"format": candidate.predictor.format},
                                      task.model_formats())
    assert loaded.unspoken == ("sex", "age")
    assert reason_features(loaded.predict(frame)) == {"months"}
    # check_task's protected check (shuffles, reasons) has nothing to say of it
    assert protected_problems(task, frame, [candidate]) == []


def test_feature_columns_leave_out_what_they_are_told() -> None:
    kind = TabularClassification(target="bad", id="loan_id")
    frame = sample(5)
    assert kind.feature_columns(frame) == ["months", "age", "sex"]
    assert kind.feature_columns(frame, PROTECTED) == ["months"]
