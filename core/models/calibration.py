"""Probability calibration on held-out data (Platt or isotonic), stored as plain JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

METHODS = ("platt", "isotonic", "identity")
_CLIP = 1e-6  # keeps logit finite for scores of exactly 0 or 1


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _CLIP, 1 - _CLIP)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """Maps raw model probabilities to calibrated ones.

    platt: a logistic curve on the raw log-odds (two numbers; keeps the ranking).
    isotonic: a monotone step function (knots; flexible, needs more calibration rows).
    """

    method: str = "platt"
    params_: dict[str, Any] = field(default_factory=dict)

    def fit(self, p: np.ndarray, y: np.ndarray) -> Self:
        if self.method not in METHODS:
            raise ValueError(f"unknown calibration {self.method!r}: use one of {METHODS}")
        y = np.asarray(y, dtype=float)
        if self.method == "identity":
            self.params_ = {}
        elif len(np.unique(y)) < 2:
            raise ValueError(
                f"calibration needs both classes in the held-out rows ({len(y)} rows, one class): "
                "use more data or a smaller calibration share"
            )
        elif self.method == "platt":
            from sklearn.linear_model import LogisticRegression

            # Nearly unregularised: only two parameters and no reason to shrink them.
            fit = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p)[:, None], y)
            self.params_ = {"slope": float(fit.coef_[0, 0]), "intercept": float(fit.intercept_[0])}
        else:
            from sklearn.isotonic import IsotonicRegression

            fit = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
            self.params_ = {"x": fit.X_thresholds_.tolist(), "y": fit.y_thresholds_.tolist()}
        return self

    def transform(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        if self.method == "identity":
            return p
        if not self.params_:
            raise RuntimeError("Calibrator is not fitted: call fit(p, y) on held-out rows first")
        if self.method == "platt":
            z = self.params_["slope"] * _logit(p) + self.params_["intercept"]
            return 1.0 / (1.0 + np.exp(-z))
        return np.interp(p, self.params_["x"], self.params_["y"])

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(method=data["method"], params_=dict(data["params"]))
