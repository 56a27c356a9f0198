"""A panel of series in one long, sorted frame: levels, one-step changes, causal volatility."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

EWMA_LAMBDA = 0.94  # RiskMetrics daily decay: recent shocks dominate the volatility estimate
VOL_FLOOR = 1e-8
WARMUP = 20  # rows before a series' EWMA volatility is trusted to scale its changes (~1/(1-λ))


@dataclass(frozen=True)
class Panel:
    """Rows sorted by (series, time). `level` is what is forecast as a change from the origin:
    log price for `log_return` targets, the raw value otherwise. `change` is the one-step
    difference of the level (NaN on each series' first row), `sigma` the EWMA volatility of the
    changes known at that row (it uses the row's own change, never a later one).
    """

    frame: pd.DataFrame  # columns: series, time, level, change, sigma, pos, + covariates
    covariates: tuple[str, ...]

    @cached_property  # column -> array once: scoring indexes these per origin
    def series(self) -> np.ndarray:
        return self.frame["series"].to_numpy()

    @cached_property
    def level(self) -> np.ndarray:
        return self.frame["level"].to_numpy(dtype=float)

    @cached_property
    def change(self) -> np.ndarray:
        return self.frame["change"].to_numpy(dtype=float)

    @cached_property
    def sigma(self) -> np.ndarray:
        return self.frame["sigma"].to_numpy(dtype=float)

    @cached_property
    def scaled_change(self) -> np.ndarray:
        """change[row] / sigma[row - 1]: the move in units of the volatility known the day
        before it (NaN for the first WARMUP rows of a series, while the EWMA settles)."""
        out = np.full(len(self.frame), np.nan)
        rows = np.flatnonzero(self.pos >= WARMUP)
        out[rows] = self.change[rows] / self.sigma[rows - 1]
        return out

    @cached_property
    def time(self) -> np.ndarray:
        return self.frame["time"].to_numpy()

    @cached_property
    def pos(self) -> np.ndarray:
        """Row position within its series (0 = first row)."""
        return self.frame["pos"].to_numpy()

    def keys(self) -> list[str]:
        return list(pd.unique(self.frame["series"]))

    def until(self, cutoff: np.datetime64 | pd.Timestamp) -> Panel:
        """The panel as it was known at `cutoff` (rows with time <= cutoff)."""
        keep = self.frame["time"].to_numpy() <= np.datetime64(pd.Timestamp(cutoff))
        return Panel(self.frame[keep].reset_index(drop=True), self.covariates)

    def future_change(self, rows: np.ndarray, h: int) -> np.ndarray:
        """level[row + h] - level[row] when row + h is in the same series, else NaN."""
        rows = np.asarray(rows)
        ahead = rows + h
        valid = ahead < len(self.frame)
        out = np.full(len(rows), np.nan)
        series = self.series
        same = valid.copy()
        same[valid] = series[ahead[valid]] == series[rows[valid]]
        out[same] = self.level[ahead[same]] - self.level[rows[same]]
        return out

    def last_rows(self) -> np.ndarray:
        """The row of each series' latest time (the origin `score` forecasts from)."""
        series = self.series
        ends = np.flatnonzero(np.r_[series[1:] != series[:-1], True])
        return ends


def build_panel(frame: pd.DataFrame, *, series: str, time: str, target: str,
                transform: str, covariates: tuple[str, ...] = ()) -> Panel:
    """Sort, drop rows without a target, and derive level, change and EWMA volatility."""
    missing = [c for c in (series, time, target, *covariates) if c not in frame.columns]
    if missing:
        raise KeyError(
            f"the frame lacks columns {missing}; it has {', '.join(map(str, frame.columns))}"
        )
    rows = frame[frame[target].notna()]
    rows = rows.sort_values([series, time], kind="stable")
    rows = rows.drop_duplicates([series, time], keep="last")
    values = rows[target].to_numpy(dtype=float)
    if transform == "log_return":
        if (values <= 0).any():
            raise ValueError(f"{target!r} must be positive to take log returns")
        level = np.log(values)
    elif transform == "none":
        level = values
    else:
        raise ValueError(f"unknown transform {transform!r}: use 'log_return' or 'none'")
    out = pd.DataFrame({
        "series": rows[series].astype("str").to_numpy(),
        "time": pd.to_datetime(rows[time]).to_numpy(dtype="datetime64[ns]"),
        "level": level,
    })
    for column in covariates:
        out[column] = rows[column].to_numpy(dtype=float)
    grouped = out.groupby("series", sort=False)
    out["change"] = grouped["level"].diff()
    out["pos"] = grouped.cumcount().to_numpy()
    out["sigma"] = _ewma_sigma(out["change"].to_numpy(), out["pos"].to_numpy())
    return Panel(out, tuple(covariates))


def _ewma_sigma(change: np.ndarray, pos: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """Causal EWMA volatility per series, seeded with the square of its first change."""
    sigma = np.full(len(change), np.nan)
    var = np.nan
    for i in range(len(change)):  # a plain recursion: O(n) and unambiguous about causality
        if pos[i] == 0:
            var = np.nan
            continue
        c = change[i]
        var = c * c if np.isnan(var) else lam * var + (1 - lam) * c * c
        sigma[i] = np.sqrt(max(var, VOL_FLOOR**2))
    return sigma
