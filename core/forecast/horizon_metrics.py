"""Per-horizon metrics for (sample, horizon, node) forecasts, at each step and pooled over 1..h."""

from __future__ import annotations

import numpy as np

MAPE_FLOOR = 1e-6


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    if y.size == 0:
        return {k: float("nan") for k in ("rmse", "mae", "mape", "accuracy", "r2")}
    err = y - p
    rmse = float(np.sqrt(np.mean(err ** 2)))
    pos = np.abs(y) > MAPE_FLOOR
    total = float(np.sum((y - y.mean()) ** 2))
    return {"rmse": rmse, "mae": float(np.mean(np.abs(err))),
            "mape": float(np.mean(np.abs(err[pos]) / np.abs(y[pos]))) if pos.any() else np.nan,
            "accuracy": float(1 - np.linalg.norm(err) / np.linalg.norm(y)),
            "r2": float(1 - np.sum(err ** 2) / total) if total > 0 else float("nan")}


def horizon_metrics(actual: np.ndarray, predicted: np.ndarray, mask: np.ndarray,
                    horizons: list[int]) -> dict[str, float]:
    """`metric@h` at step h and `metric_pooled@h` over steps 1..h, on cells where `mask` holds
    (flagged readings never count). Arrays are (samples, horizon, nodes)."""
    out: dict[str, float] = {}
    for h in horizons:
        m = mask[:, h - 1]
        for k, v in _scores(actual[:, h - 1][m], predicted[:, h - 1][m]).items():
            out[f"{k}@{h}"] = round(v, 5)
        m = mask[:, :h]
        for k, v in _scores(actual[:, :h][m], predicted[:, :h][m]).items():
            out[f"{k}_pooled@{h}"] = round(v, 5)
    return out
