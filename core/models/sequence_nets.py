"""Deep remaining-useful-life models on sensor windows: 1D-CNN, GRU, Transformer encoder.

Each wraps one nn.Module from core/models/nets/ (with `ensemble`, that many started from
successive seeds, their quantiles averaged) behind the SequenceModel protocol
(core.models.sequence): fit on normalised windows (n, W, F) and a capped RUL target, predict
ordered q0.1/q0.5/q0.9. Training is core.models.training.fit_module with `loss`: by default
"mse_pinball" (squared error on the median column, which then estimates the mean, as RMSE
rewards; pinball on the 0.1 and 0.9 quantiles), or "pinball" on all three. After a fit,
`refit_params` gives the epoch count early stopping kept, for the Kind's refit on all units.
The artifact is every net's weights in one safetensors file plus one JSON of the
hyperparameters and fitted shapes. Defaults are the "full" profile, chosen on C-MAPSS FD001
(W=30, 14 sensors): small nets, a one-cycle learning rate so that tens of epochs suffice,
well under a minute a fit on two CPU cores; FAST_PARAMS is the tiny profile for tests and
demos.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from torch import nn

from core import progress
from core.models.net_weights import load_nets, save_nets
from core.models.nets.sequence_cnn import SequenceCNN as CNNNet
from core.models.nets.sequence_gru import SequenceGRU as GRUNet
from core.models.nets.sequence_transformer import SequenceTransformer as TransformerNet
from core.models.protocol import Hyperparameters
from core.models.training import fit_module

QUANTILES = (0.1, 0.5, 0.9)
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "sequence_net.json"
CHUNK = 8192  # windows per forward pass when scoring: bounds memory on a large fleet


def pinball_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean quantile (pinball) loss of (n, 3) predictions at QUANTILES against (n,) targets."""
    levels = torch.tensor(QUANTILES, device=prediction.device, dtype=prediction.dtype)
    error = target.to(prediction.dtype)[:, None] - prediction
    return torch.maximum(levels * error, (levels - 1) * error).mean()


def mse_pinball_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error of the median plus the pinball loss of the 0.1 and 0.9 quantiles.

    RMSE is what a RUL forecast is judged on, and the mean minimises squared error where the
    median only minimises absolute error; the outer quantiles keep their pinball loss (the
    Kind's conformal calibration rescales their width anyway)."""
    target = target.to(prediction.dtype)
    outer = torch.tensor([QUANTILES[0], QUANTILES[2]], device=prediction.device,
                         dtype=prediction.dtype)
    error = target[:, None] - prediction[:, [0, 2]]
    pinball = torch.maximum(outer * error, (outer - 1) * error).mean()
    return ((prediction[:, 1] - target) ** 2).mean() + pinball


LOSSES = {"pinball": pinball_loss, "mse_pinball": mse_pinball_loss}


def _checked(windows: np.ndarray, target: np.ndarray | None, what: str) -> np.ndarray:
    windows = np.asarray(windows, dtype=np.float32)
    if windows.ndim != 3 or len(windows) == 0:
        raise ValueError(f"{what}: windows must be a non-empty (n, window, features) array, "
                         f"got shape {windows.shape}")
    if not np.isfinite(windows).all():
        raise ValueError(f"{what}: windows hold NaN or infinite values; impute or drop the "
                         "sensor before windowing")
    if target is not None and np.shape(target) != (len(windows),):
        raise ValueError(f"{what}: target has shape {np.shape(target)}, expected "
                         f"({len(windows)},), one RUL per window")
    return windows


class _SequenceNet(Hyperparameters):
    """Shared fit/predict/save/load; subclasses name their net and its hyperparameters."""

    format = ""  # set by each subclass: the artifact format key
    _net_params: tuple[str, ...] = ()  # constructor arguments that size the nn.Module

    # Set by every subclass constructor (the shared training hyperparameters).
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    patience: int
    schedule: str
    loss: str
    ensemble: int  # nets from seeds seed, seed + 1, ...; their quantiles averaged

    def _build(self, n_features: int, window: int) -> nn.Module:
        raise NotImplementedError

    def fit(self, windows: np.ndarray, target: np.ndarray,
            valid: tuple[np.ndarray, np.ndarray]) -> Self:
        windows = _checked(windows, target, "training")
        valid_windows = _checked(valid[0], valid[1], "validation")
        if valid_windows.shape[1:] != windows.shape[1:]:
            raise ValueError(f"validation windows have shape {valid_windows.shape[1:]}, "
                             f"training windows {windows.shape[1:]}: build both alike")
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r} is not one of {sorted(LOSSES)}")
        if int(self.ensemble) < 1:
            raise ValueError(f"ensemble={self.ensemble!r}: train at least 1 net")
        target = np.asarray(target, dtype=np.float32)
        # The net learns RUL / scale (about 0..1): tanh/softplus layers and the default
        # learning rates suit unit-sized targets, not 0..125 cycles.
        self.scale_ = float(max(np.abs(target).max(), 1.0))
        self.window_, self.n_features_ = int(windows.shape[1]), int(windows.shape[2])
        train = (torch.from_numpy(windows), torch.from_numpy(target / self.scale_))
        held = (torch.from_numpy(valid_windows),
                torch.from_numpy(np.asarray(valid[1], dtype=np.float32) / self.scale_))
        # A seed ensemble: nets started differently err differently, and the mean of a few
        # is steadier than any one of them (their quantiles averaged, as ImageCNN's
        # probabilities are).
        self.nets_, self.epochs_, best = [], [], []
        for member in range(int(self.ensemble)):
            if self.ensemble > 1:  # or a long run's epoch count would seem to start over
                progress.update(net=f"{member + 1}/{self.ensemble}")
            torch.manual_seed(self.seed + member)
            net = self._build(self.n_features_, self.window_)
            fit_module(net, LOSSES[self.loss], train, held, max_epochs=self.epochs,
                       batch_size=self.batch_size, learning_rate=self.learning_rate,
                       weight_decay=self.weight_decay, patience=self.patience,
                       seed=self.seed + member, schedule=self.schedule)
            ran = int(net.epochs_)
            # fit_module stops `patience` epochs after the best one (and keeps its weights);
            # a run that never stopped early may have peaked anywhere: its budget is all.
            best.append(max(ran - self.patience, 1) if ran < self.epochs else self.epochs)
            self.nets_.append(net)
            self.epochs_.append(ran)
        self.best_epochs_ = int(round(float(np.mean(best))))
        return self

    def refit_params(self) -> dict[str, Any]:
        """The budget to refit on all units with: the epochs early stopping chose, and a
        patience that never stops (the validation windows are then in the training set)."""
        return {"epochs": self.best_epochs_, "patience": self.best_epochs_ + 1}

    def predict_quantiles(self, windows: np.ndarray) -> np.ndarray:
        """(n, 3) RUL quantiles q0.1 <= q0.5 <= q0.9 in the target's units (cycles)."""
        windows = _checked(windows, None, "scoring")
        if windows.shape[1:] != (self.window_, self.n_features_):
            raise ValueError(f"scoring windows have shape {windows.shape[1:]}, the model was "
                             f"fitted on {(self.window_, self.n_features_)}")
        out = np.zeros((len(windows), len(QUANTILES)))
        with torch.no_grad():
            for net in self.nets_:
                net.eval()
                for start in range(0, len(windows), CHUNK):
                    chunk = torch.from_numpy(windows[start:start + CHUNK])
                    out[start:start + len(chunk)] += net(chunk).numpy()
        # Each head is ordered, so is their mean; sort anyway so float ties can never invert.
        return np.sort(out * (self.scale_ / len(self.nets_)), axis=1)

    def save(self, directory: Path) -> None:
        save_nets(self.nets_, Path(directory, WEIGHTS_FILE))
        config = {"params": self.get_params(), "scale": self.scale_,
                  "window": self.window_, "n_features": self.n_features_,
                  "members": len(self.nets_)}
        Path(directory, CONFIG_FILE).write_text(json.dumps(config, indent=1))

    @classmethod
    def load(cls, directory: Path) -> Self:
        config = json.loads(Path(directory, CONFIG_FILE).read_text())
        model = cls(**config["params"])
        model.scale_ = float(config["scale"])
        model.window_, model.n_features_ = int(config["window"]), int(config["n_features"])
        # No "members": saved before seed ensembles, one net with unprefixed keys.
        model.nets_ = load_nets(lambda: model._build(model.n_features_, model.window_),
                                Path(directory, WEIGHTS_FILE), config.get("members"))
        return model

    def _sizes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._net_params}


class SequenceCNN(_SequenceNet):
    """Li et al. (2018) DCNN: same-padded convolutions along time, a dense layer, 3 quantiles."""

    format = "sequence_cnn"
    _net_params = ("channels", "kernel", "layers", "dense", "dropout")

    def __init__(
        self, *, channels: int = 10, kernel: int = 9, layers: int = 4, dense: int = 100,
        dropout: float = 0.5, epochs: int = 30, batch_size: int = 512,
        learning_rate: float = 5e-3, weight_decay: float = 0.0, patience: int = 30,
        schedule: str = "one_cycle", loss: str = "mse_pinball", ensemble: int = 1,
        seed: int = 0,
    ) -> None:
        self.channels = channels
        self.kernel = kernel
        self.layers = layers
        self.dense = dense
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.schedule = schedule
        self.loss = loss
        self.ensemble = ensemble
        self.seed = seed

    def _build(self, n_features: int, window: int) -> nn.Module:
        return CNNNet(n_features, window, **self._sizes())


class SequenceGRU(_SequenceNet):
    """Stacked GRU, last hidden state -> MLP -> 3 quantiles."""

    format = "sequence_gru"
    _net_params = ("hidden", "layers", "dense", "dropout")

    def __init__(
        self, *, hidden: int = 32, layers: int = 1, dense: int = 32, dropout: float = 0.1,
        epochs: int = 20, batch_size: int = 512, learning_rate: float = 5e-3,
        weight_decay: float = 0.0, patience: int = 20, schedule: str = "one_cycle",
        loss: str = "mse_pinball", ensemble: int = 1,
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.layers = layers
        self.dense = dense
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.schedule = schedule
        self.loss = loss
        self.ensemble = ensemble
        self.seed = seed

    def _build(self, n_features: int, window: int) -> nn.Module:
        return GRUNet(n_features, **self._sizes())


class SequenceTransformer(_SequenceNet):
    """Small pre-norm Transformer encoder with sinusoidal positions -> 3 quantiles."""

    format = "sequence_transformer"
    _net_params = ("d_model", "heads", "layers", "feedforward", "dropout")

    def __init__(
        self, *, d_model: int = 32, heads: int = 4, layers: int = 1, feedforward: int = 64,
        dropout: float = 0.1, epochs: int = 15, batch_size: int = 512,
        learning_rate: float = 3e-3, weight_decay: float = 1e-4, patience: int = 15,
        schedule: str = "one_cycle", loss: str = "mse_pinball", ensemble: int = 1,
        seed: int = 0,
    ) -> None:
        self.d_model = d_model
        self.heads = heads
        self.layers = layers
        self.feedforward = feedforward
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.schedule = schedule
        self.loss = loss
        self.ensemble = ensemble
        self.seed = seed

    def _build(self, n_features: int, window: int) -> nn.Module:
        return TransformerNet(n_features, window, **self._sizes())


# The "fast" profile (tests, demos, smoke runs): tiny nets, a few epochs; the constructors'
# defaults are the "full" profile.
FAST_PARAMS: dict[str, dict[str, Any]] = {
    SequenceCNN.format: {"channels": 4, "kernel": 3, "layers": 2, "dense": 16, "dropout": 0.0,
                         "epochs": 8, "batch_size": 64, "learning_rate": 1e-2, "patience": 8},
    SequenceGRU.format: {"hidden": 8, "layers": 1, "dense": 8, "dropout": 0.0, "epochs": 8,
                         "batch_size": 64, "learning_rate": 1e-2, "patience": 8},
    SequenceTransformer.format: {"d_model": 8, "heads": 2, "layers": 1, "feedforward": 16,
                                 "dropout": 0.0, "epochs": 8, "batch_size": 64,
                                 "learning_rate": 1e-2, "patience": 8},
}
