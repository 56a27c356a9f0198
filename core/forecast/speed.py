"""The predict_speed benchmark: one trained TFT, the library's predict vs the batched fast path."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.forecast.dataset import build_dataset, long_frame, predict_frame, spec_observed
from core.forecast.fast_predict import build_batch, forward, usable

if TYPE_CHECKING:
    from core.forecast.panel import Panel
    from core.kinds.base import TaskSpec

ORIGINS = 60  # enough calls to time the library's per-call overhead, few enough to stay short


def library_predict(network: Any, dataset: Any, panel: Panel, rows: np.ndarray, spec: Any
                    ) -> np.ndarray:
    """pytorch-forecasting's own path: a predict dataset from the frame, then `predict`."""
    from pytorch_forecasting import TimeSeriesDataSet

    from core.models.deep_forecasters import quiet

    with quiet():
        predict = TimeSeriesDataSet.from_dataset(dataset, predict_frame(panel, rows, spec),
                                                 predict=True, stop_randomization=True)
        out = network.predict(predict, mode="quantiles", batch_size=256,
                              trainer_kwargs={"logger": False, "enable_progress_bar": False,
                                              "enable_model_summary": False})
    return out.detach().cpu().numpy().astype(np.float64)


def origin_rows(panel: Panel, origins: np.ndarray, spec: Any) -> list[np.ndarray]:
    """Per origin time, the row of every series that has a full encoder window there."""
    blocks = []
    for origin in origins:
        rows = np.flatnonzero(panel.time == origin)
        blocks.append(rows[usable(panel, rows, spec)])
    return [b for b in blocks if len(b)]


def predict_speed(panel: Panel, task: TaskSpec, *, profile: str, seed: int) -> dict[str, Any]:
    """Train the Task's TFT on the panel before its last ORIGINS origins, then forecast each of
    those origins for every series both ways; report seconds, speedup and the largest
    difference."""
    import torch

    times = np.unique(panel.time)
    origins = times[-ORIGINS:]
    model = task.build_model("tft", profile, seed=seed)
    model.fit(panel.until(pd.Timestamp(origins[0])))
    dataset = build_dataset(long_frame(panel.until(pd.Timestamp(origins[0]))),
                            model.encoder_length, model.horizon, spec_observed(model.spec_))
    blocks = origin_rows(panel, origins, model.spec_)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # both paths on one thread: the fast path's choice for small batches
    try:
        result = _time_both(model, dataset, panel, blocks)
    finally:
        torch.set_num_threads(threads)
    protocol = (f"one TFT ({profile} profile) trained on data before the last {len(blocks)} "
                "origins; for each origin every series is forecast by pytorch-forecasting's "
                "predict (from_dataset + predict, per origin) and by the fast path (tensors "
                "built from arrays + one forward, per origin); one_pass = all origins in one "
                "forward; both on one torch thread; first call of each path untimed")
    return {"task": task.name, "benchmark": "predict_speed", "protocol": protocol,
            "models": {"tft": result}, "best": {"model": "tft", **result}, **result}


def _time_both(model: Any, dataset: Any, panel: Panel, blocks: list[np.ndarray]
               ) -> dict[str, Any]:
    library_predict(model.network_, dataset, panel, blocks[0], model.spec_)  # warm-up, untimed
    started = time.perf_counter()
    slow = [library_predict(model.network_, dataset, panel, rows, model.spec_) for rows in blocks]
    ptf_s = time.perf_counter() - started
    forward(model.network_, build_batch(panel, blocks[0], model.spec_))  # warm-up, untimed
    started = time.perf_counter()
    fast = [forward(model.network_, build_batch(panel, rows, model.spec_)) for rows in blocks]
    fast_s = time.perf_counter() - started
    started = time.perf_counter()
    one_pass = forward(model.network_, build_batch(panel, np.concatenate(blocks), model.spec_))
    one_pass_s = time.perf_counter() - started
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(slow, fast, strict=True))
    diff_one = float(np.max(np.abs(np.concatenate(slow) - one_pass)))
    result = {"ptf_predict_s": ptf_s, "fast_predict_s": fast_s, "speedup": ptf_s / fast_s,
              "one_pass_s": one_pass_s, "one_pass_speedup": ptf_s / one_pass_s,
              "max_abs_diff": max(diff, diff_one), "equal": bool(max(diff, diff_one) < 1e-5),
              "origins": len(blocks), "series": int(np.mean([len(b) for b in blocks]))}
    return result
