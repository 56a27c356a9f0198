"""LightGBM: native categories, TreeSHAP contributions, exact save/load from text + JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.evaluate import auc
from core.models.boosting import CELLS_PER_THREAD, LightGBM, cores


def test_fit_contributions_and_round_trip(credit, tmp_path) -> None:
    X, y = credit
    model = LightGBM(n_estimators=60, learning_rate=0.1, n_jobs=1).fit(X, y)
    p = model.predict_proba(X)[:, 1]
    assert auc(y, p) > 0.7
    p_array, contributions = model.explain_array(model.to_array(X))
    assert np.allclose(p_array, p)
    assert contributions.shape == (len(X), 3)
    assert model.contributions(X).columns.tolist() == ["months", "status", "amount"]
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lightgbm.json", "model.txt"]
    loaded = LightGBM.load(tmp_path)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.categories_ == {"status": ["ge_200", "lt_0", "none"]}


def test_same_seed_same_model_and_unseen_categories(credit) -> None:
    X, y = credit
    a = LightGBM(n_estimators=30, n_jobs=1, seed=3).fit(X, y).predict_proba(X)
    b = LightGBM(n_estimators=30, n_jobs=1, seed=3).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)
    model = LightGBM(n_estimators=30, n_jobs=1).fit(X, y)
    row = X.iloc[[0]].copy()
    row["status"] = pd.Series(["brand_new"], dtype="str", index=row.index)
    assert np.isfinite(model.predict_proba(row)).all()


def test_n_jobs_none_uses_every_core_the_process_may_use(credit, monkeypatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert cores(None) == 3 and cores(1) == 1
    with pytest.raises(ValueError, match="n_jobs"):
        cores(0)
    X, y = credit
    model = LightGBM(n_estimators=5).fit(X, y)
    assert model.get_params()["n_jobs"] is None  # resolved at fit time, stored as plain None
    assert model._booster_params()["num_threads"] == 3


def test_n_jobs_none_gives_small_data_one_thread_and_large_data_every_core(monkeypatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    # One thread per CELLS_PER_THREAD cells, at least one, at most the cores there are.
    assert cores(None, 1_000 * 20) == 1
    assert cores(None, 2 * CELLS_PER_THREAD) == 2
    assert cores(None, 10**6 * 20) == 4 and cores(None) == 4
    assert cores(2, 10) == 2  # a number given is used as given
