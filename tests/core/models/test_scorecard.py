"""Scorecard: monotone WoE bins in a JSON table, additive log-odds, exact save/load."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.evaluate import auc
from core.models.scorecard import Scorecard, points_from_probability


@pytest.fixture(scope="module")
def fitted() -> tuple[Scorecard, pd.DataFrame, np.ndarray]:
    from tests.core.models.conftest import credit_frame

    X, y = credit_frame()
    return Scorecard(max_n_prebins=8, monotonic_trend="auto_asc_desc").fit(X, y), X, y


def test_learns_the_signal_with_monotone_bins(fitted) -> None:
    model, X, y = fitted
    assert auc(y, model.predict_proba(X)[:, 1]) > 0.7
    months = model.bins_[model.features_.index("months")]
    woe = np.asarray(months["woe"])
    assert len(months["splits"]) >= 1
    assert np.all(np.diff(woe) <= 0) or np.all(np.diff(woe) >= 0)  # monotonic trend


def test_contributions_add_up_to_the_log_odds(fitted) -> None:
    model, X, _ = fitted
    p = model.predict_proba(X)[:, 1]
    total = model.contributions(X).sum(axis=1).to_numpy() + model.intercept_
    assert np.allclose(total, np.log(p / (1 - p)))
    status = model.contributions(X)["status"]
    assert status[X["status"] == "lt_0"].mean() > status[X["status"] == "none"].mean()


def test_unseen_category_is_neutral_and_missing_uses_its_bin(fitted) -> None:
    model, X, _ = fitted
    row = X.iloc[[0]].copy()
    row["status"] = pd.Series(["never_seen"], dtype="str", index=row.index)
    assert model.contributions(row)["status"].iloc[0] == 0.0
    row["amount"] = np.nan
    missing = model.bins_[model.features_.index("amount")]["missing_woe"]
    expected = missing * model.coef_[model.features_.index("amount")]
    assert model.contributions(row)["amount"].iloc[0] == pytest.approx(expected)


def test_save_load_is_exact_and_plain_json(fitted, tmp_path) -> None:
    model, X, _ = fitted
    model.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["scorecard.json"]
    json.loads((tmp_path / "scorecard.json").read_text())
    loaded = Scorecard.load(tmp_path)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.get_params() == model.get_params()


def test_points_follow_pdo_scaling() -> None:
    # base odds 50:1 good:bad -> 600 points; doubling the odds adds 20 points
    assert points_from_probability(np.array([1 / 51]))[0] == pytest.approx(600)
    assert points_from_probability(np.array([1 / 101]))[0] == pytest.approx(620)


def test_only_cvxpys_ortools_version_notice_is_dropped() -> None:
    import logging

    from core.models.scorecard import _CvxpyOrtoolsNotice

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("__cvxpy__", logging.WARNING, __file__, 1, message, None, None)

    notice = _CvxpyOrtoolsNotice()
    assert not notice.filter(record(
        "Encountered unexpected exception importing solver GLOP:\nRuntimeError('Unrecognized "
        "new version of ortools (9.15.6755). Expected < 9.15.0.')"))
    assert notice.filter(record("Solver ECOS failed: infeasible"))
