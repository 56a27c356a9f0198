"""decision_settings: a version's cut-off and decision words from its record, its predictor only
for versions trained before the record held them."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from core.kinds.tabular_predictor import TabularPredictor, decision_params, decision_settings
from core.models.calibration import Calibrator


def _never() -> object:
    raise AssertionError("the model was loaded although the record holds the settings")


def test_settings_come_from_the_record_without_the_model() -> None:
    params = {"features": ["a"], **decision_params(0.37, ("grant", "refuse"))}
    assert decision_settings(params, _never) == (0.37, ("grant", "refuse"))


def test_an_older_version_reads_them_from_its_predictor() -> None:
    old = TabularPredictor(features=["a"], model=None, calibrator=None, id="id", cutoff=0.42,
                           decisions=("run", "stop"))
    assert decision_settings({"features": ["a"]}, lambda: old) == (0.42, ("run", "stop"))


def test_another_predictor_type_has_none() -> None:
    assert decision_settings({}, lambda: SimpleNamespace(cutoff=0.5)) is None


@pytest.mark.parametrize("cutoff", [0.5, 0.123])
def test_the_record_round_trips(cutoff: float) -> None:
    params = decision_params(cutoff, ["approve", "decline"])
    assert params == {"cutoff": cutoff, "decisions": ["approve", "decline"]}


class _Additive:
    """A model whose log-odds are the sum of its features (each feature's own contribution)."""

    format = "additive"

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-X.to_numpy(dtype=float).sum(axis=1)))
        return np.column_stack([1 - p, p])

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.astype(float)


def _predictor(unspoken: tuple[str, ...]) -> TabularPredictor:
    return TabularPredictor(features=["age", "debt", "months"], model=_Additive(),
                            calibrator=Calibrator("identity"), id="id", unspoken=unspoken)


def test_an_unspoken_feature_moves_the_pd_but_is_never_a_reason() -> None:
    rows = pd.DataFrame({"id": ["a", "b"], "age": [3.0, 2.5], "debt": [0.5, -1.0],
                         "months": [0.2, 0.1]})
    said, quiet = _predictor(()).predict(rows), _predictor(("age",)).predict(rows)
    np.testing.assert_allclose(quiet["score"], said["score"])  # the model still reads age
    assert [r["feature"] for r in json.loads(said["reasons"][0])][0] == "age"
    # Row a: debt 0.5 then months 0.2; row b: months 0.1 then debt -1.0 (largest effect first).
    assert [[r["feature"] for r in json.loads(text)] for text in quiet["reasons"]] == [
        ["debt", "months"], ["months", "debt"]]

