"""Graph forecasting protocol: windows, chronological split, health masking, candidates, metrics."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core import progress
from core.forecast.health import Health, flag
from core.forecast.horizon_metrics import horizon_metrics

TEST_SHARE, VALID_SHARE = 0.2, 0.1  # T-GCN: last 20% test; validation = end of training part
HOUR = pd.Timedelta("1h")


def plan(step: pd.Timedelta) -> tuple[int, list[int]]:
    """History (one hour of steps) and the horizons scored: every step up to 4, else 4 evenly
    spaced ones up to one hour (5-min data: 12 steps of history, horizons 3/6/9/12)."""
    per_hour = max(int(HOUR / step), 1)
    if per_hour <= 4:
        return per_hour, list(range(1, per_hour + 1))
    return per_hour, [per_hour * i // 4 for i in range(1, 5)]


@dataclass
class Windows:
    """Sliding windows over the imputed, scaled matrix."""

    x: np.ndarray  # (S, history, N, F): scaled speed (+ time-of-day sin/cos, weekend)
    y: np.ndarray  # (S, H, N) raw speeds (0 where unknown)
    ok: np.ndarray  # (S, H, N) targets known and healthy
    last: np.ndarray  # (S, N) last imputed raw speed
    slot: np.ndarray  # (S, H) time-of-day slot of each target
    origin: np.ndarray  # (S,) index of the origin step


@dataclass
class Prepared:
    """What every slice forecaster reads: the windows, the usual speed per (slot, sensor), the
    scale of the inputs per sensor and the adjacency."""

    windows: Windows
    profile: np.ndarray  # (slots per day, N)
    scale: np.ndarray  # (N,)
    adjacency: np.ndarray  # (N, N)


def calendar(times: pd.DatetimeIndex, step: pd.Timedelta) -> tuple[np.ndarray, np.ndarray]:
    """Time-of-day slot and features (sin, cos, weekend) derived from the frequency."""
    per_day = max(int(pd.Timedelta("1D") / step), 1)
    minutes = times.hour * 60 + times.minute
    slot = np.asarray(minutes // max(int(step / pd.Timedelta("1min")), 1)) % per_day
    angle = 2 * np.pi * slot / per_day
    features = np.stack([np.sin(angle), np.cos(angle),
                         np.asarray(times.dayofweek >= 5, dtype=float)], axis=1)
    return slot, features


def slots_per_day(step: pd.Timedelta) -> int:
    return max(int(pd.Timedelta("1D") / step), 1)


def fit_scaling(speed: np.ndarray, ok: np.ndarray, times: pd.DatetimeIndex, train_end: int,
                scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """The usual speed per (slot, sensor) and the input scale per sensor, from rows before
    `train_end` only: "global" divides by the training maximum, "per_series" by each sensor's,
    "none" leaves speeds as they are."""
    step = times[1] - times[0]
    slot, _ = calendar(times, step)
    profile = usual_profile(speed, ok, slot, train_end, slots_per_day(step))
    healthy = np.where(ok[:train_end], speed[:train_end], np.nan)
    n = speed.shape[1]
    if scaling == "none":
        scale = np.ones(n)
    elif scaling == "per_series":
        with warnings.catch_warnings():  # an all-broken sensor falls back to the global max
            warnings.simplefilter("ignore", RuntimeWarning)
            scale = np.nanmax(healthy, axis=0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nanmax(healthy))
    elif scaling == "global":
        scale = np.full(n, float(np.nanmax(healthy)))
    else:
        raise ValueError(f"unknown scaling {scaling!r} for slices: use 'global', 'per_series' "
                         "or 'none'")
    return profile, scale


def cut_windows(speed: np.ndarray, times: pd.DatetimeIndex, ok: np.ndarray, profile: np.ndarray,
                scale: np.ndarray, history: int, horizon: int, origins: np.ndarray, *,
                calendar_inputs: bool = True, step: pd.Timedelta | None = None) -> Windows:
    """Windows ending at `origins`: flagged inputs imputed with the usual speed at that time of
    day (never a future value); targets past the end of the data are unknown (ok False).
    `step` is the series' frequency; it is read off `times` only when not given (a predictor
    may see a single slice)."""
    step = times[1] - times[0] if step is None else step
    t, n = speed.shape
    ahead = pd.date_range(times[-1] + step, periods=horizon, freq=step)
    all_times = times.append(ahead)
    speed = np.vstack([speed, np.full((horizon, n), np.nan)])
    ok = np.vstack([ok, np.zeros((horizon, n), dtype=bool)])
    slot, cal = calendar(all_times, step)
    filled = np.where(ok, speed, profile[slot])
    parts = [(filled / scale)[..., None]]
    if calendar_inputs:
        parts.append(np.broadcast_to(cal[:, None, :], (len(all_times), n, cal.shape[1])))
    feats = np.concatenate(parts, axis=-1)
    idx_in = origins[:, None] + np.arange(-history + 1, 1)
    idx_out = origins[:, None] + np.arange(1, horizon + 1)
    return Windows(x=feats[idx_in].astype(np.float32), y=np.nan_to_num(speed[idx_out]),
                   ok=ok[idx_out], last=filled[origins], slot=slot[idx_out], origin=origins)


def prepare(speed: np.ndarray, times: pd.DatetimeIndex, health: Health, train_end: int,
            history: int, horizon: int, adjacency: np.ndarray, *, scaling: str = "global",
            calendar_inputs: bool = True) -> Prepared:
    """Scaling fit before `train_end`, windows at every origin with a full horizon."""
    profile, scale = fit_scaling(speed, health.ok, times, train_end, scaling)
    origins = np.arange(history - 1, len(times) - horizon)
    w = cut_windows(speed, times, health.ok, profile, scale, history, horizon, origins,
                    calendar_inputs=calendar_inputs)
    return Prepared(w, profile, scale, np.asarray(adjacency, dtype=float))


def usual_profile(speed: np.ndarray, ok: np.ndarray, slot: np.ndarray, end: int,
                  per_day: int) -> np.ndarray:
    """Mean healthy speed per (time-of-day slot, sensor) over rows before `end`; the sensor's
    overall mean where a slot has no healthy reading."""
    values = np.where(ok[:end], speed[:end], np.nan)
    overall = np.nanmean(values, axis=0)
    overall = np.where(np.isfinite(overall), overall, np.nanmean(values))
    out = np.empty((per_day, speed.shape[1]))
    for s in range(per_day):
        rows = values[slot[:end] == s]
        with warnings.catch_warnings():  # a slot with no healthy reading falls back below
            warnings.simplefilter("ignore", RuntimeWarning)
            m = np.nanmean(rows, axis=0) if len(rows) else np.full(speed.shape[1], np.nan)
        out[s] = np.where(np.isfinite(m), m, overall)
    return out


def split(origins: np.ndarray, t: int, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample indices of train / valid / test: test origins whose targets lie in the last 20%;
    train targets end before validation starts and validation before the test (no leakage)."""
    test_start = int(t * (1 - TEST_SHARE))
    valid_start = int(test_start * (1 - VALID_SHARE / (1 - TEST_SHARE)))
    train = np.flatnonzero(origins + horizon < valid_start)
    valid = np.flatnonzero((origins >= valid_start) & (origins + horizon < test_start))
    test = np.flatnonzero(origins >= test_start - 1)
    return train, valid, test


# The candidates of the graph protocol: format key (core.models.formats) and its settings.
CANDIDATES = {
    "historical_average": "slice_historical_average", "window_mean": "slice_window_mean",
    "last_value": "slice_last_value", "lightgbm": "slice_lightgbm", "gru": "series_gru",
    "graph_gru": "graph_gru"}
DETERMINISTIC = ("historical_average", "window_mean", "last_value")


def stuck_steps(step: pd.Timedelta) -> int:
    """Two hours of one repeated value is a stuck sensor (at least 3 steps)."""
    return max(int(pd.Timedelta("2h") / step), 3)


def default_model(name: str, seed: int, epochs: int) -> Any:
    """A candidate with the bench's settings, without a Task (the standalone bench)."""
    from core.models.formats import BUILTIN, lazy_factory

    model = lazy_factory(BUILTIN[CANDIDATES[name]])()
    params = model.get_params()
    extra = {k: v for k, v in (("seed", seed), ("max_epochs", epochs)) if k in params}
    return model.set_params(**extra)


def relative_gains(metrics: dict[str, dict[str, float]], horizons: list[int]
                   ) -> dict[str, dict[str, float]]:
    """Per candidate and horizon: % of pooled RMSE below the better historical average (by
    time of day, or the window mean) and below the GRU without the graph."""
    out: dict[str, dict[str, float]] = {}
    for name, m in metrics.items():
        gains: dict[str, float] = {}
        for h in horizons:
            key = f"rmse_pooled@{h}"
            averages = [metrics[b][key] for b in ("historical_average", "window_mean")
                        if b in metrics]
            if averages:
                gains[f"vs_ha_pct@{h}"] = round(100 * (1 - m[key] / min(averages)), 2)
            if "gru" in metrics:
                gains[f"vs_gru_pct@{h}"] = round(100 * (1 - m[key] / metrics["gru"][key]), 2)
        out[name] = gains
    return out


def run_bench(speed: np.ndarray, times: pd.DatetimeIndex, adjacency: np.ndarray,
              sensors: tuple[str, ...], *, seeds: int = 3, epochs: int = 40,
              models: tuple[str, ...] | None = None,
              make: Callable[[str, int], Any] | None = None, scaling: str = "global",
              calendar_inputs: bool = True) -> dict[str, Any]:
    """Every candidate's per-horizon metrics (step and pooled) on the test part, the learnt
    ones averaged over seeds; `make(name, seed)` builds a candidate (a Task's settings)."""
    make = make or (lambda name, seed: default_model(name, seed, epochs))
    step = times[1] - times[0]
    history, horizons = plan(step)
    horizon = max(horizons)
    health = flag(speed, stuck_steps=stuck_steps(step))
    t = len(times)
    data = prepare(speed, times, health, int(t * (1 - TEST_SHARE)), history, horizon, adjacency,
                   scaling=scaling, calendar_inputs=calendar_inputs)
    train, valid, test = split(data.windows.origin, t, horizon)
    w = data.windows
    names = [n for n in CANDIDATES if not models or n in models]
    results: dict[str, dict[str, list[float]]] = {}
    seconds: dict[str, float] = {}
    for seed in range(seeds):
        for name in names:
            if seed and name in DETERMINISTIC:
                continue
            progress.update(candidate=name, seed=seed)
            start = time.perf_counter()
            model = make(name, seed).set_params(horizon=horizon)
            p = model.fit(data, train, valid).predict(data, test)
            seconds[name] = seconds.get(name, 0) + time.perf_counter() - start
            m = horizon_metrics(w.y[test], p, w.ok[test], horizons)
            runs = results.setdefault(name, {})
            for k, v in m.items():
                runs.setdefault(k, []).append(v)
    metrics = {n: {k: round(float(np.mean(v)), 5) for k, v in r.items()}
               for n, r in results.items()}
    for name, gains in relative_gains(metrics, horizons).items():
        metrics[name] |= gains | {"seconds": round(seconds[name], 1)}
    return {"protocol": (f"chronological: last {TEST_SHARE:.0%} test, validation the last "
                         f"{VALID_SHARE:.0%} of rows before it (early stopping); step {step}, "
                         f"history {history}, horizons {horizons}; flagged readings masked "
                         "from metrics, imputed (usual speed) in inputs; learnt models mean of "
                         f"{seeds} seeds; vs_ha/vs_gru: % pooled RMSE below the better "
                         "historical average / the GRU without the graph"),
            "history": history, "horizons": horizons, "health": health.totals(),
            "sensors_flagged": len(health.counts(sensors)), "models": metrics}
