"""Value-at-Risk and Expected Shortfall from forecast quantiles, and the Kupiec POF backtest."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special  # ndtri = norm.ppf, chdtrc = chi2.sf: scipy.stats costs 0.3 s more import


def value_at_risk(q: np.ndarray, levels: Sequence[float], alpha: float) -> np.ndarray:
    """VaR at confidence 1-alpha as a positive loss: minus the alpha-quantile of the return."""
    return -_quantile_at(q, levels, alpha)


def expected_shortfall(q: np.ndarray, levels: Sequence[float], alpha: float,
                       steps: int = 64) -> np.ndarray:
    """ES at 1-alpha: minus the mean return below the alpha-quantile.

    The quantile function is interpolated linearly in normal scores between the forecast
    levels and extrapolated below the lowest along the last two levels' slope, so a Gaussian
    forecast gets its exact ES; the integral is a midpoint rule over `steps` slices of (0, alpha).
    """
    u = (np.arange(steps) + 0.5) / steps * alpha
    return -np.mean(np.stack([_quantile_at(q, levels, v) for v in u], axis=-1), axis=-1)


def _quantile_at(q: np.ndarray, levels: Sequence[float], u: float) -> np.ndarray:
    z = special.ndtri(np.asarray(levels, dtype=float))
    target = special.ndtri(u)
    q = np.asarray(q, dtype=float)
    if target <= z[0]:
        slope = (q[..., 1] - q[..., 0]) / (z[1] - z[0])
        return q[..., 0] + slope * (target - z[0])
    k = int(np.searchsorted(z, target)) - 1
    k = min(k, len(z) - 2)
    w = (target - z[k]) / (z[k + 1] - z[k])
    return q[..., k] * (1 - w) + q[..., k + 1] * w


def kupiec_pof(exceedances: int, n: int, alpha: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures likelihood ratio and its chi-square(1) p-value.

    H0: the exceedance probability is alpha. p > 0.05 accepts the VaR model at 95%.
    """
    if n <= 0:
        raise ValueError("the Kupiec test needs at least one observation")
    x = int(exceedances)
    rate = x / n

    def loglik(p: float) -> float:
        # 0·log 0 = 0: a model with no (or only) exceedances still has a finite likelihood.
        return (n - x) * (np.log1p(-p) if n - x else 0.0) + (x * np.log(p) if x else 0.0)

    lr = -2.0 * (loglik(alpha) - loglik(rate))
    lr = max(lr, 0.0)
    return float(lr), float(special.chdtrc(1, lr))


def risk_metrics(y: np.ndarray, q: np.ndarray, levels: Sequence[float], h: int,
                 step: int = 1) -> dict[str, float]:
    """VaR/ES means, exceedance rates and Kupiec p-values at 95% and 99% for horizon h.

    `step` thins the rows to non-overlapping windows (h-day returns overlap otherwise and the
    exceedances would be dependent, which the Kupiec test assumes away).
    """
    y = np.asarray(y, dtype=float)[::step]
    q = np.asarray(q, dtype=float)[::step]
    out: dict[str, float] = {}
    for level, alpha in (("95", 0.05), ("99", 0.01)):
        var = value_at_risk(q, levels, alpha)
        hits = int(np.sum(-y > var))
        _, p = kupiec_pof(hits, len(y), alpha)
        out[f"var{level}@{h}"] = float(np.mean(var))
        out[f"es{level}@{h}"] = float(np.mean(expected_shortfall(q, levels, alpha)))
        out[f"var{level}_exceed@{h}"] = hits / len(y)
        out[f"kupiec_p{level}@{h}"] = p
    return out
