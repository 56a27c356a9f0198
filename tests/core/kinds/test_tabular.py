"""TabularClassification: candidates, ledger rows, exact save/load, generic frames, bench."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from core.kinds.base import LEDGER_COLUMNS
from core.kinds.tabular import TabularClassification
from core.models.boosting import LightGBM
from core.models.formats import installed_formats
from core.models.scorecard import Scorecard
from core.task import Task


def sample(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    months = rng.integers(6, 60, n)
    status = rng.choice(["lt_0", "none", "ge_200"], n)
    z = -1 + 0.05 * (months - 30) + np.where(status == "lt_0", 1.5, -0.5)
    return pd.DataFrame({
        "loan_id": pd.Series([f"L{i}" for i in range(n)], dtype="str"),
        "applied": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n), unit="h"),
        "months": months, "status": pd.Series(status, dtype="str"),
        "bad": pd.array((rng.random(n) < 1 / (1 + np.exp(-z))).astype(int), dtype="Int64"),
    })


def make_task(models=None, time: str | None = "applied") -> Task:
    return Task(
        name="test.loans", title="Loans", description="test", schema=pa.DataFrameSchema({}),
        kind=TabularClassification(target="bad", id="loan_id", time=time, cutoff=0.4),
        sample=sample, models=models,
        profiles={"smoke": {"lightgbm": {"n_estimators": 20, "n_jobs": 1},
                            "scorecard": {"max_n_prebins": 5},
                            "tabular_net": {"max_epochs": 2, "hidden": (8,)}}},
    )


FAST = {"lightgbm": lambda **kw: LightGBM(**kw), "lightgbm_deep": lambda **kw: LightGBM(
    n_estimators=20, num_leaves=8, max_depth=3, n_jobs=1)}


@pytest.fixture(scope="module")
def trained():
    task = make_task()
    frame = sample(400)
    frame.loc[frame.index[::10], "bad"] = pd.NA  # unlabelled rows are skipped by train
    return task, frame, task.kind.train(task, frame, profile="smoke", seed=0)


def test_train_returns_every_candidate_and_a_blend(trained) -> None:
    _, _, candidates = trained
    assert [c.name for c in candidates] == ["scorecard", "lightgbm", "tabular_net", "blend"]
    for candidate in candidates:
        # two smoke epochs leave the net near chance; the classical models must learn
        assert candidate.metrics["auc"] > (0.3 if candidate.name == "tabular_net" else 0.65)
        assert set(candidate.metrics) >= {"auc", "ks", "gini", "brier", "ece", "error_rate"}
        assert candidate.train_rows == 216  # 60% of the 360 labelled rows
        assert set(candidate.reference) == {"months", "status"}  # no id, time or target
        json.dumps(candidate.params)
        # The record repeats the predictor's decision settings (pages read them, no model).
        assert candidate.params["cutoff"] == candidate.predictor.cutoff
        assert candidate.params["decisions"] == list(candidate.predictor.decisions)


def test_predict_writes_ledger_rows(trained) -> None:
    task, frame, candidates = trained
    ledger = candidates[0].predictor.predict(frame.iloc[:5])
    assert list(ledger.columns) == list(LEDGER_COLUMNS)
    assert ledger["entity_key"].tolist() == ["L0", "L1", "L2", "L3", "L4"]
    assert (ledger["as_of"] == frame["applied"].iloc[:5].to_numpy()).all()
    assert (ledger["horizon"] == 0).all()
    expected = np.where(ledger["score"] >= 0.4, "decline", "approve")
    assert ledger["label"].tolist() == expected.tolist()
    assert all(set(json.loads(p)) == {"points"} for p in ledger["payload"])
    reasons = json.loads(ledger["reasons"].iloc[0])
    assert {r["feature"] for r in reasons} == {"months", "status"}
    assert reasons[0]["effect"] >= reasons[1]["effect"]


def test_save_load_gives_identical_predictions(trained, tmp_path) -> None:
    task, frame, candidates = trained
    for candidate in candidates:
        directory = tmp_path / candidate.name
        directory.mkdir()
        candidate.predictor.save(directory)
        loaded = task.kind.load_predictor(directory, {"format": candidate.predictor.format},
                                          installed_formats())
        pd.testing.assert_frame_equal(loaded.predict(frame), candidate.predictor.predict(frame))


def test_load_rejects_another_format(tmp_path) -> None:
    with pytest.raises(ValueError, match="not a tabular predictor"):
        make_task().kind.load_predictor(tmp_path, {"format": "fake-json"}, installed_formats())


def test_generic_frame_without_time_column_trains_and_scores() -> None:
    task = make_task(models=FAST)
    frame = sample(300).drop(columns=["applied"]).assign(extra=np.arange(300) % 7)
    candidates = task.kind.train(task, frame, profile="smoke", seed=1, models=("lightgbm",))
    assert [c.name for c in candidates] == ["lightgbm"]
    assert candidates[0].params["features"] == ["months", "status", "extra"]
    ledger = candidates[0].predictor.predict(frame.head(3))
    assert (ledger["as_of"] == pd.Timestamp("1970-01-01")).all()


def test_bench_reports_every_candidate_and_the_best() -> None:
    task = make_task(models=FAST)
    result = task.kind.bench(task, sample(200), dataset="unit", profile="smoke", seed=0)
    assert set(result) == {"task", "dataset", "protocol", "models", "best"}
    assert set(result["models"]) == {"lightgbm", "lightgbm_deep", "blend"}
    assert "5-fold" in result["protocol"] and "3 times" in result["protocol"]
    best = max(result["models"], key=lambda m: result["models"][m]["auc"])
    assert result["best"]["model"] == best
    assert result["best"]["auc"] == result["models"][best]["auc"]
    json.dumps(result)


def test_key_columns_and_labels() -> None:
    kind = TabularClassification(target="y", id="id", positive="bad")
    assert kind.key_columns() == ("id",)
    frame = pd.DataFrame({"id": ["a", "b", "c"], "y": ["bad", None, "good"], "x": [1, 2, 3]})
    rows, y = kind.labelled(frame)
    assert rows["id"].tolist() == ["a", "c"] and y.tolist() == [1, 0]
    with pytest.raises(ValueError, match="both classes"):
        kind.labelled(frame.assign(y=["good"] * 3))


def test_classical_paths_do_not_import_torch() -> None:
    code = ("import sys, core.kinds.tabular, core.models.scorecard, core.models.boosting, "
            "core.models.formats, core.models.blend; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_scorecard_only_task(trained) -> None:
    task = make_task(models={"scorecard": lambda **kw: Scorecard(**kw)})
    candidates = task.kind.train(task, sample(300), profile="smoke", seed=0)
    assert [c.name for c in candidates] == ["scorecard"]  # no blend of one member


def _with_modes(n: int, seed: int = 0) -> pd.DataFrame:
    frame = sample(n, seed).drop(columns=["applied"])
    bad = frame["bad"].astype(int)
    late = bad & (frame["months"] > 30)
    return frame.assign(late=pd.array(late, dtype="Int64"),
                        rare=pd.array(np.r_[1, np.zeros(n - 1, int)], dtype="Int64"))


def _modes_task() -> Task:
    kind = TabularClassification(
        target="bad", id="loan_id", modes=("late", "rare"), costs=(5.0, 1.0),
        reason_text={"months": lambda f: "term " + f["months"].astype(str) + " months"})
    return Task(name="test.modes", title="Modes", description="test",
                schema=pa.DataFrameSchema({}), kind=kind, sample=_with_modes, models=FAST,
                profiles={"smoke": {"lightgbm": {"n_estimators": 20, "n_jobs": 1}}})


def test_modes_are_outputs_with_calibrated_heads_metrics_and_phrases(tmp_path) -> None:
    task = _modes_task()
    assert task.kind.outputs == ("", "late", "rare")
    frame = _with_modes(600)
    candidate = task.kind.train(task, frame, profile="smoke", seed=0, models=("lightgbm",))[0]
    assert "late" not in candidate.params["features"]  # a mode is a label, never a feature
    assert {"recall_late", "precision_late", "pr_auc_late"} <= set(candidate.metrics)
    assert "recall_rare" not in candidate.metrics  # no positive in the test rows
    assert candidate.params["modes"]["rare"] == {"base_rate": pytest.approx(1 / 480, abs=1e-3)}
    ledger = candidate.predictor.predict(frame)
    assert ledger.groupby("output").size().to_dict() == {"": 600, "late": 600, "rare": 600}
    late = ledger[ledger["output"] == "late"]
    assert late["label"].isna().all() and late["score"].between(0, 1).all()
    reasons = [r for text in ledger["reasons"] for r in json.loads(text)]
    assert {r["text"] for r in reasons if r["feature"] == "months"} <= {
        f"term {m} months" for m in frame["months"]}
    assert all("text" not in r for r in reasons if r["feature"] != "months")
    candidate.predictor.save(tmp_path)
    loaded = task.kind.load_predictor(tmp_path, {"format": candidate.predictor.format},
                                      installed_formats()).predict(frame)
    pd.testing.assert_frame_equal(ledger, loaded, check_exact=False, rtol=1e-6)


def test_bench_with_costs_and_modes_reports_thresholds_costs_and_mode_recall() -> None:
    task = _modes_task()
    result = task.kind.bench(task, _with_modes(300), dataset="unit", profile="smoke", seed=0)
    best = result["best"]
    assert {"threshold", "precision", "recall", "cost_per_1000", "never_act_per_1000",
            "always_act_per_1000", "f1_threshold", "f1_at_f1_threshold", "recall_late",
            "recall_rare", "f1", "pr_auc"} <= set(best)
    assert 0 <= best["threshold"] <= 1 and 0 <= best["recall_late"] <= 1
    assert 0 <= best["f1_threshold"] <= 1 and 0 <= best["f1_at_f1_threshold"] <= 1
    assert 0 <= best["precision"] <= 1 and 0 <= best["recall"] <= 1
    # Acting on a cost-minimising cut-off chosen out of fold beats never acting here.
    assert best["cost_per_1000"] < best["never_act_per_1000"]
    assert result["mode_rates"]["rare"] == pytest.approx(1 / 300, abs=1e-4)
    assert "cost-minimising" in result["protocol"]
    json.dumps(result)


@pytest.mark.parametrize(("y", "p", "expected"), [
    # F1 at 0.8 / 0.4 / 0.35 / 0.1 = 2/3, 1/2, 4/5, 2/3: halfway below 0.35.
    ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.225),
    ([1, 0, 0], [0.5, 0.5, 0.2], 0.35),  # tied scores are one cut-off (F1 2/3 there)
    ([1, 1], [0.3, 0.7], 0.3),  # best when every row alerts: the lowest score itself
])
def test_f1_threshold_maximises_f1_halfway_below_the_best_score(y, p, expected) -> None:
    from core.kinds.tabular_bench import f1_threshold

    assert f1_threshold(np.array(y), np.array(p)) == pytest.approx(expected)


def test_f1_threshold_needs_a_positive() -> None:
    from core.kinds.tabular_bench import f1_threshold

    with pytest.raises(ValueError, match="needs a positive"):
        f1_threshold(np.zeros(3), np.array([0.1, 0.2, 0.3]))


def test_modes_must_be_distinct_from_the_target() -> None:
    with pytest.raises(ValueError, match="modes must be unique"):
        TabularClassification(target="bad", id="id", modes=("bad",))
