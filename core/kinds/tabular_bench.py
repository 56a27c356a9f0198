"""Cross-validation for TabularClassification.bench: calibrated candidates and their blend."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core import progress
from core.decision import Costs, best_threshold, cost_curve, policy_costs
from core.evaluate import classification_metrics, f1, stratified_split
from core.models.blend import stack_weights
from core.models.calibration import Calibrator

if TYPE_CHECKING:
    from core.models.protocol import Model

BLEND = "blend"
CALIBRATION_SHARE = 0.2
# Below this many training rows per fold each candidate is refit on all of them for the test
# fold: on a small table the calibration share is data the model misses (German credit, 800
# training rows: blend AUC 0.8000 with the refit, 0.7921 without). Above it the refit would
# double the bench's fits for a flat stretch of the learning curve, so it is not made.
REFIT_BELOW = 10_000


def cross_validate(
    build: Callable[[str], Model], names: list[str], blend: bool, X: pd.DataFrame,
    y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], calibration: str,
    cutoff: float, seed: int, costs: Costs | None = None,
    modes: Mapping[str, np.ndarray] | None = None, refit_below: int = REFIT_BELOW,
) -> dict[str, dict[str, float]]:
    """Mean test-fold metrics per candidate (and the blend), rounded to 4 decimals.

    Per fold: fit on 80% of the training folds and calibrate on the other 20%; the calibration
    and the cut-offs come from those rows alone, never the test fold. Small tables (training
    folds under `refit_below` rows, `refits`) then refit each candidate on all the training
    folds and apply that calibration to the refit model's test-fold scores; larger ones score
    the test fold with the 80% model itself: one fit per candidate per fold, as `train` fits
    the model it ships. With `costs` each fold's cut-off is the one minimising
    expected cost on the calibration rows (never the test fold), and the metrics add that
    cut-off, precision and recall at it, the cost per 1,000 rows at it against never / always
    acting, and `f1_threshold`: the cut-off maximising F1 on the same calibration rows, with
    `f1_at_f1_threshold` on the test fold (the classifier's F1 where the cost cut-off trades
    precision for recall). With
    `modes` (mode -> 0/1/NaN per row) they add `recall_M`: the share of the test fold's mode-M
    rows on which the alert fires. The blend pools the members' calibrated PDs with weights
    stacked on the calibration rows (`core.models.blend.stack_weights`), as `train`'s blend
    does; its metrics add `weight_M`, member M's mean weight over the folds.
    """
    scores: dict[str, list[dict[str, float]]] = {}
    refit = refits(folds, refit_below)
    with progress.task("cross-validation", total=len(folds) * len(names)):
        for number, (train, test) in enumerate(folds, 1):
            fold = _fold(build, names, X, y, train, test, calibration, seed, refit,
                         f"{number}/{len(folds)}")
            for name, metrics in _fold_metrics(fold, names, blend, y, test, calibration,
                                               cutoff, costs, modes).items():
                scores.setdefault(name, []).append(metrics)
    return {name: _means(runs) for name, runs in scores.items()}


def refits(folds: list[tuple[np.ndarray, np.ndarray]], refit_below: int = REFIT_BELOW) -> bool:
    """Whether the candidates are refit on the whole training folds: on small tables only."""
    return max(len(train) for train, _ in folds) < refit_below


def _fold(build: Callable[[str], Model], names: list[str], X: pd.DataFrame, y: np.ndarray,
          train: np.ndarray, test: np.ndarray, calibration: str, seed: int, refit: bool,
          label: str) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(calibration rows, their calibrated PDs, the test fold's) per candidate: each fit on
    the fit rows, calibrated on the calibration rows, refit on all training rows if `refit`."""
    inner_fit, inner_cal = (train[p] for p in stratified_split(
        y[train], (1 - CALIBRATION_SHARE, CALIBRATION_SHARE), seed))
    cal_pd, test_pd = {}, {}
    for name in names:
        progress.update(candidate=name, fold=label)
        model = build(name).fit(X.iloc[inner_fit], y[inner_fit])
        raw_cal = model.predict_proba(X.iloc[inner_cal])[:, 1]
        calibrator = Calibrator(calibration).fit(raw_cal, y[inner_cal])
        cal_pd[name] = calibrator.transform(raw_cal)
        if refit:
            model = build(name).fit(X.iloc[train], y[train])
        test_pd[name] = calibrator.transform(model.predict_proba(X.iloc[test])[:, 1])
        progress.advance()
    return inner_cal, cal_pd, test_pd


def _fold_metrics(
    fold: tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]], names: list[str],
    blend: bool, y: np.ndarray, test: np.ndarray, calibration: str, cutoff: float,
    costs: Costs | None, modes: Mapping[str, np.ndarray] | None,
) -> dict[str, dict[str, float]]:
    """The test fold's metrics per candidate (and the blend), cut-offs from calibration rows."""
    inner_cal, cal_pd, test_pd = fold
    results = {}
    weights: dict[str, float] = {}
    if blend:
        # Weights and the pool's calibration from the calibration rows: out-of-sample for the
        # models that scored them, and never the test fold.
        weights = stack_weights({n: cal_pd[n] for n in names}, y[inner_cal])
        w = np.array([weights[n] for n in names])
        calibrator = Calibrator(calibration).fit(
            w @ np.asarray([cal_pd[n] for n in names]), y[inner_cal])
        test_pd[BLEND] = calibrator.transform(w @ np.asarray([test_pd[n] for n in names]))
        cal_pd[BLEND] = calibrator.transform(w @ np.asarray([cal_pd[n] for n in names]))
    for name, p in test_pd.items():
        chosen = cutoff if costs is None else best_threshold(
            y[inner_cal], cal_pd[name], costs)[0]
        metrics = classification_metrics(y[test], p, chosen)
        if costs is not None:
            metrics.update(_costs(y[test], p, chosen, costs))
            by_f1 = f1_threshold(y[inner_cal], cal_pd[name])
            metrics.update(f1_threshold=by_f1, f1_at_f1_threshold=f1(y[test], p, by_f1))
        for mode, labels in (modes or {}).items():
            rows = labels[test] == 1
            if rows.any():  # a fold without the mode has no recall for it
                metrics[f"recall_{mode}"] = float((p[rows] >= chosen).mean())
        if name == BLEND:
            metrics.update({f"weight_{n}": share for n, share in weights.items()})
        results[name] = metrics
    return results


def f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The cut-off maximising F1 of acting on p >= cut-off; like core.decision.best_threshold
    it sits halfway below the best observed score (the highest such score on a tie)."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    if not y.any():
        raise ValueError(f"an F1 cut-off needs a positive among the {len(y)} rows")
    order = np.argsort(-p, kind="mergesort")
    scores = p[order]
    last_of_tie = np.r_[scores[1:] != scores[:-1], True]  # a cut-off cannot split ties
    hits = np.cumsum(y[order])[last_of_tie]
    called = np.arange(1, len(p) + 1)[last_of_tie]
    i = int(np.argmax(2 * hits / (called + y.sum())))
    cuts = scores[last_of_tie]
    return float(cuts[i] if i + 1 == len(cuts) else (cuts[i] + cuts[i + 1]) / 2)


def _costs(y: np.ndarray, p: np.ndarray, cutoff: float, costs: Costs) -> dict[str, float]:
    """The fold's cut-off, the alert's precision and recall there and its expected cost per
    1,000 rows, beside the naive policies."""
    naive = policy_costs(y, costs)
    alert = p >= cutoff
    return {"threshold": cutoff,
            "precision": float(y[alert].mean()) if alert.any() else 0.0,
            "recall": float(alert[y == 1].mean()),
            "cost_per_1000": 1000 * float(cost_curve(y, p, costs, np.array([cutoff]))[1][0]),
            "never_act_per_1000": 1000 * naive["never"],
            "always_act_per_1000": 1000 * naive["always"]}


def _means(runs: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over the folds that have it, rounded to 4 decimals."""
    keys = dict.fromkeys(k for run in runs for k in run)
    return {k: round(float(np.mean([run[k] for run in runs if k in run])), 4) for k in keys}
