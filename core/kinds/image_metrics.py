"""ImageClassification metrics, calibration of class probabilities and the operating point."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from core.evaluate import auc, ece
from core.models.calibration import Calibrator

ROC_POINTS = 200  # enough for a smooth curve in the dashboard, small in model_versions.params


def threshold_for_sensitivity(positive: np.ndarray, p: np.ndarray, target: float) -> float:
    """The highest threshold t such that a *new* positive case scores p >= t with probability
    at least `target` (split-conformal, over draws of the held-out positives).

    With the n held-out positive scores ascending, t is the k-th lowest, k = floor((1 - target)
    (n + 1)): a new positive's rank among the n + 1 is uniform, so it falls below t with
    probability k / (n + 1) <= 1 - target. Catching `target` of the held-out positives
    instead promises less: with 21 positives and a 95% target that rule keeps 20/22 = 0.91
    in expectation, and on BreastMNIST's test split it caught 0.79. Fewer than
    1 / (1 - target) - 1 positives cannot support the target at all: t is then the lowest
    positive score and `guaranteed_sensitivity` says what it does promise.
    """
    if not 0 < target <= 1:
        raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
    scores = np.sort(np.asarray(p, dtype=float)[np.asarray(positive, dtype=bool)])
    if len(scores) == 0:
        raise ValueError("the operating point needs at least one positive example")
    return float(scores[_rank(len(scores), target) - 1])


def guaranteed_sensitivity(n_positive: int, target: float) -> float:
    """What `threshold_for_sensitivity` promises a new positive case, from n held-out ones."""
    return 1 - _rank(n_positive, target) / (n_positive + 1)


def _rank(n: int, target: float) -> int:
    return max(math.floor((1 - target) * (n + 1) + 1e-9), 1)


def sensitivity_specificity(positive: np.ndarray, called: np.ndarray) -> tuple[float, float]:
    """(true-positive rate, true-negative rate) of boolean decisions; NaN when a class is absent."""
    positive, called = np.asarray(positive, dtype=bool), np.asarray(called, dtype=bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    sens = float((called & positive).sum() / n_pos) if n_pos else float("nan")
    spec = float((~called & ~positive).sum() / n_neg) if n_neg else float("nan")
    return sens, spec


def confusion(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> list[list[int]]:
    """counts[true][predicted] as nested lists (JSON-able)."""
    matrix = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(matrix, (np.asarray(y, dtype=int), np.asarray(predicted, dtype=int)), 1)
    return matrix.tolist()


def roc_curve(positive: np.ndarray, p: np.ndarray) -> dict[str, list[float]]:
    """(fpr, tpr, threshold) points of the ROC curve, thinned to at most ROC_POINTS."""
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-np.asarray(p, dtype=float), kind="mergesort")
    scores, hits = np.asarray(p)[order], positive[order]
    last = np.r_[scores[1:] != scores[:-1], True]  # a threshold cannot split tied scores
    tpr = np.r_[0.0, np.cumsum(hits)[last] / max(hits.sum(), 1)]
    fpr = np.r_[0.0, np.cumsum(~hits)[last] / max((~hits).sum(), 1)]
    thresholds = np.r_[1.0, scores[last]]
    keep = np.unique(np.linspace(0, len(tpr) - 1, min(len(tpr), ROC_POINTS)).round().astype(int))
    return {"fpr": fpr[keep].round(5).tolist(), "tpr": tpr[keep].round(5).tolist(),
            "threshold": thresholds[keep].round(6).tolist()}


def image_metrics(y: np.ndarray, P: np.ndarray, classes: list[str], positive: int,
                  threshold: float) -> dict[str, float]:
    """accuracy (argmax, i.e. 0.5 for two classes), auc, ece, per-class sensitivity/specificity,
    and sensitivity/specificity of the positive class at the operating-point threshold."""
    y = np.asarray(y, dtype=int)
    predicted = P.argmax(axis=1)
    metrics = {"accuracy": float(np.mean(predicted == y))}
    if len(classes) == 2:
        metrics["auc"] = auc(y == positive, P[:, positive])
        metrics["ece"] = ece((y == positive).astype(float), P[:, positive])
    else:  # one-vs-rest AUC averaged over classes, as the MedMNIST evaluator does
        per_class = [auc(y == k, P[:, k]) for k in range(len(classes))
                     if 0 < (y == k).sum() < len(y)]
        metrics["auc"] = float(np.mean(per_class))
        metrics["ece"] = ece((predicted == y).astype(float), P.max(axis=1))  # top-label ECE
    for k, name in enumerate(classes):
        sens, spec = sensitivity_specificity(y == k, predicted == k)
        metrics[f"sensitivity_{name}"], metrics[f"specificity_{name}"] = sens, spec
    sens, spec = sensitivity_specificity(y == positive, P[:, positive] >= threshold)
    metrics.update(op_threshold=threshold, op_sensitivity=sens, op_specificity=spec)
    return {k: round(v, 6) for k, v in metrics.items()}


@dataclass
class ClassCalibrator:
    """Calibrates class probabilities on validation rows: Platt on the positive class for two
    classes (core.models.calibration), temperature scaling of the log-probabilities for more."""

    method: str = "platt"
    positive: int = 1
    params_: dict[str, Any] = field(default_factory=dict)

    def fit(self, P: np.ndarray, y: np.ndarray) -> Self:
        y = np.asarray(y, dtype=int)
        if P.shape[1] == 2:
            calibrator = Calibrator(self.method).fit(P[:, self.positive], y == self.positive)
            self.params_ = {"binary": calibrator.to_dict()}
            return self
        from scipy.optimize import minimize_scalar

        logp = np.log(np.clip(P, 1e-12, 1.0))

        def nll(log_t: float) -> float:
            z = logp / math.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            return float(-np.mean(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))))

        best = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
        self.params_ = {"temperature": math.exp(float(best.x))}
        return self

    def transform(self, P: np.ndarray) -> np.ndarray:
        if not self.params_:
            raise RuntimeError("ClassCalibrator is not fitted: call fit(P, y) on validation rows")
        if "binary" in self.params_:
            p = Calibrator.from_dict(self.params_["binary"]).transform(P[:, self.positive])
            out = np.empty_like(P, dtype=float)
            out[:, self.positive], out[:, 1 - self.positive] = p, 1 - p
            return out
        z = np.log(np.clip(P, 1e-12, 1.0)) / self.params_["temperature"]
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "positive": self.positive, "params": self.params_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(method=data["method"], positive=data["positive"], params_=dict(data["params"]))
