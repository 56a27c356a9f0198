"""Tabular net: trains through the Lightning helper, deterministic, exact safetensors round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from core.models.nets.tabular_mlp import TabularMLP


def small() -> TabularMLP:
    return TabularMLP(hidden=(8,), max_epochs=4, batch_size=128, learning_rate=1e-2, seed=1)


def test_deterministic_fit_and_exact_round_trip(credit, tmp_path) -> None:
    X, y = credit
    model = small().fit(X, y)
    again = small().fit(X, y)
    assert np.array_equal(model.predict_proba(X), again.predict_proba(X))
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "tabular_mlp.json"]
    config = json.loads((tmp_path / "tabular_mlp.json").read_text())
    assert config["categories"] == {"status": ["ge_200", "lt_0", "none"]}
    loaded = TabularMLP.load(tmp_path)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_contributions_per_original_feature(credit) -> None:
    X, y = credit
    model = small().fit(X, y)
    p, contributions = model.explain_array(model.to_array(X))
    assert np.allclose(p, model.predict_proba(X)[:, 1], atol=1e-6)
    assert contributions.shape == (len(X), 3) and np.isfinite(contributions).all()
    frame = model.contributions(X)
    assert frame.columns.tolist() == ["months", "status", "amount"]
    # a row at the training means (numbers) has no numeric effect
    row = X.iloc[[0]].copy()
    row["months"] = model.mean_[0]
    assert model.contributions(row)["months"].iloc[0] == 0.0


def test_unseen_and_missing_values_score(credit) -> None:
    X, y = credit
    model = small().fit(X, y)
    rows = X.iloc[:2].copy()
    rows["status"] = pd.Series(["new", None], dtype="str", index=rows.index)
    rows["amount"] = np.nan
    assert np.isfinite(model.predict_proba(rows)).all()


def test_a_step_budget_ends_the_fit(credit) -> None:
    X, y = credit  # 320 fit rows: the automatic batch of 128 makes 3 steps an epoch
    capped = TabularMLP(hidden=(8,), max_epochs=50, patience=100, max_steps=3).fit(X, y)
    assert capped.net_.epochs_ <= 1
    free = TabularMLP(hidden=(8,), max_epochs=5, patience=100).fit(X, y)
    assert free.net_.epochs_ == 5
