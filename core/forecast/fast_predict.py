"""Deep-model forecasts for many series and origins in one batched forward pass.

pytorch-forecasting's `predict` rebuilds a TimeSeriesDataSet (pandas preprocessing), a
DataLoader and a Trainer on every call; scoring a few thousand series that way takes hours.
Here the batch the network sees is built directly from the panel's arrays with the scaling the
training dataset learned (core.forecast.dataset.DatasetSpec), then the network runs once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.forecast.dataset import (
    KNOWN_REALS,
    TARGET,
    UNKNOWN,
    DatasetSpec,
    calendar,
    future_times,
    observed_values,
)
from core.forecast.panel import WARMUP, Panel

if TYPE_CHECKING:
    import torch

SMALL_BATCH = 512  # origins x series below which inference runs on one thread


def usable(panel: Panel, rows: np.ndarray, spec: DatasetSpec) -> np.ndarray:
    """Origins with a full encoder window of scaled changes (none in a series' first
    WARMUP rows)."""
    return panel.pos[np.asarray(rows)] >= WARMUP + spec.encoder_length - 1


def build_batch(panel: Panel, rows: np.ndarray, spec: DatasetSpec) -> dict[str, torch.Tensor]:
    """The network input for origins `rows` (all usable), as the library's collate builds it."""
    import torch

    rows = np.asarray(rows)
    if not usable(panel, rows, spec).all():
        raise ValueError(f"every origin needs {WARMUP + spec.encoder_length - 1} past rows")
    E, H = spec.encoder_length, spec.horizon
    window = rows[:, None] + np.arange(-E + 1, 1)[None, :]
    keys = panel.series[rows]
    codes = np.array([spec.codes.get(k, 0) for k in keys], dtype=np.int64)
    # Unseen series: the NaN class and the normalizer's fallback scale, as the library does.
    scale = np.array([spec.target_scale.get(k, spec.target_scale[UNKNOWN]) for k in keys],
                     dtype=np.float64)
    y_enc = panel.scaled_change[window]
    times = panel.time
    columns_enc, columns_dec = [], []
    future = future_times(times[rows], H, spec.freq)
    for name in spec.reals:
        if name == TARGET:
            columns_enc.append((y_enc - scale[:, :1]) / scale[:, 1:])
            columns_dec.append(np.broadcast_to(-scale[:, :1] / scale[:, 1:], (len(rows), H)))
        elif name in KNOWN_REALS:
            mean, sd = spec.scalers[name]
            columns_enc.append((calendar(times[window]) - mean) / sd)
            columns_dec.append((calendar(future) - mean) / sd)
        else:  # observed: the past as it was; unknown ahead (0, as predict_frame fills it)
            mean, sd = spec.scalers[name]
            values = np.nan_to_num(observed_values(panel, name, window))
            columns_enc.append((values - mean) / sd)
            columns_dec.append(np.full((len(rows), H), -mean / sd))

    def tensor(values: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(values), dtype=dtype)

    pos = panel.pos[rows]
    n = len(rows)
    return {
        "encoder_cat": tensor(np.broadcast_to(codes[:, None, None], (n, E, 1)), torch.long),
        "encoder_cont": tensor(np.stack(columns_enc, axis=-1)),
        "encoder_target": tensor(y_enc),
        "encoder_lengths": torch.full((n,), E, dtype=torch.long),
        "decoder_cat": tensor(np.broadcast_to(codes[:, None, None], (n, H, 1)), torch.long),
        "decoder_cont": tensor(np.stack(columns_dec, axis=-1)),
        "decoder_target": torch.zeros((n, H)),
        "decoder_lengths": torch.full((n,), H, dtype=torch.long),
        "decoder_time_idx": tensor(pos[:, None] + np.arange(1, H + 1)[None, :], torch.long),
        "groups": tensor(np.array([spec.groups.get(k, -1) for k in keys])[:, None], torch.long),
        "target_scale": tensor(scale),
    }


def forward(network: torch.nn.Module, batch: dict[str, torch.Tensor],
            n_samples: int | None = None, seed: int = 0) -> np.ndarray:
    """The network's forecast in the target's units: quantiles (n, H, Q) for quantile losses,
    samples (n, H, S) for distribution losses when `n_samples` is given."""
    import torch

    if network.training:  # eval() walks every submodule: a third of a small forward's time
        network.eval()
    threads = torch.get_num_threads()
    if len(batch["groups"]) < SMALL_BATCH:
        # Small batches gain nothing from intra-op threads, and on a busy machine the threads'
        # hand-offs cost more than the work (measured: 17x slower with 2 threads on 2 shared cores).
        torch.set_num_threads(1)
    try:
        return _forward(network, batch, n_samples, seed)
    finally:
        torch.set_num_threads(threads)


def _forward(network: torch.nn.Module, batch: dict[str, torch.Tensor], n_samples: int | None,
             seed: int) -> np.ndarray:
    import torch

    with torch.inference_mode():
        if n_samples is None:
            out = network(batch)["prediction"]  # QuantileLoss: already (n, H, Q), rescaled
        else:
            torch.manual_seed(seed)
            out = network(batch, n_samples=n_samples)["prediction"]
    return out.detach().cpu().numpy().astype(np.float64)
