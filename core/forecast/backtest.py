"""Walk-forward (rolling-origin) backtests: refit on the past of each block,
forecast its origins."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.forecast.metrics import MEDIAN, QUANTILES, diebold_mariano, horizon_metrics
from core.forecast.panel import Panel
from core.forecast.risk import risk_metrics
from core.intervals import (
    Interval,
    block_length,
    bootstrap,
    error_intervals,
    ratio_statistic,
    unit_sums,
)


@dataclass(frozen=True)
class Window:
    """One refit: the model sees rows with time <= `train_until` (so every training target ends
    by then) and forecasts the origins in [first, last], all at or after `train_until`."""

    train_until: pd.Timestamp
    first: pd.Timestamp
    last: pd.Timestamp


def walk_forward(times: Sequence[pd.Timestamp] | np.ndarray, *, start: pd.Timestamp | None = None,
                 end: pd.Timestamp | None = None, test_size: int | None = None,
                 refit_every: int) -> list[Window]:
    """Blocks of `refit_every` consecutive origins; each block's model is fit at its first origin.

    Origins are the distinct times in [start, end], or the last `test_size` ones.
    """
    unique = np.unique(np.asarray(times, dtype="datetime64[ns]"))
    if test_size is not None:
        origins = unique[-test_size:]
    else:
        lo = np.datetime64(pd.Timestamp(start)) if start is not None else unique[0]
        hi = np.datetime64(pd.Timestamp(end)) if end is not None else unique[-1]
        origins = unique[(unique >= lo) & (unique <= hi)]
    if len(origins) == 0 or origins[0] == unique[0]:
        raise ValueError("the backtest needs history before its first origin: start later or "
                         "pass more rows")
    return [Window(pd.Timestamp(block[0]), pd.Timestamp(block[0]), pd.Timestamp(block[-1]))
            for block in (origins[i:i + refit_every] for i in range(0, len(origins), refit_every))]


@dataclass
class Backtest:
    """Per model: the origin rows of the panel and quantile forecasts (rows, H, Q)."""

    rows: np.ndarray
    forecasts: dict[str, np.ndarray]
    fitted: dict[str, object]  # the model of the last window, per name
    train_rows: dict[str, int]


def run(panel: Panel, factories: Mapping[str, Callable[[], object]], windows: Sequence[Window],
        horizon: int, progress: Callable[[str, int], None] | None = None) -> Backtest:
    """Refit every model on `panel.until(window.train_until)` and forecast the window's origins
    from the full panel (forecasters read only rows up to each origin: see the leakage test)."""
    times = panel.time
    blocks = [np.flatnonzero((times >= np.datetime64(w.first)) & (times <= np.datetime64(w.last)))
              for w in windows]
    rows = np.concatenate(blocks)
    forecasts = {name: np.full((len(rows), horizon, len(QUANTILES)), np.nan) for name in factories}
    fitted: dict[str, object] = {}
    train_rows: dict[str, int] = {}
    for w, (window, block) in enumerate(zip(windows, blocks, strict=True)):
        past = panel.until(window.train_until)
        at = slice(sum(len(b) for b in blocks[:w]), sum(len(b) for b in blocks[:w + 1]))
        for name, factory in factories.items():
            model = factory().fit(past)
            forecasts[name][at] = model.forecast(panel, block)
            fitted[name], train_rows[name] = model, len(past.frame)
            if progress is not None:
                progress(name, w)
    return Backtest(rows, forecasts, fitted, train_rows)


def naive_scale(panel: Panel, before: pd.Timestamp) -> dict[str, float]:
    """Per series, the mean |one-step change| before the backtest (the MASE denominator)."""
    frame = panel.frame[panel.frame["time"] < np.datetime64(before)]
    return frame.groupby("series")["change"].apply(lambda s: float(np.nanmean(np.abs(s)))).to_dict()


def evaluate(panel: Panel, result: Backtest, horizon: int, *, offset: np.ndarray,
             scale: dict[str, float], risk: bool) -> dict[str, dict[str, float]]:
    """Metrics per model and horizon on the origins every model could forecast.

    `offset` turns changes into the reported score (0 for returns, the origin's level for
    levels); the random walk's score is the offset itself. Risk metrics need returns.
    """
    rows = result.rows
    out: dict[str, dict[str, float]] = {name: {} for name in result.forecasts}
    series_scale = np.array([scale.get(k, np.nan) for k in panel.series[rows]])
    for h in range(1, horizon + 1):
        actual, ok = scored(panel, result, h, series_scale)
        if ok.sum() < 2:
            continue
        y = actual[ok] + offset[ok]
        for name, q in result.forecasts.items():
            qh = q[ok, h - 1] + offset[ok][:, None]
            values = horizon_metrics(y, qh, offset[ok], series_scale[ok], h)
            values[f"dm_p@{h}"] = diebold_mariano(y, qh[:, MEDIAN], offset[ok],
                                                 panel.time[rows[ok]], h)
            if risk:
                values |= risk_metrics(actual[ok], q[ok, h - 1], QUANTILES, h, step=h)
            values[f"origins@{h}"] = float(ok.sum())
            out[name] |= values
    return out


def scored(panel: Panel, result: Backtest, h: int, series_scale: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """(the change h steps after each backtest origin, the origins scored at h): every model
    forecast them, the outcome is known and the series has a naive scale. `evaluate` scores
    these rows and `metric_intervals` resamples them."""
    actual = panel.future_change(result.rows, h)
    ok = np.isfinite(actual) & np.isfinite(series_scale)
    for q in result.forecasts.values():
        ok &= np.isfinite(q[:, h - 1]).all(axis=1)
    return actual, ok


def metric_intervals(panel: Panel, result: Backtest, horizon: int, scale: dict[str, float]
                     ) -> dict[str, dict[str, Interval]]:
    """Per model, bootstrap intervals (core.intervals) on the origins `evaluate` scores:
    mae_ratio@1, mae@1, rmse@1 and coverage80@1 resampling whole origin dates (the series
    forecast from one date share its day: a market move, a storm), and mae_ratio@H resampling
    blocks of H consecutive dates (forecasts from nearer origins span the same days; shorter
    blocks when the backtest has few dates, core.intervals.block_length)."""
    out: dict[str, dict[str, Interval]] = {name: {} for name in result.forecasts}
    series_scale = np.array([scale.get(k, np.nan) for k in panel.series[result.rows]])
    lo, hi = QUANTILES.index(0.1), QUANTILES.index(0.9)
    for h in sorted({1, horizon}):
        actual, ok = scored(panel, result, h, series_scale)
        if ok.sum() < 2:  # evaluate reports no metric at this horizon either
            continue
        y, dates = actual[ok], panel.time[result.rows[ok]]
        days, day = np.unique(dates, return_inverse=True)
        size = block_length(len(days), h)
        owners = day // size
        over = "origin dates" if size == 1 else f"blocks of {size} origin dates"
        for name, q in result.forecasts.items():
            qh = q[ok, h - 1]
            error = qh[:, MEDIAN] - y  # the random walk's error is the change itself
            n, (model, naive) = unit_sums(owners, np.abs(error), np.abs(y))
            out[name] |= bootstrap({f"mae_ratio@{h}": ratio_statistic(model, naive)}, n,
                                   over=over)
            if h == 1:
                out[name] |= error_intervals(
                    error, owners, over=over, covered=(qh[:, lo] <= y) & (y <= qh[:, hi]),
                    names={"mae": "mae@1", "rmse": "rmse@1", "coverage": "coverage80@1"})
    return out
