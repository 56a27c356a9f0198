"""Cross-validation for TabularClassification.bench: calibrated candidates and their blend."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.evaluate import classification_metrics, stratified_split
from core.models.calibration import Calibrator

if TYPE_CHECKING:
    from core.models.protocol import Model

BLEND = "blend"
CALIBRATION_SHARE = 0.2


def cross_validate(
    build: Callable[[str], Model], names: list[str], blend: bool, X: pd.DataFrame,
    y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], calibration: str,
    cutoff: float, seed: int,
) -> dict[str, dict[str, float]]:
    """Mean test-fold metrics per candidate (and the blend), rounded to 4 decimals.

    Per fold: fit on 80% of the training folds, calibrate on the other 20%, refit on all the
    training folds (more data for the final model) and apply that calibration to the test fold.
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
        for name, p in test_pd.items():
            scores.setdefault(name, []).append(classification_metrics(y[test], p, cutoff))
    return {name: {metric: round(float(np.mean([s[metric] for s in runs])), 4)
                   for metric in runs[0]}
            for name, runs in scores.items()}
