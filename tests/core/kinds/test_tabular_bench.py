"""The tabular bench's cross-validation: what each fold fits, never on its test fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.evaluate import repeated_stratified_folds
from core.kinds.tabular_bench import BLEND, REFIT_BELOW, cross_validate, refits


class Recording:
    """A model that scores rows by their x and records the rows it was fit on."""

    def __init__(self, name: str, fits: list[tuple[str, set[int]]]) -> None:
        self.name, self.fits = name, fits

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Recording:
        self.fits.append((self.name, set(X.index)))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-X["x"].to_numpy()))
        return np.column_stack([1 - p, p])


def _table() -> tuple[pd.DataFrame, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    y = (x + rng.normal(size=300) > 0).astype(int)
    return pd.DataFrame({"x": x}), y, list(repeated_stratified_folds(y, 5, 3, seed=0))


def test_from_refit_below_rows_each_candidate_is_fit_once_per_fold_on_training_rows() -> None:
    X, y, folds = _table()
    assert not refits(folds, refit_below=240) and refits(folds, refit_below=241)
    fits: list[tuple[str, set[int]]] = []
    results = cross_validate(lambda name: Recording(name, fits), ["a", "b"], True, X, y, folds,
                             "platt", 0.5, seed=0, refit_below=240)
    assert len(fits) == 2 * len(folds)  # no refit on the whole training folds
    for number, (train, test) in enumerate(folds):
        fold = fits[2 * number:2 * number + 2]
        assert [name for name, _ in fold] == ["a", "b"]
        for _, rows in fold:
            assert rows <= set(train) and not rows & set(test)
            # 80% of the training folds: the other 20% calibrate (and pick cut-offs)
            assert abs(len(rows) - 0.8 * len(train)) <= 2
    assert set(results) == {"a", "b", BLEND}
    assert 0.6 < results["a"]["auc"] == results["b"]["auc"] <= 1


def test_small_tables_refit_each_candidate_on_all_training_folds() -> None:
    X, y, folds = _table()
    assert len(folds[0][0]) < REFIT_BELOW  # 240 training rows: a small table
    fits: list[tuple[str, set[int]]] = []
    cross_validate(lambda name: Recording(name, fits), ["a"], False, X, y, folds, "platt", 0.5,
                   seed=0)
    assert len(fits) == 2 * len(folds)
    for number, (train, test) in enumerate(folds):
        first, refit = fits[2 * number][1], fits[2 * number + 1][1]
        assert first < set(train) and refit == set(train) and not refit & set(test)


def test_the_blend_reports_its_stacked_weights_per_member() -> None:
    X, y, folds = _table()
    X["noise"] = np.random.default_rng(1).normal(size=len(X))

    class Noise(Recording):
        def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
            p = 1 / (1 + np.exp(-X["noise"].to_numpy()))
            return np.column_stack([1 - p, p])

    fits: list[tuple[str, set[int]]] = []
    build = {"signal": lambda: Recording("signal", fits), "noise": lambda: Noise("noise", fits)}
    results = cross_validate(lambda name: build[name](), ["signal", "noise"], True, X, y, folds,
                             "platt", 0.5, seed=0)
    blend = results[BLEND]
    assert blend["weight_signal"] + blend["weight_noise"] == pytest.approx(1.0, abs=1e-3)
    # calibrated, the noise member is nearly its base rate: whatever its weight, it shifts
    # every row alike and the blend ranks rows as the signal does
    assert blend["auc"] == pytest.approx(results["signal"]["auc"], abs=0.01)
    assert blend["auc"] >= results["noise"]["auc"] + 0.1
