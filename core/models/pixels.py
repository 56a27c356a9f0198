"""Baselines on raw pixels: logistic regression (JSON weights) and LightGBM (native text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

import numpy as np

from core.models.boosting import cores
from core.models.protocol import Hyperparameters

LOGISTIC_FILE = "pixel_logistic.json"
LIGHTGBM_FILE = "model.txt"
LIGHTGBM_META = "pixel_lightgbm.json"


def _flat(X: np.ndarray) -> np.ndarray:
    return np.asarray(X, dtype=np.float32).reshape(len(X), -1)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class PixelLogistic(Hyperparameters):
    """L2 logistic regression on standardised pixels; the weights map is its explanation."""

    format = "pixel_logistic"

    def __init__(self, *, C: float = 0.01, max_iter: int = 500, seed: int = 0) -> None:
        self.C = C
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, *, X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None) -> Self:
        from sklearn.linear_model import LogisticRegression

        A = _flat(X)
        self.shape_ = list(X.shape[1:])
        self.mean_ = A.mean(axis=0)
        self.std_ = A.std(axis=0) + 1e-6
        fit = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed).fit(
            (A - self.mean_) / self.std_, np.asarray(y))
        n_classes = int(np.max(y)) + 1
        coef, intercept = fit.coef_, fit.intercept_
        if n_classes == 2:  # sklearn keeps one row for two classes: expand to one per class
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.r_[-intercept / 2, intercept / 2]
        self.coef_, self.intercept_ = coef, intercept
        return self

    def _z(self, X: np.ndarray) -> np.ndarray:
        return ((_flat(X) - self.mean_) / self.std_) @ self.coef_.T + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _softmax(self._z(X))

    def heatmap(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """|weight x standardised pixel| for the class, summed over channels, scaled to [0, 1]."""
        effect = self.coef_[class_index] * ((x.reshape(-1) - self.mean_) / self.std_)
        return _unit(np.abs(effect.reshape(self.shape_)).sum(axis=0))

    def save(self, directory: Path) -> None:
        state = {"params": self.get_params(), "shape": self.shape_, "mean": self.mean_.tolist(),
                 "std": self.std_.tolist(), "coef": self.coef_.tolist(),
                 "intercept": self.intercept_.tolist()}
        Path(directory, LOGISTIC_FILE).write_text(json.dumps(state))

    @classmethod
    def load(cls, directory: Path) -> Self:
        state = json.loads(Path(directory, LOGISTIC_FILE).read_text())
        model = cls(**state["params"])
        model.shape_ = state["shape"]
        model.mean_, model.std_ = np.asarray(state["mean"]), np.asarray(state["std"])
        model.coef_, model.intercept_ = np.asarray(state["coef"]), np.asarray(state["intercept"])
        return model


class PixelLightGBM(Hyperparameters):
    """Gradient-boosted trees on pixels (binary or multiclass); contributions give the heatmap.

    `n_jobs`: threads (None: every core the process may use, core.models.boosting.cores)."""

    format = "pixel_lightgbm"

    def __init__(self, *, n_estimators: int = 300, learning_rate: float = 0.05,
                 num_leaves: int = 15, min_child_samples: int = 10, colsample_bytree: float = 0.3,
                 subsample: float = 0.8, reg_lambda: float = 1.0, n_jobs: int | None = None,
                 seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.reg_lambda = reg_lambda
        self.n_jobs = n_jobs
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, *, X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None) -> Self:
        import lightgbm as lgb

        self.shape_ = list(X.shape[1:])
        self.n_classes_ = int(np.max(y)) + 1
        objective = ({"objective": "binary"} if self.n_classes_ == 2
                     else {"objective": "multiclass", "num_class": self.n_classes_})
        params = {**objective, "learning_rate": self.learning_rate,
                  "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
                  "feature_fraction": self.colsample_bytree, "bagging_fraction": self.subsample,
                  "bagging_freq": 1, "lambda_l2": self.reg_lambda,
                  "num_threads": cores(self.n_jobs, int(np.prod(X.shape))),
                  "seed": self.seed, "deterministic": True, "force_row_wise": True,
                  "verbose": -1}
        data = lgb.Dataset(_flat(X), label=np.asarray(y, dtype=float))
        self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        flat = _flat(X)
        p = self.booster_.predict(flat, num_threads=cores(self.n_jobs, flat.size))
        return np.column_stack([1 - p, p]) if self.n_classes_ == 2 else p

    def heatmap(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """|TreeSHAP contribution| per pixel toward the class, summed over channels."""
        contrib = self.booster_.predict(_flat(x[None]), pred_contrib=True)[0]
        width = int(np.prod(self.shape_)) + 1  # one block per class, the last value is the bias
        if self.n_classes_ > 2:
            contrib = contrib[class_index * width:(class_index + 1) * width]
        return _unit(np.abs(contrib[:-1].reshape(self.shape_)).sum(axis=0))

    def save(self, directory: Path) -> None:
        self.booster_.save_model(str(Path(directory, LIGHTGBM_FILE)))
        meta = {"params": self.get_params(), "shape": self.shape_, "n_classes": self.n_classes_}
        Path(directory, LIGHTGBM_META).write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: Path) -> Self:
        import lightgbm as lgb

        meta = json.loads(Path(directory, LIGHTGBM_META).read_text())
        model = cls(**meta["params"])
        model.shape_, model.n_classes_ = meta["shape"], meta["n_classes"]
        model.booster_ = lgb.Booster(model_file=str(Path(directory, LIGHTGBM_FILE)))
        return model


def _unit(values: np.ndarray) -> np.ndarray:
    top = float(values.max())
    return values / top if top > 0 else values
