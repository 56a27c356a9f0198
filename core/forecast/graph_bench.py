"""Graph forecasting protocol: windows, chronological split, health masking, candidates, metrics."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

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

    x: np.ndarray  # (S, history, N, F): scaled speed, time-of-day sin/cos, weekend
    y: np.ndarray  # (S, H, N) raw speeds
    ok: np.ndarray  # (S, H, N) targets healthy
    last: np.ndarray  # (S, N) last imputed raw speed
    slot: np.ndarray  # (S, H) time-of-day slot of each target
    origin: np.ndarray  # (S,) index of the origin step


def calendar(times: pd.DatetimeIndex, step: pd.Timedelta) -> tuple[np.ndarray, np.ndarray]:
    """Time-of-day slot and features (sin, cos, weekend) derived from the frequency."""
    per_day = max(int(pd.Timedelta("1D") / step), 1)
    minutes = times.hour * 60 + times.minute
    slot = np.asarray(minutes // max(int(step / pd.Timedelta("1min")), 1)) % per_day
    angle = 2 * np.pi * slot / per_day
    features = np.stack([np.sin(angle), np.cos(angle),
                         np.asarray(times.dayofweek >= 5, dtype=float)], axis=1)
    return slot, features


def prepare(speed: np.ndarray, times: pd.DatetimeIndex, health: Health, train_end: int,
            history: int, horizon: int) -> tuple[Windows, np.ndarray, float]:
    """Impute flagged inputs with the sensor's training mean at that time of day (never a
    future value), scale by the training maximum, and cut windows."""
    step = times[1] - times[0]
    slot, cal = calendar(times, step)
    per_day = int(slot.max()) + 1
    profile = usual_profile(speed, health.ok, slot, train_end, per_day)
    filled = np.where(health.ok, speed, profile[slot])
    scale = float(np.nanmax(np.where(health.ok[:train_end], speed[:train_end], np.nan)))
    t, n = speed.shape
    feats = np.concatenate([(filled / scale)[..., None],
                            np.broadcast_to(cal[:, None, :], (t, n, cal.shape[1]))], axis=-1)
    origins = np.arange(history - 1, t - horizon)
    idx_in = origins[:, None] + np.arange(-history + 1, 1)
    idx_out = origins[:, None] + np.arange(1, horizon + 1)
    windows = Windows(x=feats[idx_in].astype(np.float32), y=np.nan_to_num(speed[idx_out]),
                      ok=health.ok[idx_out], last=filled[origins], slot=slot[idx_out],
                      origin=origins)
    return windows, profile, scale


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


def _deep(kind: str, adjacency: np.ndarray, seed: int, epochs: int) -> Callable[..., np.ndarray]:
    def run(w: Windows, train: np.ndarray, valid: np.ndarray, test: np.ndarray,
            scale: float) -> np.ndarray:
        import torch

        from core.models.nets.graph_gru import GraphGRU, NodeGRU
        from core.models.training import fit_module

        torch.manual_seed(seed)
        f, h = w.x.shape[-1], w.y.shape[1]
        net = GraphGRU(adjacency, f, h) if kind == "graph" else NodeGRU(f, h)
        target = np.where(w.ok, w.y, w.last[:, None, :]) / scale
        weight = w.ok.astype(np.float32)
        x, y, m = (torch.tensor(a, dtype=torch.float32) for a in (w.x, target, weight))

        def loss(p: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
            yy, mm = packed[..., 0], packed[..., 1]
            return (((p - yy) ** 2) * mm).sum() / mm.sum().clamp(min=1)

        packed = torch.stack([y, m], dim=-1)
        fit_module(net, loss, (x[train], packed[train]), (x[valid], packed[valid]),
                   max_epochs=epochs, batch_size=64, learning_rate=3e-3, patience=8, seed=seed)
        with torch.no_grad():
            return net(x[test]).numpy() * scale
    return run


def _lightgbm(seed: int, profile: np.ndarray) -> Callable[..., np.ndarray]:
    def run(w: Windows, train: np.ndarray, valid: np.ndarray, test: np.ndarray,
            scale: float) -> np.ndarray:
        import lightgbm as lgb

        n, horizon = w.y.shape[2], w.y.shape[1]
        out = np.empty((len(test), horizon, n))
        for j in range(n):  # one model per sensor and horizon, on lags + time of day
            feats = np.concatenate([w.x[:, :, j, 0] * scale, w.x[:, -1, j, 1:]], axis=1)
            for h in range(horizon):
                usual = profile[w.slot[:, h], j]
                rows = np.concatenate([train, valid])
                rows = rows[w.ok[rows, h, j]]
                xx = np.column_stack([feats, usual])
                model = lgb.LGBMRegressor(n_estimators=80, learning_rate=0.08, num_leaves=15,
                                          min_child_samples=20, random_state=seed, n_jobs=1,
                                          verbose=-1)
                model.fit(xx[rows], w.y[rows, h, j])
                out[:, h, j] = model.predict(xx[test])
        return out
    return run


def candidates(adjacency: np.ndarray, profile: np.ndarray, seed: int, epochs: int
               ) -> dict[str, Callable[..., np.ndarray]]:
    def ha(w, train, valid, test, scale):  # noqa: ANN001 - same signature as the others
        return profile[w.slot[test], :]

    def window_mean(w, train, valid, test, scale):  # noqa: ANN001
        mean = w.x[test, :, :, 0].mean(axis=1) * scale
        return np.repeat(mean[:, None, :], w.y.shape[1], axis=1)

    def last_value(w, train, valid, test, scale):  # noqa: ANN001
        return np.repeat(w.last[test][:, None, :], w.y.shape[1], axis=1)

    return {"historical_average": ha, "window_mean": window_mean, "last_value": last_value,
            "lightgbm": _lightgbm(seed, profile), "gru": _deep("gru", adjacency, seed, epochs),
            "graph_gru": _deep("graph", adjacency, seed, epochs)}


DETERMINISTIC = ("historical_average", "window_mean", "last_value")


def run_bench(speed: np.ndarray, times: pd.DatetimeIndex, adjacency: np.ndarray,
              sensors: tuple[str, ...], *, seeds: int = 3, epochs: int = 60,
              models: tuple[str, ...] | None = None) -> dict:
    """Every candidate's per-horizon metrics (step and pooled), deep ones averaged over seeds."""
    step = times[1] - times[0]
    history, horizons = plan(step)
    horizon = max(horizons)
    health = flag(speed, stuck_steps=max(int(pd.Timedelta("2h") / step), 3))
    t = len(times)
    origins = np.arange(history - 1, t - horizon)
    train, valid, test = split(origins, t, horizon)
    w, profile, scale = prepare(speed, times, health, int(t * (1 - TEST_SHARE)), history, horizon)
    results: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    for seed in range(seeds):
        for name, fn in candidates(adjacency, profile, seed, epochs).items():
            if (models and name not in models) or (seed and name in DETERMINISTIC):
                continue
            start = time.perf_counter()
            p = fn(w, train, valid, test, scale)
            seconds[name] = seconds.get(name, 0) + time.perf_counter() - start
            m = horizon_metrics(w.y[test], p, w.ok[test], horizons)
            runs = results.setdefault(name, {})
            for k, v in m.items():
                runs.setdefault(k, []).append(v)
    metrics = {n: {k: round(float(np.mean(v)), 5) for k, v in r.items()}
               for n, r in results.items()}
    for n in metrics:
        metrics[n]["seconds"] = round(seconds[n], 1)
    return {"protocol": (f"chronological: last {TEST_SHARE:.0%} test, validation the last "
                         f"{VALID_SHARE:.0%} of rows before it (early stopping); step {step}, "
                         f"history {history}, horizons {horizons}; flagged readings masked "
                         "from metrics, imputed (usual speed) in inputs; deep models mean of "
                         f"{seeds} seeds"),
            "history": history, "horizons": horizons, "health": health.totals(),
            "sensors_flagged": len(health.counts(sensors)), "models": metrics}
