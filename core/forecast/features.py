"""Causal features for forecasters on lags: every value at a row uses that row and earlier ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.forecast.panel import Panel


def lag_features(panel: Panel, lags: int) -> np.ndarray:
    """Per row: the last `lags` changes over today's volatility, realised volatility over 5 and
    20 rows relative to it, log volatility, the 5-row mean change, day of week, covariates."""
    frame = panel.frame
    sigma = frame["sigma"].to_numpy(dtype=float)
    grouped = frame.groupby("series", sort=False)["change"]
    columns = [grouped.shift(k).to_numpy(dtype=float) / sigma for k in range(lags)]
    for window in (5, 20):
        rv = grouped.transform(lambda s, w=window: s.rolling(w, min_periods=2).std()).to_numpy()
        columns.append(rv / sigma)
    columns.append(np.log(sigma))
    mean5 = grouped.transform(lambda s: s.rolling(5, min_periods=1).mean()).to_numpy()
    columns.append(mean5 / sigma)
    columns.append(pd.DatetimeIndex(frame["time"]).dayofweek.to_numpy(dtype=float))
    columns.extend(frame[c].to_numpy(dtype=float) for c in panel.covariates)
    return np.column_stack(columns)
