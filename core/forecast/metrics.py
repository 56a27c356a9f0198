"""Forecast accuracy per horizon: MAE, RMSE, sMAPE, MASE, ratio to the random walk, quantiles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

# The 80% and 95% central intervals and the tails VaR needs; 0.5 is the point forecast.
QUANTILES: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 0.99)
MEDIAN = QUANTILES.index(0.5)


def mae(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(yhat))))


def rmse(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(yhat)) ** 2)))


def smape(y: np.ndarray, yhat: np.ndarray) -> float:
    """Symmetric MAPE in percent, 200·|y-ŷ|/(|y|+|ŷ|); a 0/0 term counts as a perfect 0."""
    y, yhat = np.asarray(y, dtype=float), np.asarray(yhat, dtype=float)
    denominator = np.abs(y) + np.abs(yhat)
    terms = np.divide(2 * np.abs(y - yhat), denominator, out=np.zeros_like(y),
                      where=denominator > 0)
    return float(100 * np.mean(terms))


def mase(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> float:
    """Mean |error| / scale, where scale is each row's series in-sample one-step naive MAE."""
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(yhat)) / np.asarray(scale)))


def mae_ratio(y: np.ndarray, yhat: np.ndarray, naive: np.ndarray) -> float:
    """MAE of the forecast over MAE of the random walk on the same rows (< 1 beats it)."""
    return mae(y, yhat) / mae(y, naive)


def quantile_loss(y: np.ndarray, q: np.ndarray, levels: Sequence[float] = QUANTILES) -> float:
    """Mean pinball loss over rows and levels; `q` has one column per level."""
    y = np.asarray(y, dtype=float)[:, None]
    tau = np.asarray(levels, dtype=float)[None, :]
    diff = y - np.asarray(q, dtype=float)
    return float(np.mean(np.maximum(tau * diff, (tau - 1) * diff)))


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actuals inside [lower, upper]."""
    y = np.asarray(y)
    return float(np.mean((y >= lower) & (y <= upper)))


def direction_accuracy(y: np.ndarray, yhat: np.ndarray) -> float:
    """Share of rows whose sign is called right; a forecast of exactly 0 calls "up"."""
    return float(np.mean((np.asarray(yhat) >= 0) == (np.asarray(y) > 0)))


def direction_base_rate(y: np.ndarray) -> float:
    """The accuracy of always calling the majority direction: what direction_acc must beat."""
    up = float(np.mean(np.asarray(y) > 0))
    return max(up, 1 - up)


def diebold_mariano(y: np.ndarray, yhat: np.ndarray, naive: np.ndarray, times: np.ndarray,
                    h: int) -> float:
    """Two-sided p-value that the forecast and the random walk are equally accurate (absolute
    error), by Diebold and Mariano's test with Harvey et al.'s small-sample correction.

    Rows at the same time are averaged first (series move together on a market day, so they
    are not independent draws); the variance of the mean allows h-1 lags of autocorrelation,
    as h-step errors overlap. 1.0 when the two never differ.
    """
    diff = np.abs(np.asarray(y) - np.asarray(yhat)) - np.abs(np.asarray(y) - np.asarray(naive))
    _, where = np.unique(np.asarray(times), return_inverse=True)
    d = np.bincount(where, weights=diff) / np.bincount(where)
    n = len(d)
    if n < 3:
        return 1.0
    centred = d - d.mean()
    gamma = [float(centred[k:] @ centred[:n - k]) / n for k in range(min(h, n))]
    variance = (gamma[0] + 2 * sum(gamma[1:])) / n
    if variance <= 0:
        return 1.0
    correction = np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    statistic = correction * d.mean() / np.sqrt(variance)
    # stdtr(df, -|t|) is the t distribution's upper tail (stats.t.sf) without scipy.stats' import.
    return float(2 * special.stdtr(n - 1, -abs(statistic)))


def horizon_metrics(
    y: np.ndarray, q: np.ndarray, naive: np.ndarray, scale: np.ndarray, h: int,
    levels: Sequence[float] = QUANTILES,
) -> dict[str, float]:
    """Every accuracy metric for one horizon, keyed `name@h`; `q[:, MEDIAN]` is the point."""
    levels = list(levels)
    point = q[:, levels.index(0.5)]
    lo80, hi80 = q[:, levels.index(0.1)], q[:, levels.index(0.9)]
    lo95, hi95 = q[:, levels.index(0.025)], q[:, levels.index(0.975)]
    values = {
        "mae": mae(y, point), "rmse": rmse(y, point), "smape": smape(y, point),
        "mase": mase(y, point, scale), "mae_ratio": mae_ratio(y, point, naive),
        "quantile_loss": quantile_loss(y, q, levels), "coverage80": coverage(y, lo80, hi80),
        "coverage95": coverage(y, lo95, hi95), "direction_acc": direction_accuracy(y, point),
        "direction_base": direction_base_rate(y),
    }
    return {f"{name}@{h}": value for name, value in values.items()}
