"""pytorch-forecasting's TFT, N-HiTS and DeepAR behind the forecaster protocol.

Trained with `lightning.pytorch.Trainer` (the only trainer pytorch-forecasting accepts) on the
device and precision core.device chooses, seeded; forecasts come from the batched fast path
(core.forecast.fast_predict). Artifact: the state_dict as safetensors plus JSON of the
hyperparameters and the dataset's learned scaling; the network is rebuilt, never unpickled.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any, Self

import numpy as np

from core.device import cpu_threads, precision, seed_everything
from core.forecast.dataset import (
    DatasetSpec,
    build_dataset,
    dataset_spec,
    long_frame,
    observed,
    placeholder_dataset,
)
from core.forecast.fast_predict import build_batch, forward, usable
from core.forecast.metrics import MEDIAN, QUANTILES
from core.forecast.panel import Panel
from core.forecast.tails import standardized_quantiles, with_empirical_tails
from core.models.protocol import Hyperparameters

WEIGHTS_FILE = "network.safetensors"
PARAMS_FILE = "forecaster.json"
ARCHITECTURES = ("tft", "nhits", "deepar")
# DeepAR's Gaussian likelihood has thin tails (its 99% VaR was exceeded 2.3% of the time on
# 2017-2019 stocks): it keeps its 10-90% body and takes tails from the data's shape.
EMPIRICAL_TAILS = ("deepar",)
# Nets that read observed reals (log volatility, volume z-score) in the encoder only. DeepAR
# feeds its decoder every real's value at the future step, in training the true one: it
# would learn from tomorrow's volume, so it reads the target alone.
READS_OBSERVED = ("tft", "nhits")


def make_network(architecture: str, dataset: Any, hidden_size: int, learning_rate: float) -> Any:
    """The pytorch-forecasting network for `architecture`, sized from the dataset."""
    from pytorch_forecasting import DeepAR, NHiTS, TemporalFusionTransformer
    from pytorch_forecasting.metrics import NormalDistributionLoss, QuantileLoss

    if architecture == "tft":
        return TemporalFusionTransformer.from_dataset(
            dataset, hidden_size=hidden_size, attention_head_size=1, dropout=0.1,
            hidden_continuous_size=max(hidden_size // 2, 1), learning_rate=learning_rate,
            loss=QuantileLoss(list(QUANTILES)), log_interval=-1)
    if architecture == "nhits":
        # naive_level=False: by default N-HiTS adds the last encoder value to every forecast,
        # right for levels but for changes it echoes yesterday's return (MAE x sqrt 2).
        return NHiTS.from_dataset(dataset, hidden_size=hidden_size, learning_rate=learning_rate,
                                  loss=QuantileLoss(list(QUANTILES)), naive_level=False,
                                  log_interval=-1)
    if architecture == "deepar":
        return DeepAR.from_dataset(dataset, hidden_size=hidden_size, rnn_layers=1,
                                   learning_rate=learning_rate, loss=NormalDistributionLoss(),
                                   log_interval=-1)
    raise ValueError(f"unknown architecture {architecture!r}: use one of {ARCHITECTURES}")


def cumulative_quantiles(steps: np.ndarray) -> np.ndarray:
    """Per-step quantiles (n, H, Q) -> quantiles of the running sum, assuming independent steps:
    medians add, each level's distance from the median adds in quadrature (exact for Gaussians)."""
    median = steps[..., MEDIAN:MEDIAN + 1]
    spread = steps - median
    return (np.cumsum(median, axis=1)
            + np.sign(spread) * np.sqrt(np.cumsum(spread**2, axis=1)))


class DeepForecaster(Hyperparameters):
    """One pytorch-forecasting network on the series' one-step changes in volatility units
    (Panel.scaled_change), `horizon` steps ahead, scaled back by the origin's EWMA volatility.

    Why volatility units: trained on raw returns, the nets' intervals were as wide in calm
    2017 as in the years they learned from (N-HiTS' 99% VaR was exceeded 7% of the time,
    coverage95 0.85); scaled, every candidate's 80% and 95% coverage landed within 0.03.
    """

    format = "pytorch_forecasting"

    def __init__(self, *, architecture: str = "tft", horizon: int = 5, encoder_length: int = 60,
                 hidden_size: int = 16, learning_rate: float = 3e-3, max_epochs: int = 3,
                 batch_size: int = 128, limit_train_batches: int = 60, n_samples: int = 200,
                 freq: str = "B", seed: int = 0) -> None:
        self.architecture = architecture
        self.horizon = horizon
        self.encoder_length = encoder_length
        self.hidden_size = hidden_size
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.limit_train_batches = limit_train_batches
        self.n_samples = n_samples
        self.freq = freq
        self.seed = seed

    def fit(self, panel: Panel) -> Self:
        import lightning.pytorch as pl
        import torch

        frame = long_frame(panel)
        # One thread by default: these nets are small (see core.device.cpu_threads).
        with quiet(), tempfile.TemporaryDirectory() as root, cpu_threads(1):
            extra = observed(panel) if self.architecture in READS_OBSERVED else ()
            dataset = build_dataset(frame, self.encoder_length, self.horizon, extra)
            self.spec_ = dataset_spec(dataset, frame, self.freq)
            self.shape_ = standardized_quantiles(panel, self.horizon)
            seed_everything(self.seed)
            torch.manual_seed(self.seed)
            self.network_ = make_network(self.architecture, dataset, self.hidden_size,
                                         self.learning_rate)
            loader = dataset.to_dataloader(train=True, batch_size=self.batch_size, num_workers=0)
            trainer = pl.Trainer(
                accelerator="auto", devices=1, precision=precision(), max_epochs=self.max_epochs,
                limit_train_batches=self.limit_train_batches, gradient_clip_val=0.1,
                logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, deterministic=True, default_root_dir=root)
            trainer.fit(self.network_, train_dataloaders=loader)
        self.network_ = self.network_.cpu().eval()
        return self

    def step_forecast(self, panel: Panel, rows: np.ndarray) -> np.ndarray:
        """Per-step forecasts of the usable origins: quantiles, or samples for DeepAR."""
        batch = build_batch(panel, rows, self.spec_)
        samples = self.n_samples if self.architecture == "deepar" else None
        scaled = forward(self.network_, batch, n_samples=samples, seed=self.seed)
        # Back to changes with the volatility known at the origin, for every step ahead.
        return scaled * panel.sigma[rows][:, None, None]

    def forecast(self, panel: Panel, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        out = np.full((len(rows), self.horizon, len(QUANTILES)), np.nan)
        ok = usable(panel, rows, self.spec_)
        if ok.any():
            steps = self.step_forecast(panel, rows[ok])
            if self.architecture == "deepar":  # sample paths: sum them, then take quantiles
                paths = np.cumsum(steps, axis=1)
                out[ok] = np.moveaxis(np.quantile(paths, QUANTILES, axis=-1), 0, -1)
            else:
                out[ok] = cumulative_quantiles(np.sort(steps, axis=-1))
            if self.architecture in EMPIRICAL_TAILS:
                out[ok] = with_empirical_tails(out[ok], self.shape_)
        return out

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_model

        # save_model (not save_file): TFT ties weights across modules, stored once.
        save_model(self.network_.cpu(), str(Path(directory, WEIGHTS_FILE)))
        Path(directory, PARAMS_FILE).write_text(json.dumps(
            {"params": self.get_params(), "spec": self.spec_.to_dict(),
             "shape": self.shape_.tolist()}))

    @classmethod
    def load(cls, directory: Path) -> Self:
        from safetensors.torch import load_model

        state = json.loads(Path(directory, PARAMS_FILE).read_text())
        model = cls(**state["params"])
        model.spec_ = DatasetSpec.from_dict(state["spec"])
        model.shape_ = np.asarray(state["shape"], dtype=float)
        with quiet():
            network = make_network(model.architecture, placeholder_dataset(model.spec_),
                                   model.hidden_size, model.learning_rate)
        load_model(network, str(Path(directory, WEIGHTS_FILE)), strict=True)
        model.network_ = network.eval()
        return model


class quiet:  # noqa: N801 - used as a context manager, reads like `with quiet():`
    """Silence Lightning's banners and pytorch-forecasting's hyperparameter warnings."""

    def __enter__(self) -> None:
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        # The library's LR schedule watches a val_loss; we hold out no validation set (the
        # walk-forward is the validation) and Lightning says so every epoch.
        warnings.filterwarnings("ignore", message="ReduceLROnPlateau conditioned on metric")

    def __exit__(self, *exc: object) -> None:
        self._warnings.__exit__(*exc)
