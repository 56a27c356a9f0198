"""Cross-validation for TabularClassification.bench: calibrated candidates and their blend."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.decision import Costs, best_threshold, cost_curve, policy_costs
from core.evaluate import classification_metrics, stratified_split
from core.models.calibration import Calibrator

if TYPE_CHECKING:
    from core.models.protocol import Model

BLEND = "blend"
CALIBRATION_SHARE = 0.2


def cross_validate(
    build: Callable[[str], Model], names: list[str], blend: bool, X: pd.DataFrame,
    y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], calibration: str,
    cutoff: float, seed: int, costs: Costs | None = None,
    modes: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, float]]:
    """Mean test-fold metrics per candidate (and the blend), rounded to 4 decimals.

    Per fold: fit on 80% of the training folds, calibrate on the other 20%, refit on all the
    training folds (more data for the final model) and apply that calibration to the test fold.
    With `costs` each fold's cut-off is the one minimising expected cost on the calibration
    rows (never the test fold), and the metrics add that cut-off and the cost per 1,000 rows
    at it against never / always acting. With `modes` (mode -> 0/1/NaN per row) they add
    `recall_M`: the share of the test fold's mode-M rows on which the alert fires.
    """
    scores: dict[str, list[dict[str, float]]] = {}
    for train, test in folds:
        inner_fit, inner_cal = (train[p] for p in stratified_split(
            y[train], (1 - CALIBRATION_SHARE, CALIBRATION_SHARE), seed))
        cal_pd, test_pd = {}, {}
        for name in names:
            first = build(name).fit(X.iloc[inner_fit], y[inner_fit])
            raw_cal = first.predict_proba(X.iloc[inner_cal])[:, 1]
            calibrator = Calibrator(calibration).fit(raw_cal, y[inner_cal])
            final = build(name).fit(X.iloc[train], y[train])
            cal_pd[name] = calibrator.transform(raw_cal)
            test_pd[name] = calibrator.transform(final.predict_proba(X.iloc[test])[:, 1])
        if blend:
            calibrator = Calibrator(calibration).fit(
                np.mean(list(cal_pd.values()), axis=0), y[inner_cal])
            test_pd[BLEND] = calibrator.transform(np.mean(list(test_pd.values()), axis=0))
            cal_pd[BLEND] = calibrator.transform(np.mean(
                [cal_pd[n] for n in names], axis=0))
        for name, p in test_pd.items():
            chosen = cutoff if costs is None else best_threshold(
                y[inner_cal], cal_pd[name], costs)[0]
            metrics = classification_metrics(y[test], p, chosen)
            if costs is not None:
                metrics.update(_costs(y[test], p, chosen, costs))
            for mode, labels in (modes or {}).items():
                rows = labels[test] == 1
                if rows.any():  # a fold without the mode has no recall for it
                    metrics[f"recall_{mode}"] = float((p[rows] >= chosen).mean())
            scores.setdefault(name, []).append(metrics)
    return {name: _means(runs) for name, runs in scores.items()}


def _costs(y: np.ndarray, p: np.ndarray, cutoff: float, costs: Costs) -> dict[str, float]:
    """The fold's cut-off and its expected cost per 1,000 rows, beside the naive policies."""
    naive = policy_costs(y, costs)
    return {"threshold": cutoff,
            "cost_per_1000": 1000 * float(cost_curve(y, p, costs, np.array([cutoff]))[1][0]),
            "never_act_per_1000": 1000 * naive["never"],
            "always_act_per_1000": 1000 * naive["always"]}


def _means(runs: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over the folds that have it, rounded to 4 decimals."""
    keys = dict.fromkeys(k for run in runs for k in run)
    return {k: round(float(np.mean([run[k] for run in runs if k in run])), 4) for k in keys}
