"""Forecast tails from filtered historical simulation: the data's own shape, today's scale.

Daily returns are fat-tailed: a 1% move is about 2.4 of the 10%-quantile distance from the
median, not the Gaussian 1.8. Models that cannot learn that far out (a tree's 1% quantile
from leaves of a hundred rows, a Gaussian likelihood) keep their body, the 10-90% quantiles,
and get tails that stretch it by the ratios of the standardized empirical distribution
(Barone-Adesi et al. 1998): the model sets the width, the history sets how far tails reach.
"""

from __future__ import annotations

import numpy as np
from scipy import special  # ndtri is norm.ppf without scipy.stats' import cost

from core.forecast.metrics import MEDIAN, QUANTILES
from core.forecast.panel import Panel

MIN_ROWS = 30  # fewer standardized changes than this and the normal shape is used instead
NORMAL = special.ndtri(QUANTILES)
LOWER, UPPER = QUANTILES.index(0.1), QUANTILES.index(0.9)  # the body ends here


def standardized_quantiles(panel: Panel, horizon: int) -> np.ndarray:
    """Per horizon (H, Q): zero-median quantiles of d(t,h) / (sigma_t sqrt h) over the panel.

    d(t,h) is the change over the h steps after row t and sigma_t the EWMA volatility known
    at t, so the quantiles describe surprises relative to the volatility of their day.
    """
    rows = np.arange(len(panel.frame))
    out = np.empty((horizon, len(QUANTILES)))
    for h in range(1, horizon + 1):
        z = panel.future_change(rows, h) / (panel.sigma * np.sqrt(h))
        z = z[np.isfinite(z)]
        q = np.quantile(z, QUANTILES) if len(z) >= MIN_ROWS else NORMAL.copy()
        out[h - 1] = q - q[MEDIAN]
    return out


def with_empirical_tails(q: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Forecasts (n, H, Q) whose levels below 10% and above 90% are replaced: each is the
    median plus the forecast's own 10%/90% distance times shape[level] / shape[10%/90%].

    `shape` is `standardized_quantiles` of the fit panel (H, Q). The body is kept, sorted
    (crossing quantiles carry no meaning); the tail values given are ignored (may be NaN).
    """
    q = np.array(q, dtype=float)
    q[..., LOWER:UPPER + 1] = np.sort(q[..., LOWER:UPPER + 1], axis=-1)
    median = q[..., MEDIAN:MEDIAN + 1]  # the body is only read below, the tails only written
    for edge, levels in ((LOWER, slice(0, LOWER)), (UPPER, slice(UPPER + 1, None))):
        ratio = shape[:, levels] / shape[:, edge:edge + 1]  # >= 1: tails beyond the body
        q[..., levels] = median + (q[..., edge:edge + 1] - median) * ratio[None]
    return q
