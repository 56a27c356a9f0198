"""Fan charts of stored forecasts: the series' history, the median path and its interval bands,
in the target's own units (a price, a speed), for the generic forecast section and Task pages."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

# Central intervals drawn as bands, widest first (so the narrower one is drawn on top).
BANDS: tuple[tuple[str, str], ...] = (("0.025", "0.975"), ("0.1", "0.9"))
BAND = "rgba(31, 119, 180, {})"


def target_quantiles(quantiles: dict[str, float], last: float, transform: str
                     ) -> dict[str, float]:
    """A ledger payload's quantiles in the target's units: a level forecast ("none") as is, a
    cumulative log-return forecast ("log_return") as last * exp(q)."""
    if transform == "log_return":
        return {k: float(last * np.exp(v)) for k, v in quantiles.items()}
    if transform == "none":
        return {k: float(v) for k, v in quantiles.items()}
    raise ValueError(f"unknown forecast transform {transform!r}: expected 'none' or 'log_return'")


def row_quantiles(score: float, lower: float | None, upper: float | None,
                  payload: str | None) -> dict[str, float]:
    """One ledger row's quantiles in its own units: the point (score) as the median, lower and
    upper as the 80% interval, and every quantile the payload carries ({"quantiles": ...})."""
    quantiles = {"0.5": float(score)}
    for level, bound in (("0.1", lower), ("0.9", upper)):
        if bound is not None and np.isfinite(bound):
            quantiles[level] = float(bound)
    extra = json.loads(payload) if isinstance(payload, str) and payload else {}
    if isinstance(extra, dict) and isinstance(extra.get("quantiles"), dict):
        quantiles |= {str(k): float(v) for k, v in extra["quantiles"].items()}
    return quantiles


def forecast_path(forecast: pd.DataFrame, last: float, *, transform: str, freq: str
                  ) -> pd.DataFrame:
    """One series' ledger rows at one origin (columns as_of, horizon, score, lower, upper,
    payload) as a path: row 0 the origin itself at `last` (the bands open from the last
    value), then one row per horizon at origin + h steps of `freq`, with a column per quantile
    level ("0.5" the median) in the target's units."""
    if forecast.empty:
        raise ValueError("no forecast rows to draw: score the Task first")
    rows = forecast.sort_values("horizon")
    origin = pd.Timestamp(rows["as_of"].iloc[0])
    steps = pd.date_range(origin, periods=int(rows["horizon"].max()) + 1, freq=freq)
    parts = []
    for row in rows.itertuples(index=False):
        quantiles = row_quantiles(row.score, row.lower, row.upper, row.payload)
        parts.append({"time": steps[int(row.horizon)], "horizon": int(row.horizon),
                      **target_quantiles(quantiles, last, transform)})
    path = pd.DataFrame(parts)
    start = {"time": origin, "horizon": 0, **{c: float(last) for c in path.columns
                                              if c not in ("time", "horizon")}}
    return pd.concat([pd.DataFrame([start]), path], ignore_index=True)


def fan_chart(history: pd.DataFrame, path: pd.DataFrame, *, title: str, value_name: str,
              bands: Sequence[tuple[str, str]] = BANDS, height: int = 380) -> go.Figure:
    """History (columns time, value) in grey, then the median path and the interval bands
    `path` has (forecast_path's frame)."""
    figure = go.Figure(go.Scatter(x=history["time"], y=history["value"], name=value_name,
                                  line={"color": "#333"}))
    times = list(path["time"])
    for lo, hi in bands:
        if lo not in path or hi not in path:
            continue
        width = round(100 * (float(hi) - float(lo)))
        figure.add_trace(go.Scatter(
            x=times + times[::-1], y=list(path[hi]) + list(path[lo])[::-1], fill="toself",
            mode="lines", fillcolor=BAND.format(0.15 if width > 90 else 0.3),
            line={"width": 0}, name=f"{width}% interval"))
    figure.add_trace(go.Scatter(x=times, y=path["0.5"], name="median",
                                line={"color": BAND.format(1)}))
    figure.update_layout(title=title, height=height, margin={"t": 40, "b": 20},
                         template="plotly_white", yaxis_title=value_name)
    return figure
