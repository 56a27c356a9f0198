"""Credit scorecard: WoE binning (OptBinning) + logistic regression, exported to a JSON table."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from core.models.encoding import category_maps, to_array
from core.models.protocol import Hyperparameters

FILE = "scorecard.json"


class _CvxpyOrtoolsNotice(logging.Filter):
    """Drops cvxpy's "unrecognized new version of ortools" notice, printed on every import:
    cvxpy will not drive ortools >= 9.15 through its GLOP/PDLP interfaces, which we never
    use (optbinning calls ortools' CP-SAT directly, and that works). Other cvxpy messages
    pass through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Unrecognized new version of ortools" not in record.getMessage()


def _quiet_cvxpy() -> None:
    logger = logging.getLogger("__cvxpy__")  # cvxpy.settings.LOGGER
    if not any(isinstance(f, _CvxpyOrtoolsNotice) for f in logger.filters):
        logger.addFilter(_CvxpyOrtoolsNotice())


class Scorecard(Hyperparameters):
    """WoE-binned logistic regression with points (PDO scaling).

    Binning comes from optbinning's BinningProcess (numbers get the event-rate shape
    `monotonic_trend`: "auto" lets optbinning pick ascending, descending, peak or valley per
    feature - age risk is valley-shaped; "auto_asc_desc" forces strictly monotone bins); the bins
    are then exported to a plain table and every prediction is a NumPy lookup in that table,
    so the artifact is one JSON file and scoring never imports optbinning.
    """

    format = "scorecard"

    def __init__(
        self, *, max_n_prebins: int = 20, min_prebin_size: float = 0.05,
        monotonic_trend: str = "auto", C: float = 1.0, pdo: float = 20.0,
        base_points: float = 600.0, base_odds: float = 50.0, seed: int = 0,
    ) -> None:
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.monotonic_trend = monotonic_trend
        self.C = C
        self.pdo = pdo
        self.base_points = base_points
        self.base_odds = base_odds
        self.seed = seed

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, *,
        X_valid: pd.DataFrame | None = None, y_valid: np.ndarray | None = None,
    ) -> Self:
        from sklearn.linear_model import LogisticRegression

        self.features_ = list(X.columns)
        self.categories_ = category_maps(X)
        self.bins_ = self._fit_bins(X, np.asarray(y, dtype=int))
        woe = self._woe(to_array(X, self.features_, self.categories_))
        model = LogisticRegression(C=self.C, max_iter=2000).fit(woe, y)
        self.coef_ = model.coef_[0].tolist()
        self.intercept_ = float(model.intercept_[0])
        return self

    def _fit_bins(self, X: pd.DataFrame, y: np.ndarray) -> list[dict[str, Any]]:
        _quiet_cvxpy()
        from optbinning import BinningProcess

        categorical = list(self.categories_)
        frame = X.copy()
        for column in categorical:
            frame[column] = frame[column].astype("object").where(frame[column].notna())
            frame[column] = frame[column].map(lambda v: v if v is None else str(v))
        trend = {"monotonic_trend": self.monotonic_trend}
        process = BinningProcess(
            variable_names=self.features_, categorical_variables=categorical,
            max_n_prebins=self.max_n_prebins, min_prebin_size=self.min_prebin_size,
            binning_fit_params={f: trend for f in self.features_ if f not in categorical},
        ).fit(frame, y)
        bins = []
        for feature in self.features_:
            binned = process.get_binned_variable(feature)
            table = binned.binning_table.build()
            table = table[table.index != "Totals"]
            woe = table["WoE"].astype(float).to_numpy()
            n_bins = len(binned.splits) + (0 if feature in categorical else 1)
            # Rows: one per bin, then "Special", then "Missing".
            entry: dict[str, Any] = {"missing_woe": float(woe[-1])}
            if feature in categorical:
                # One WoE per known category (in the category map's order); unseen -> 0.
                per_category = {str(c): float(woe[i])
                                for i, group in enumerate(binned.splits) for c in group}
                entry["woe"] = [per_category.get(c, 0.0) for c in self.categories_[feature]]
            else:
                entry["splits"] = [float(s) for s in binned.splits]
                entry["woe"] = [float(w) for w in woe[:n_bins]]
            bins.append(entry)
        return bins

    def _woe(self, A: np.ndarray) -> np.ndarray:
        out = np.empty_like(A)
        for j, entry in enumerate(self.bins_):
            column = A[:, j]
            nan = np.isnan(column)
            woe = np.asarray(entry["woe"], dtype=float)
            if "splits" in entry:
                index = np.searchsorted(np.asarray(entry["splits"]), column, side="right")
                out[:, j] = woe[np.minimum(index, len(woe) - 1)]
            else:
                codes = np.where(nan, -1, column).astype(int)
                # Unseen categories (code -1) weigh nothing: no evidence either way.
                out[:, j] = np.where(codes >= 0, np.r_[woe, 0.0][codes], 0.0)
            out[nan, j] = entry["missing_woe"]
        return out

    def to_array(self, X: pd.DataFrame) -> np.ndarray:
        return to_array(X, self.features_, self.categories_)

    def explain_array(self, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probability of the positive class, log-odds contribution per feature)."""
        contributions = self._woe(A) * np.asarray(self.coef_)
        z = contributions.sum(axis=1) + self.intercept_
        return 1.0 / (1.0 + np.exp(-z)), contributions

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p, _ = self.explain_array(self.to_array(X))
        return np.column_stack([1 - p, p])

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        _, contributions = self.explain_array(self.to_array(X))
        return pd.DataFrame(contributions, columns=self.features_, index=X.index)

    def points(self, X: pd.DataFrame) -> np.ndarray:
        """Score points: base_points at base_odds (good:bad), pdo more points per doubling."""
        p = self.predict_proba(X)[:, 1]
        return points_from_probability(p, self.pdo, self.base_points, self.base_odds)

    def save(self, directory: Path) -> None:
        state = {"params": self.get_params(), "features": self.features_,
                 "categories": self.categories_, "bins": self.bins_, "coef": self.coef_,
                 "intercept": self.intercept_}
        Path(directory, FILE).write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, directory: Path) -> Self:
        state = json.loads(Path(directory, FILE).read_text())
        model = cls(**state["params"])
        model.features_ = state["features"]
        model.categories_ = state["categories"]
        model.bins_ = state["bins"]
        model.coef_ = state["coef"]
        model.intercept_ = state["intercept"]
        return model


def points_from_probability(
    p: np.ndarray, pdo: float = 20.0, base_points: float = 600.0, base_odds: float = 50.0
) -> np.ndarray:
    """Scorecard points for default probabilities: higher points mean lower risk."""
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    factor = pdo / np.log(2.0)
    return base_points + factor * (np.log((1 - p) / p) - np.log(base_odds))
