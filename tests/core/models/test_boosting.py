"""LightGBM: native categories, TreeSHAP contributions, exact save/load from text + JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.evaluate import auc
from core.models.boosting import LightGBM


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
