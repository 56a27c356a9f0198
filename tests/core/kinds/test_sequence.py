"""SequenceRegression: the RUL target, whole-unit hold-out, padding, PHM08, the calibrated
interval, the maintenance plan and exact save/load."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from scipy.special import ndtr, ndtri

from core.kinds.contract import check_kind
from core.kinds.sequence import SequenceRegression
from core.kinds.sequence_predictor import SequencePredictor
from core.kinds.sequence_windows import (
    GLOBAL,
    Z80,
    Normaliser,
    calibrated,
    conformal_scale,
    ensemble_quantiles,
    failure_cdf,
    maintenance_plan,
    phm08,
    smoothed,
    stacked_weights,
    unit_windows,
)
from core.models.formats import BUILTIN, lazy_factory
from core.models.protocol import Hyperparameters
from core.task import Task

KIND = SequenceRegression(unit="unit", step="cycle", label="failure", sensors=("a", "b"),
                          rul_cap=20, window=5, lead_time=3, cuts=4)


def units(lives: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """Units run to failure at their life: sensor a drifts up with wear, b is noise."""
    rng = np.random.default_rng(seed)
    parts = []
    for unit, life in lives.items():
        cycle = np.arange(1, life + 1)
        parts.append(pd.DataFrame({
            "unit": unit, "cycle": cycle, "a": np.exp(3 * cycle / life) + rng.normal(0, .05, life),
            "b": rng.normal(0, 1, life), "failure": pd.array([life] * life, dtype="Int64")}))
    return pd.concat(parts, ignore_index=True)


class Recorder(Hyperparameters):
    """A sequence model that remembers what it was fit on and predicts the mean target."""

    format = "recorder"
    seen: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, windows: np.ndarray, target: np.ndarray,
            valid: tuple[np.ndarray, np.ndarray]) -> Self:
        Recorder.seen.append({"windows": windows, "target": target, "valid": valid})
        self.level_ = float(np.mean(target))
        return self

    def predict_quantiles(self, windows: np.ndarray) -> np.ndarray:
        return np.tile([self.level_ - 5, self.level_, self.level_ + 5], (len(windows), 1))

    def refit_params(self) -> dict[str, Any]:
        return {}

    def save(self, directory: Path) -> None:
        Path(directory, "level.json").write_text(json.dumps(self.level_))

    @classmethod
    def load(cls, directory: Path) -> Self:
        model = cls()
        model.level_ = json.loads(Path(directory, "level.json").read_text())
        return model


def task(models: dict[str, Any], kind: SequenceRegression = KIND) -> Task:
    return Task(name="test.rul", title="t", description="d", kind=kind,
                schema=pa.DataFrameSchema({}), sample=lambda rows, seed: units({"u": rows}),
                models=models, formats={"recorder": Recorder})


LIVES = {f"u{i:02d}": 12 + 3 * i for i in range(10)}


def test_the_kind_conforms() -> None:
    check_kind(KIND)


def test_target_is_failure_minus_step_capped_and_held_out_units_never_train() -> None:
    frame = units(LIVES)
    Recorder.seen.clear()
    [candidate] = task({"rec": Recorder}).kind.train(task({"rec": Recorder}), frame,
                                                     profile="smoke", seed=3, models=("rec",))
    held = candidate.params["valid_units"]
    assert len(held) == 2 and set(held) <= set(LIVES)
    fit = [u for u in LIVES if u not in held]
    seen = Recorder.seen[0]
    expected = np.concatenate([np.minimum(LIVES[u] - np.arange(1, LIVES[u] + 1), 20)
                               for u in sorted(fit)])
    np.testing.assert_array_equal(seen["target"], expected)  # every row of fit units only
    assert len(seen["valid"][1]) == sum(LIVES[u] for u in held)
    assert seen["windows"].shape == (len(expected), 5, 2) and seen["windows"].dtype == np.float32
    assert seen["target"].max() == 20 and seen["target"].min() == 0
    # Seeded: the same seed holds out the same units, another seed other units.
    assert KIND._split(list(LIVES), 3) == KIND._split(list(LIVES), 3)
    assert KIND._split(list(LIVES), 3)[1] != KIND._split(list(LIVES), 4)[1]
    assert set(candidate.metrics) == {"rmse", "mae", "phm08", "coverage80"}


def test_units_truncated_before_their_known_failure_never_train() -> None:
    """C-MAPSS test units (failure = last cycle + the RUL file) beside run-to-failure units:
    neither fitted nor validated on, named in the params, and scored like any unit."""
    tested = units({"t1": 30, "t2": 25}, seed=4)
    tested = tested[tested["cycle"] <= 15]  # the failure stays known: 30 and 25
    service = units({"s1": 20}, seed=5).assign(failure=pd.NA)
    spec = task({"rec": Recorder})
    Recorder.seen.clear()
    [candidate] = spec.kind.train(spec, pd.concat([units(LIVES), tested, service]),
                                  profile="smoke", seed=3, models=("rec",))
    params = candidate.params
    assert params["truncated_units"] == ["t1", "t2"]
    assert sorted(params["fit_units"] + params["valid_units"]) == sorted(LIVES)
    seen = Recorder.seen[0]
    assert len(seen["target"]) == sum(LIVES[u] for u in params["fit_units"])
    assert len(seen["valid"][1]) == sum(LIVES[u] for u in params["valid_units"])
    assert KIND.known_failures(pd.concat([units(LIVES), tested, service])) == (
        sorted(LIVES), ["t1", "t2"])
    scored = candidate.predictor.predict(tested.drop(columns="failure"))
    assert scored["entity_key"].tolist() == ["t1", "t2"] and scored["step"].tolist() == [15, 15]
    with pytest.raises(ValueError, match="at least 2 units run to failure .found 1.: .*"
                                         "truncated before their known failure only evaluate"):
        spec.kind.train(spec, pd.concat([units({"u": 20}), tested]), profile="smoke", seed=0,
                        models=("rec",))


def test_a_unit_shorter_than_the_window_is_padded_and_noted() -> None:
    values = np.arange(6, dtype=float).reshape(3, 2)
    window = unit_windows(values, 5)[-1]
    np.testing.assert_array_equal(window, [[0, 1], [0, 1], [0, 1], [2, 3], [4, 5]])
    spec = task({"rec": Recorder})
    [candidate] = spec.kind.train(spec, units(LIVES), profile="smoke", seed=0, models=("rec",))
    scored = units({"short": 3, "long": 9}).drop(columns="failure")
    ledger = candidate.predictor.predict(scored).set_index("entity_key")
    assert list(ledger.index) == ["long", "short"]  # scored, never dropped
    assert ledger.loc["short", "step"] == 3 and ledger.loc["long", "step"] == 9
    note = json.loads(ledger.loc["short", "payload"])["note"]
    assert note == "too short: 3 of 5 steps; the window is padded with the first row"
    assert "note" not in json.loads(ledger.loc["long", "payload"])


def test_validation_cuts_fall_where_test_units_stop_and_score_the_true_rul() -> None:
    """A cut has a full window behind it and a true RUL within the horizon (1.2 x rul_cap by
    default: 24 here), as a truncated test unit; it is scored against the uncapped RUL."""
    steps = np.arange(1, 41, dtype=float)  # a unit failing at step 40
    np.testing.assert_array_equal(KIND.cut_steps(steps, 40.0), np.arange(15, 40))
    assert KIND.cut_horizon == 24 and replace(KIND, horizon=30).cut_horizon == 30
    np.testing.assert_array_equal(replace(KIND, horizon=30).cut_steps(steps, 40.0),
                                  np.arange(9, 40))
    # Shorter than the window: its last row; no row within the horizon: its full windows.
    np.testing.assert_array_equal(KIND.cut_steps(np.arange(1.0, 4.0), 3.0), [2])
    np.testing.assert_array_equal(KIND.cut_steps(np.arange(1.0, 8.0), 100.0), [4, 5, 6])
    np.testing.assert_array_equal(replace(KIND, min_history=2).cut_steps(steps, 40.0),
                                  np.arange(15, 40))  # the horizon binds first here
    np.testing.assert_array_equal(replace(KIND, min_history=2).cut_steps(np.arange(1.0, 8.0),
                                                                         7.0), np.arange(1, 7))
    with pytest.raises(ValueError, match="horizon must be None or a positive"):
        replace(KIND, horizon=0)
    with pytest.raises(ValueError, match="min_history must be None or a positive"):
        replace(KIND, min_history=0)
    frame = units(LIVES)
    rows = KIND.ordered(frame)
    values = rows[["a", "b"]].to_numpy(dtype=np.float32)
    many = replace(KIND, cuts=40)
    _, rul, owners = many._windows(rows, values, ["u09"], "cuts", np.random.default_rng(0))
    assert len(rul) == 40 and set(owners) == {"u09"}
    assert rul.max() <= 24 and rul.max() > KIND.rul_cap  # uncapped: above the cap of 20
    assert (LIVES["u09"] - rul >= KIND.window).all()  # a full window observed


def test_age_is_the_step_over_the_cap_appended_unsmoothed() -> None:
    frame = units({"u1": 6, "u2": 4})
    rows = KIND.ordered(frame)
    normaliser = Normaliser().fit(rows, ["a", "b"], None)
    plain = replace(KIND, smoothing=0.5).values(rows, normaliser)
    aged = replace(KIND, smoothing=0.5, age=True).values(rows, normaliser)
    assert aged.shape == (10, 3) and aged.dtype == np.float32
    np.testing.assert_array_equal(aged[:, :2], plain)  # the sensors as they were
    np.testing.assert_allclose(aged[:, 2], np.r_[np.arange(1, 7), np.arange(1, 5)] / 20)


def test_phm08_by_hand() -> None:
    assert phm08(np.array([10.0]), np.array([15.0])) == pytest.approx(math.exp(5 / 13) - 1)
    assert phm08(np.array([25.0]), np.array([15.0])) == pytest.approx(math.e - 1)
    assert phm08(np.array([10.0, 25.0, 7.0]), np.array([15.0, 15.0, 7.0])) == pytest.approx(
        math.exp(5 / 13) - 1 + math.e - 1)


def test_the_conformal_scale_gives_80_percent_coverage_on_new_units() -> None:
    rng = np.random.default_rng(0)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        med = rng.uniform(20, 100, n)
        y = med + rng.normal(0, 10, n)
        return np.column_stack([med - 3, med, med + 3]), y  # raw interval far too narrow

    q, y = draw(400)
    scale = conformal_scale(q, y)
    inside = lambda q, y: np.mean((q[:, 0] <= y) & (y <= q[:, 2]))  # noqa: E731
    assert inside(q, y) < 0.3 and 0.8 <= inside(calibrated(q, scale), y) <= 0.81
    q_new, y_new = draw(4000)
    assert inside(calibrated(q_new, scale), y_new) == pytest.approx(0.8, abs=0.03)


BUDGET = 1 / 11  # overhaul_cost / (overhaul_cost + failure_cost) at 1 against 10


def lower_spread_for(latest: float, median: float = 40.0) -> np.ndarray:
    """q with the given median whose BUDGET-quantile is `latest` (the upper half as wide)."""
    width = (median - latest) * Z80 / -ndtri(BUDGET)
    return np.array([[median - width, median, median + width]])


def test_the_plan_is_the_latest_step_within_the_risk_budget() -> None:
    plan = maintenance_plan(np.array([[60.0, 90.0, 120.0]]), 3, 10.0, 1.0)
    assert plan.risk_budget == pytest.approx(BUDGET)
    # 90 + ndtri(1/11) * 30 / Z80 = 58.74: the latest whole step with P(RUL <= s) <= 1/11.
    assert plan.ahead.tolist() == [58] and plan.due.tolist() == [False]
    assert plan.p_fail_by_then[0] == pytest.approx(float(failure_cdf(
        np.array([[60.0, 90.0, 120.0]]), np.array([[58.0]]))[0, 0]))
    assert plan.p_fail_by_then[0] <= BUDGET < failure_cdf(np.array([[60.0, 90.0, 120.0]]),
                                                          np.array([[59.0]]))[0, 0]
    assert plan.p_fail_within_lead[0] == pytest.approx(float(ndtr((3 - 90) / (30 / Z80))))
    # A healthy unit: its predicted end of life less a margin, the lower interval's width.
    healthy = maintenance_plan(np.array([[100.0, 110.0, 125.0]]), 15, 1e6, 1.5e5)
    margin = 110 - healthy.ahead[0]
    assert not healthy.due[0] and 5 <= margin <= 10  # 10 * ndtri(0.13) / Z80 = 8.8


def test_a_unit_failing_now_is_planned_now() -> None:
    """The FD001 defect: a unit predicted at RUL 0 (interval 0-125) with P(fail within the
    lead time) 0.56 was left to run, its overhaul 189 cycles away (age replacement)."""
    plan = maintenance_plan(np.array([[0.0, 0.0, 125.0]]), 15, 1e6, 1.5e5)
    assert plan.p_fail_within_lead[0] == pytest.approx(0.5 + (ndtr(15 * Z80 / 125) - 0.5))
    assert plan.p_fail_within_lead[0] > plan.risk_budget
    assert plan.due.tolist() == [True] and plan.ahead.tolist() == [15]
    assert plan.p_fail_by_then[0] == pytest.approx(plan.p_fail_within_lead[0])


@pytest.mark.parametrize(("latest", "ahead", "due"), [
    (9.9, 10, True),  # P(fail within the lead time) > budget: plan now
    (10.5, 10, True),  # within budget at the lead time, not a cycle later: plan now
    (11.2, 11, False),  # a cycle to spare: run, overhaul at 11
    (30.7, 30, False),
])
def test_the_decision_turns_where_the_risk_budget_is_spent(latest: float, ahead: int,
                                                          due: bool) -> None:
    q = lower_spread_for(latest)
    plan = maintenance_plan(q, 10, 10.0, 1.0)
    assert plan.ahead.tolist() == [ahead] and plan.due.tolist() == [due]
    assert (plan.p_fail_within_lead[0] > BUDGET) == (latest < 10)


def test_the_plan_is_monotone_and_planning_now_covers_every_unit_over_budget() -> None:
    rng = np.random.default_rng(0)
    median = rng.uniform(0, 125, 500)
    q = np.column_stack([median - rng.uniform(0, 40, 500), median,
                         median + rng.uniform(0, 60, 500)]).clip(0)
    plan = maintenance_plan(q, 15, 1e6, 1.5e5)
    assert plan.due[plan.p_fail_within_lead > plan.risk_budget].all()
    assert (plan.due == (plan.ahead == 15)).all() and (plan.ahead >= 15).all()
    assert 0 < plan.due.mean() < 1
    # A shorter forecast (every quantile d lower) never gets a later step.
    steps = [maintenance_plan(q - d, 15, 1e6, 1.5e5).ahead for d in range(0, 60, 5)]
    assert (np.diff(np.stack(steps), axis=0) <= 0).all()
    # Nor does a dearer failure (a smaller budget).
    dear = [maintenance_plan(q, 15, cost, 1.5e5).ahead for cost in (2e5, 1e6, 5e6, 5e7)]
    assert (np.diff(np.stack(dear), axis=0) <= 0).all()
    # With a budget of 10% or more, lowering any one quantile never moves the step later.
    for column in range(3):
        lower = q.copy()
        lower[:, column] -= rng.uniform(0, 10, 500)
        lower[:, 1] = np.maximum(lower[:, 1], lower[:, 0])
        lower[:, 2] = np.maximum(lower[:, 2], lower[:, 1])
        assert (maintenance_plan(lower, 15, 1e6, 1.5e5).ahead <= plan.ahead).all(), column


def test_bad_costs_and_lead_times_are_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        replace(KIND, overhaul_cost=0.0)
    with pytest.raises(ValueError, match="lead_time must be 0 or more"):
        replace(KIND, lead_time=-1)


class Echo(Hyperparameters):
    """Quantiles from the window's last reading m of the first sensor: (m - 10, m, m + 10)."""

    format = "echo"

    def __init__(self) -> None:
        pass

    def predict_quantiles(self, windows: np.ndarray) -> np.ndarray:
        m = windows[:, -1, 0].astype(float)
        return np.column_stack([m - 10, m, m + 10])


def test_the_ledger_label_is_the_decision() -> None:
    identity = Normaliser(["a"], [], {GLOBAL: {"mean": [0.0], "std": [1.0]}})
    predictor = SequencePredictor([Echo()], identity, 1.0, KIND)  # lead 3, costs 10 and 1
    frame = pd.DataFrame({"unit": ["failing"] * 6 + ["healthy"] * 6,
                          "cycle": list(range(1, 7)) * 2,
                          "a": [9.0] * 5 + [2.0] + [99.0] * 5 + [80.0]})
    ledger = predictor.predict(frame).set_index("entity_key")
    assert ledger["label"].to_dict() == {"failing": "plan overhaul", "healthy": "run"}
    failing = json.loads(ledger.loc["failing", "payload"])
    assert failing["recommended_step"] == 6 + 3 and failing["p_fail_within_lead"] > BUDGET
    healthy = json.loads(ledger.loc["healthy", "payload"])
    # 80 + ndtri(1/11) * 10 / Z80 = 69.58: overhaul 69 cycles after cycle 6.
    assert healthy["recommended_step"] == 6 + 69
    assert healthy["p_fail_by_recommended_step"] <= BUDGET
    assert healthy["p_fail_within_lead"] == pytest.approx(float(ndtr((3 - 80) * Z80 / 10)),
                                                          abs=1e-6)


def test_save_and_load_give_the_same_rows(tmp_path: Path) -> None:
    spec = task({"window_lightgbm": lazy_factory(BUILTIN["window_lightgbm"], n_estimators=20,
                                                 n_jobs=1)})
    frame = units(LIVES, seed=1)
    [candidate] = spec.kind.train(spec, frame, profile="smoke", seed=0)
    before = candidate.predictor.predict(frame)
    candidate.predictor.save(tmp_path)
    loaded = spec.kind.load_predictor(tmp_path, {"format": candidate.predictor.format},
                                      spec.model_formats())
    assert candidate.predictor.format == "sequence.window_lightgbm"
    pd.testing.assert_frame_equal(before, loaded.predict(frame), check_exact=True)
    with pytest.raises(ValueError, match="is not a sequence predictor"):
        spec.kind.load_predictor(tmp_path, {"format": "tabular.lightgbm"}, spec.model_formats())


def test_an_ensemble_and_the_bench_on_truncated_units() -> None:
    frame = units(LIVES)
    test = units({f"t{i}": 20 + i for i in range(4)}, seed=5)
    test = test[test["cycle"] <= 12]  # truncated before the known failure: the test units
    spec = task({"rec": Recorder, "rec2": lambda **p: Recorder(**p)})
    names = {c.name for c in spec.kind.train(spec, frame, profile="smoke", seed=0)}
    assert names == {"rec", "rec2", "ensemble"}
    out = spec.kind.bench(spec, pd.concat([frame, test]), dataset="toy", profile="smoke",
                          seed=0, seeds=2)
    assert set(out["models"]) == {"rec", "rec2", "ensemble"}
    assert {"rmse_mean", "rmse_std", "phm08_mean", "coverage80_mean", "fit_seconds_mean"} <= set(
        out["models"]["rec"])
    with pytest.raises(ValueError, match="truncated before their known failure"):
        spec.kind.bench(spec, frame, dataset="toy", profile="smoke", seed=0)


def test_a_repeated_step_is_named() -> None:
    frame = units({"u1": 6})
    with pytest.raises(ValueError, match="unit 'u1' has step 3 twice"):
        KIND.ordered(pd.concat([frame, frame.iloc[[2]]]))


def test_realised_compares_forecasts_with_the_failure_that_arrived() -> None:
    frame = units({"u1": 30, "u2": 40})
    frame.loc[frame["unit"] == "u2", "failure"] = pd.NA  # u2 still in service
    ledger = pd.DataFrame({"entity_key": ["u1", "u2"], "output": "", "step": [20, 25],
                           "score": [12.0, 9.0], "lower": [5.0, 1.0], "upper": [15.0, 20.0],
                           "payload": [None, None]})
    realised = replace(KIND).realised(task({}), frame, ledger)
    assert realised["entity_key"].tolist() == ["u1"] and realised["actual"].tolist() == [10.0]
    live = KIND.live_metrics(realised)
    assert live["rmse"] == 2.0 and live["coverage80"] == 1.0 and live["n"] == 1.0


def test_realised_leaves_out_units_the_version_trained_on() -> None:
    """A fitted (or held-out) unit's failure is in the training set: its forecast is in
    sample and must not count towards the live gate; a truncated unit's does."""
    spec = task({"rec": Recorder})
    tested = units({"t1": 30}, seed=4)
    frame = pd.concat([units(LIVES), tested[tested["cycle"] <= 15]])
    [candidate] = spec.kind.train(spec, frame, profile="smoke", seed=0, models=("rec",))
    assert candidate.predictor.seen_units == tuple(sorted(LIVES))
    scoring = pd.concat([units({"u00": 12, "u05": 27}), tested[tested["cycle"] <= 15]])
    ledger = candidate.predictor.predict(scoring.drop(columns="failure"))
    flags = {row.entity_key: json.loads(row.payload).get("seen_in_training", False)
             for row in ledger.itertuples()}
    assert flags == {"u00": True, "u05": True, "t1": False}
    realised = KIND.realised(spec, pd.concat([units(LIVES), tested]), ledger)
    assert realised["entity_key"].tolist() == ["t1"]
    assert realised["actual"].tolist() == [30.0 - 15]


def test_the_refit_fits_every_unit_for_the_budget_the_held_out_fit_chose() -> None:
    class Budgeted(Recorder):
        def __init__(self, *, seed: int = 0, rounds: int = 0) -> None:
            self.seed, self.rounds = seed, rounds

        def refit_params(self) -> dict[str, Any]:
            return {"rounds": 7}

    spec = task({"rec": Budgeted}, replace(KIND, refit=True))
    Recorder.seen.clear()
    [candidate] = spec.kind.train(spec, units(LIVES), profile="smoke", seed=3, models=("rec",))
    held, again = Recorder.seen
    assert len(held["target"]) == sum(LIVES[u] for u in candidate.params["fit_units"])
    assert len(again["target"]) == sum(LIVES.values())  # fit and held-out units alike
    assert candidate.params["models"] == [{"seed": 3, "rounds": 7}]
    assert candidate.params["refit"] is True
    # The interval scale is the held-out model's: Recorder predicts the mean target +-5, and
    # the held-out fit's mean differs from the refit's.
    level = float(np.mean(held["target"]))
    assert candidate.predictor.members[0].level_ == pytest.approx(np.mean(again["target"]))
    Recorder.seen.clear()
    [alone] = KIND.train(task({"rec": Budgeted}), units(LIVES), profile="smoke", seed=3,
                         models=("rec",))  # refit is off by default
    assert len(Recorder.seen) == 1 and alone.predictor.members[0].level_ == level
    assert alone.predictor.scale == candidate.predictor.scale
    assert alone.metrics == candidate.metrics


def test_smoothing_is_causal_per_unit_and_the_pandas_ewm() -> None:
    values = np.array([[0.0], [10.0], [10.0], [5.0], [7.0]], dtype=np.float32)
    out = smoothed(values, np.array([0, 3]), 0.5)
    # Unit 1: 0, (10 + .5*0)/1.5, (10 + .5*10 + .25*0)/1.75; unit 2 starts afresh at 5.
    np.testing.assert_allclose(out[:, 0], [0.0, 10 / 1.5, 15 / 1.75, 5.0, (7 + 2.5) / 1.5],
                               rtol=1e-6)
    changed = values.copy()
    changed[2] = 99.0  # a later reading never moves an earlier smoothed value
    np.testing.assert_array_equal(smoothed(changed, np.array([0, 3]), 0.5)[:2], out[:2])
    np.testing.assert_array_equal(smoothed(values, np.array([0]), 1.0), values)
    with pytest.raises(ValueError, match="smoothing must be None or in"):
        replace(KIND, smoothing=0.0)


def test_a_smoothed_kind_scores_from_smoothed_windows() -> None:
    kind = replace(KIND, smoothing=0.5)
    identity = Normaliser(["a"], [], {GLOBAL: {"mean": [0.0], "std": [1.0]}})
    frame = pd.DataFrame({"unit": ["u"] * 3, "cycle": [1, 2, 3], "a": [0.0, 10.0, 10.0]})
    ledger = SequencePredictor([Echo()], identity, 1.0, kind).predict(frame)
    assert ledger["score"].iloc[0] == pytest.approx(15 / 1.75, rel=1e-6)  # Echo: last value
    raw = SequencePredictor([Echo()], identity, 1.0, KIND).predict(frame)
    assert raw["score"].iloc[0] == 10.0


def test_the_ensemble_pools_its_members_by_their_weights() -> None:
    good = np.array([[8.0, 11.0, 14.0], [18.0, 21.0, 24.0]])
    bad = np.array([[10.0, 12.0, 14.0], [20.0, 22.0, 24.0]])
    weights = [0.8, 0.2]
    q = ensemble_quantiles([good, bad], weights)
    # median 0.8*11 + 0.2*12 = 11.2; spread sqrt(.8*.04 + .2*.64) = 0.4
    np.testing.assert_allclose(q[0], [0.8 * 8 + 0.2 * 10 - 0.4, 11.2, 14 + 0.4])
    np.testing.assert_allclose(ensemble_quantiles([good, bad]), ensemble_quantiles(
        [good, bad], [1.0, 1.0]))
    with pytest.raises(ValueError, match="must be 2 non-negative numbers"):
        ensemble_quantiles([good, bad], [1.0, -1.0])


def test_stacking_weighs_members_by_what_they_add() -> None:
    y = np.array([10.0, 20.0, 30.0, 40.0])
    low = np.column_stack([y - 6, y - 2, y + 2])  # 2 too low everywhere
    high = np.column_stack([y - 2, y + 2, y + 6])  # 2 too high everywhere
    # Each alone errs by 2 (1 / MSE: equal weights too); stacked, their average is exact.
    assert stacked_weights([low, high], y) == pytest.approx([0.5, 0.5], abs=1e-6)
    twin = low.copy()
    weights = stacked_weights([low, twin, high], y)
    assert sum(weights) == pytest.approx(1.0) and weights[2] == pytest.approx(0.5, abs=1e-6)
    useless = np.column_stack([-y - 1, -y, -y + 1])  # anti-correlated: never helps
    assert stacked_weights([low, useless], y)[1] == pytest.approx(0.0)
    assert stacked_weights([useless], y) == [1.0]  # every weight 0: equal weights


def test_sensors_are_normalised_within_their_condition_and_constants_dropped() -> None:
    rng = np.random.default_rng(0)
    condition = np.repeat(["low", "high"], 50)
    frame = pd.DataFrame({
        "cond": condition,
        "a": np.where(condition == "low", 10.0, 500.0) + rng.normal(0, 1, 100),
        # constant within each condition, different across them: only the condition moves it
        "flat": np.where(condition == "low", 1.0, 2.0)})
    normaliser = Normaliser().fit(frame, ["a", "flat"], "cond")
    assert normaliser.sensors_ == ["a"] and normaliser.dropped_ == ["flat"]
    z = normaliser.transform(frame, "cond")[:, 0]
    for key in ("low", "high"):
        part = z[condition == key]
        assert abs(part.mean()) < 1e-5 and part.std() == pytest.approx(1.0, abs=1e-5)
    unseen = normaliser.transform(frame.assign(cond="new"), "cond")  # global statistics
    assert np.isfinite(unseen).all()
    assert normaliser.unseen(frame.assign(cond="new"), "cond").all()
    assert not normaliser.unseen(frame, "cond").any()


def test_a_unit_read_in_a_condition_unseen_in_training_is_noted() -> None:
    """Its rows are scaled with all training rows' statistics; the forecast says so when the
    window reads such a row (and not for a unit whose window is all in known conditions)."""
    kind = replace(KIND, condition="cond")
    spec = task({"rec": Recorder}, kind)
    [candidate] = kind.train(spec, units(LIVES).assign(cond="sea"), profile="smoke", seed=0,
                             models=("rec",))
    scored = units({"known": 9, "moved": 9}).drop(columns="failure").assign(cond="sea")
    # The last two cycles of "moved" were flown at a condition no training row had, its first
    # one too (outside the 5-cycle window: not what the forecast reads).
    scored.loc[(scored["unit"] == "moved") & (scored["cycle"] >= 8), "cond"] = "high"
    scored.loc[(scored["unit"] == "known") & (scored["cycle"] == 1), "cond"] = "high"
    ledger = candidate.predictor.predict(scored).set_index("entity_key")
    note = json.loads(ledger.loc["moved", "payload"])["note"]
    assert note == ("operating condition high not seen in training: its sensors are scaled "
                    "with all training rows' statistics")
    assert "note" not in json.loads(ledger.loc["known", "payload"])
    short = candidate.predictor.predict(units({"s": 3}).drop(columns="failure").assign(
        cond="high"))
    assert json.loads(short["payload"].iloc[0])["note"] == (
        "too short: 3 of 5 steps; the window is padded with the first row; operating "
        "condition high not seen in training: its sensors are scaled with all training "
        "rows' statistics")


def test_a_sensor_flickering_at_its_recording_step_is_dropped_a_slow_one_kept() -> None:
    """FD001's s6 reads 21.61 with a rare 21.60 (std 0.001, below its 0.01 step): dropped.
    s8 (about 2388 rpm) moves over 0.2 in 0.01 steps, a 3e-5 share of its level: kept."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "flicker": np.where(rng.random(2000) < 0.02, 21.60, 21.61),
        "speed": 2388.0 + np.round(np.linspace(0, 0.2, 2000) + rng.normal(0, 0.03, 2000), 2),
        "flat": np.full(2000, 100.0)})
    normaliser = Normaliser().fit(frame, ["flicker", "speed", "flat"], None)
    assert normaliser.sensors_ == ["speed"] and normaliser.dropped_ == ["flicker", "flat"]
