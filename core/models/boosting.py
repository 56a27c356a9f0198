"""LightGBM classifier; artifact = LightGBM's native model text + JSON category maps."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from core.models.encoding import category_maps, to_array
from core.models.protocol import Hyperparameters

MODEL_FILE = "model.txt"
META_FILE = "lightgbm.json"


# Cells (rows x columns) per thread when n_jobs is None. Below this a thread's share of a
# histogram pass is too small to pay for waking it: on 2 busy cores a 1,000-row fit took 5.0 s
# on 2 threads against 0.11 s on one, and 2 threads were slower than 1 up to 10^5 rows x 20
# columns (issue #13's measurements); from about 10^6 cells on, each thread has real work.
CELLS_PER_THREAD = 1_000_000


def cores(n_jobs: int | None, cells: int | None = None) -> int:
    """The threads a classical fit or prediction uses: `n_jobs` as given, or with None one per
    CELLS_PER_THREAD cells of the data (`cells`: rows x columns; None counts as large), at
    most every core this process may run on (its CPU affinity, which a container, taskset or
    batch scheduler narrows; the machine's count where the OS keeps no affinity). Resolved
    when used, never stored: params stay None, so an artifact fit on 2 cores uses all 16 of
    the next machine. Small data thus runs on one thread, and repeats bit for bit anywhere."""
    if n_jobs is not None:
        if n_jobs < 1:
            raise ValueError(f"n_jobs={n_jobs!r} must be at least 1 (or None: every core)")
        return int(n_jobs)
    if hasattr(os, "sched_getaffinity"):  # Linux; macOS and Windows have no affinity call
        available = max(len(os.sched_getaffinity(0)), 1)
    else:
        available = os.cpu_count() or 1
    if cells is None:
        return available
    return max(1, min(available, int(cells) // CELLS_PER_THREAD))


class LightGBM(Hyperparameters):
    """Gradient-boosted trees on raw numbers and native categories.

    Defaults suit small credit tables: shallow trees, a low learning rate, many rounds and
    strong regularisation (wide, noisy, few rows is where boosting overfits). `n_jobs`: threads
    (None: every core the process may use, see `cores`; 1 where results must repeat bit for
    bit, since LightGBM's histogram sums depend on the thread count).
    """

    format = "lightgbm"

    def __init__(
        self, *, n_estimators: int = 500, learning_rate: float = 0.02, num_leaves: int = 4,
        max_depth: int = 2, min_child_samples: int = 10, subsample: float = 0.7,
        colsample_bytree: float = 0.3, reg_lambda: float = 2.0, max_cat_to_onehot: int = 8,
        n_jobs: int | None = None, seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.max_cat_to_onehot = max_cat_to_onehot
        self.n_jobs = n_jobs
        self.seed = seed

    def _booster_params(self, cells: int | None = None) -> dict[str, Any]:
        return {
            "objective": "binary", "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples, "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree, "lambda_l2": self.reg_lambda,
            "max_cat_to_onehot": self.max_cat_to_onehot, "num_threads": cores(self.n_jobs, cells),
            "seed": self.seed, "deterministic": True, "force_row_wise": True, "verbose": -1,
        }

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, *,
        X_valid: pd.DataFrame | None = None, y_valid: np.ndarray | None = None,
    ) -> Self:
        import lightgbm as lgb

        self.features_ = list(X.columns)
        self.categories_ = category_maps(X)
        categorical = [j for j, f in enumerate(self.features_) if f in self.categories_]
        data = lgb.Dataset(
            self.to_array(X), label=np.asarray(y, dtype=float), feature_name=self._safe_names(),
            categorical_feature=categorical, free_raw_data=True,
        )
        self.booster_ = lgb.train(self._booster_params(X.size), data,
                                  num_boost_round=self.n_estimators)
        return self

    def _safe_names(self) -> list[str]:
        # LightGBM rejects some characters in feature names; positions are what matter.
        return [f"f{j}" for j in range(len(self.features_))]

    def to_array(self, X: pd.DataFrame) -> np.ndarray:
        return to_array(X, self.features_, self.categories_)

    def explain_array(self, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probability of the positive class, log-odds contribution per feature via TreeSHAP)."""
        contrib = self.booster_.predict(A, pred_contrib=True,
                                        num_threads=cores(self.n_jobs, A.size))
        z = contrib.sum(axis=1)  # the last column is the expected value (bias)
        return 1.0 / (1.0 + np.exp(-z)), contrib[:, :-1]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.booster_.predict(self.to_array(X), num_threads=cores(self.n_jobs, X.size))
        return np.column_stack([1 - p, p])

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        _, contrib = self.explain_array(self.to_array(X))
        return pd.DataFrame(contrib, columns=self.features_, index=X.index)

    def save(self, directory: Path) -> None:
        self.booster_.save_model(str(Path(directory, MODEL_FILE)))
        meta = {"params": self.get_params(), "features": self.features_,
                "categories": self.categories_}
        Path(directory, META_FILE).write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: Path) -> Self:
        import lightgbm as lgb

        meta = json.loads(Path(directory, META_FILE).read_text())
        model = cls(**meta["params"])
        model.features_ = meta["features"]
        model.categories_ = meta["categories"]
        model.booster_ = lgb.Booster(model_file=str(Path(directory, MODEL_FILE)))
        return model
