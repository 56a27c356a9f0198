"""decision_settings: a version's cut-off and decision words from its record, its predictor only
for versions trained before the record held them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.kinds.tabular_predictor import TabularPredictor, decision_params, decision_settings


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
