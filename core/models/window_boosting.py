"""LightGBM on window statistics: the classical RUL baseline; artifact = LightGBM model text
(one booster per quantile) + JSON parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np

from core.models.boosting import cores
from core.models.protocol import Hyperparameters
from core.models.sequence import QUANTILES, sorted_quantiles

META_FILE = "window_lightgbm.json"
STATISTICS = ("last", "mean", "std", "slope", "min", "max")


def window_statistics(windows: np.ndarray, recent: tuple[int, ...] = ()) -> np.ndarray:
    """Per sensor: last value, mean, std, least-squares slope, min, max over the real rows of
    the window, plus the window's real length (rows before it are front padding, which the
    Kind writes as repeats of the unit's first row); then, for each k of `recent`, the mean
    and slope of the last k real rows (a wear that speeds up shows in a recent slope that
    the whole window's averages away)."""
    w = np.asarray(windows, dtype=np.float64)
    n, width, _ = w.shape
    same = np.all(w == w[:, :1, :], axis=2)  # rows equal to the first one: padding (or start)
    leading = np.where(same.all(axis=1), width, np.argmin(same, axis=1))
    pad = np.maximum(leading - 1, 0)  # the first real row repeats itself too: keep one
    real = np.arange(width)[None, :] >= pad[:, None]
    mean, slope = _mean_slope(w, real)
    mask = real[:, :, None]
    count = real.sum(axis=1)[:, None]
    std = np.sqrt(np.where(mask, (w - mean[:, None, :]) ** 2, 0).sum(axis=1) / count)
    lo = np.where(mask, w, np.inf).min(axis=1)
    hi = np.where(mask, w, -np.inf).max(axis=1)
    columns = [w[:, -1, :], mean, std, slope, lo, hi, count.astype(float)]
    for k in recent:
        if not 2 <= k <= width:
            raise ValueError(f"recent={recent!r}: each must be 2..{width} (the window) rows")
        columns += list(_mean_slope(w[:, -k:, :], real[:, -k:]))
    return np.column_stack(columns)


def _mean_slope(w: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and least-squares slope per sensor of windows `w` (n, width, F) over the rows
    `real` (n, width) marks (at least one per window)."""
    width = w.shape[1]
    mask = real[:, :, None]
    count = real.sum(axis=1)[:, None]
    mean = np.where(mask, w, 0).sum(axis=1) / count
    t = np.where(real, np.arange(width)[None, :], 0).astype(float)
    t_mean = t.sum(axis=1, keepdims=True) / count
    dt = np.where(real, t - t_mean, 0)
    slope = ((dt[:, :, None] * (w - mean[:, None, :])).sum(axis=1)
             / np.maximum((dt ** 2).sum(axis=1), 1e-9)[:, None])
    return mean, slope


class WindowLightGBM(Hyperparameters):
    """Three LightGBM boosters on window statistics: an L2 booster for the median (early
    stopped on the held-out units; `early_stopping_rounds=0` runs all `n_estimators`) and
    two quantile boosters for the 0.1 and 0.9 quantiles (their widths are rescaled by the
    Kind's calibration, so only their shape matters)."""

    format = "window_lightgbm"

    def __init__(
        self, *, n_estimators: int = 800, learning_rate: float = 0.03, num_leaves: int = 15,
        min_child_samples: int = 20, subsample: float = 0.8, colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0, early_stopping_rounds: int = 50, n_jobs: int | None = None,
        recent: tuple[int, ...] = (), seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.n_jobs = n_jobs
        self.recent = tuple(int(k) for k in recent)  # JSON gives a list back
        self.seed = seed

    def _params(self, objective: str, alpha: float | None = None, cells: int | None = None
                ) -> dict[str, Any]:
        params = {
            "objective": objective, "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample, "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree, "lambda_l2": self.reg_lambda,
            "num_threads": cores(self.n_jobs, cells), "seed": self.seed, "deterministic": True,
            "force_row_wise": True, "verbose": -1,
        }
        return params | ({"alpha": alpha} if alpha is not None else {})

    def fit(self, windows: np.ndarray, target: np.ndarray,
            valid: tuple[np.ndarray, np.ndarray]) -> Self:
        import lightgbm as lgb

        X, y = window_statistics(windows, self.recent), np.asarray(target, dtype=float)
        data = lgb.Dataset(X, label=y, free_raw_data=False)
        if self.early_stopping_rounds > 0:
            X_valid = window_statistics(valid[0], self.recent)
            y_valid = np.asarray(valid[1], dtype=float)
            held = lgb.Dataset(X_valid, label=y_valid, reference=data)
            median = lgb.train(self._params("regression", cells=X.size), data,
                               num_boost_round=self.n_estimators, valid_sets=[held],
                               callbacks=[lgb.early_stopping(self.early_stopping_rounds,
                                                             verbose=False)])
        else:  # a refit: the rounds are already chosen, `valid` is part of the training set
            median = lgb.train(self._params("regression", cells=X.size), data,
                               num_boost_round=self.n_estimators)
        # The quantile boosters get the rounds the median needed: no early stop on a pinball
        # loss whose level the calibration rescales anyway.
        rounds = max(int(median.best_iteration or self.n_estimators), 10)
        self.boosters_ = [
            lgb.train(self._params("quantile", QUANTILES[0], X.size), data, num_boost_round=rounds),
            median,
            lgb.train(self._params("quantile", QUANTILES[2], X.size), data, num_boost_round=rounds),
        ]
        self.best_iteration_ = rounds
        return self

    def refit_params(self) -> dict[str, Any]:
        """The rounds early stopping chose, with early stopping off (0 rounds)."""
        return {"n_estimators": self.best_iteration_, "early_stopping_rounds": 0}

    def predict_quantiles(self, windows: np.ndarray) -> np.ndarray:
        X = window_statistics(windows, self.recent)
        q = np.column_stack([b.predict(X, num_iteration=self.best_iteration_,
                                       num_threads=cores(self.n_jobs, X.size))
                       for b in self.boosters_])
        return sorted_quantiles(q)

    def save(self, directory: Path) -> None:
        for i, booster in enumerate(self.boosters_):
            booster.save_model(str(Path(directory, f"q{i}.txt")),
                               num_iteration=self.best_iteration_)
        Path(directory, META_FILE).write_text(json.dumps(
            {"params": self.get_params(), "best_iteration": self.best_iteration_}, indent=1))

    @classmethod
    def load(cls, directory: Path) -> Self:
        import lightgbm as lgb

        meta = json.loads(Path(directory, META_FILE).read_text())
        model = cls(**meta["params"])
        model.best_iteration_ = int(meta["best_iteration"])
        model.boosters_ = [lgb.Booster(model_file=str(Path(directory, f"q{i}.txt")))
                           for i in range(len(QUANTILES))]
        return model
