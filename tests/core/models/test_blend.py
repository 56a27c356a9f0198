"""Blend: weights stacked on held-out rows, a weighted mean of calibrated PDs, exact save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.models.blend import Blend, stack_weights
from core.models.calibration import Calibrator
from core.models.scorecard import Scorecard
from tests.core.models.conftest import credit_frame


def _forecasts(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, {"sharp": 1 / (1 + np.exp(-z)),
               "blurred": 1 / (1 + np.exp(-(z + rng.normal(scale=2.0, size=n)))),
               "noise": rng.random(n)}


def test_stacking_weighs_members_by_what_they_add() -> None:
    y, pds = _forecasts()
    weights = stack_weights(pds, y)
    assert list(weights) == ["sharp", "blurred", "noise"]
    assert sum(weights.values()) == pytest.approx(1.0)
    assert min(weights.values()) >= 0
    # the true probability carries everything; a blurred copy and noise add nothing
    assert weights["sharp"] > 0.85 and weights["noise"] < 0.05


def test_interchangeable_members_share_equally_and_one_member_takes_all() -> None:
    y, pds = _forecasts()
    twins = stack_weights({"a": pds["sharp"], "b": pds["sharp"].copy()}, y)
    assert twins == pytest.approx({"a": 0.5, "b": 0.5})
    assert stack_weights({"only": pds["noise"]}, y) == {"only": 1.0}
    with pytest.raises(ValueError, match="both classes"):
        stack_weights(pds, np.zeros_like(y))


@pytest.fixture(scope="module")
def members():
    X, y = credit_frame(600)
    fit, valid = np.arange(400), np.arange(400, 600)
    models = {"wide": Scorecard(max_n_prebins=8).fit(X.iloc[fit], y[fit]),
              "coarse": Scorecard(max_n_prebins=3).fit(X.iloc[fit], y[fit])}
    calibrators = {n: Calibrator().fit(m.predict_proba(X.iloc[valid])[:, 1], y[valid])
                   for n, m in models.items()}
    return models, calibrators, X, y, valid


def test_a_stacked_blend_is_the_weighted_mean_of_calibrated_pds(members) -> None:
    models, calibrators, X, y, valid = members
    blend = Blend.stacked(models, calibrators, X.iloc[valid], y[valid])
    assert blend.weights is not None and sum(blend.weights.values()) == pytest.approx(1.0)
    calibrated = {n: calibrators[n].transform(m.predict_proba(X)[:, 1])
                  for n, m in models.items()}
    expected = sum(blend.weights[n] * calibrated[n] for n in models)
    assert np.allclose(blend.predict_proba(X)[:, 1], expected)
    p, contributions = blend.explain_array(blend.to_array(X))
    assert np.allclose(p, expected)
    assert np.allclose(contributions, sum(
        blend.weights[n] * models[n].contributions(X).to_numpy() for n in models))


def test_save_load_keeps_the_weights_and_unweighted_files_load_as_a_plain_mean(
        members, tmp_path) -> None:
    models, calibrators, X, y, valid = members
    blend = Blend(models, calibrators, {"wide": 0.8, "coarse": 0.2})
    (tmp_path / "weighted").mkdir()
    blend.save(tmp_path / "weighted")
    loaded = Blend.load(tmp_path / "weighted")
    assert loaded.weights == {"wide": 0.8, "coarse": 0.2}
    assert np.array_equal(loaded.predict_proba(X), blend.predict_proba(X))
    # a blend.json written before weights existed has no "weights": its members' plain mean
    state = json.loads((tmp_path / "weighted" / "blend.json").read_text())
    del state["weights"]
    (tmp_path / "weighted" / "blend.json").write_text(json.dumps(state))
    old = Blend.load(tmp_path / "weighted")
    assert old.weights is None
    plain = np.mean([calibrators[n].transform(m.predict_proba(X)[:, 1])
                     for n, m in models.items()], axis=0)
    assert np.allclose(old.predict_proba(X)[:, 1], plain)
