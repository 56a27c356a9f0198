"""Tabular net: trains through the Lightning helper, deterministic, exact safetensors round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from core.models.nets.tabular_mlp import TabularMLP, TabularNet


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


def test_multi_hot_embedding_is_the_lookup_and_the_weights_keep_their_names() -> None:
    torch.manual_seed(0)
    net = TabularNet([3, 1, 5], n_numeric=2, hidden=[4], dropout=0.0)
    codes = torch.tensor([[0, 1, 5], [3, 0, 0], [2, 1, 3]])
    lookups = torch.cat([e(codes[:, j]) for j, e in enumerate(net.embeddings)], dim=1)
    assert torch.equal(net.embed_all(codes), lookups)
    assert [t.shape[1] for t in net.embed(codes)] == [2, 1, 3]
    # artifacts saved before the multi-hot path hold exactly these tensors
    assert sorted(net.state_dict()) == sorted(
        [f"embeddings.{j}.weight" for j in range(3)] + ["baselines", "head.0.weight",
                                                        "head.0.bias", "head.3.weight",
                                                        "head.3.bias"])
    empty = TabularNet([], n_numeric=2, hidden=[4], dropout=0.0)
    assert empty.embed_all(torch.zeros((3, 0), dtype=torch.int64)).shape == (3, 0)
