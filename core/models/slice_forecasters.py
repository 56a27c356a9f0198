"""Forecasters of whole time slices of a sensor network (speed matrices, T x N).

Each takes the windows `core.forecast.graph_bench.prepare` cuts (inputs imputed and scaled,
the usual speed per time-of-day slot, the adjacency) and forecasts every sensor 1..H steps
ahead in raw units. Artifacts are JSON (+ safetensors for the nets, LightGBM text for the
boosters); the adjacency a graph net was trained on is stored with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from core.models.boosting import cores
from core.models.json_state import JsonState
from core.models.protocol import Hyperparameters

if TYPE_CHECKING:
    from core.forecast.graph_bench import Prepared

CONFIG_FILE = "model.json"
WEIGHTS_FILE = "model.safetensors"


class _Baseline(JsonState):
    """The models whose whole state is JSON."""

    format = ""
    state_file = CONFIG_FILE


class SliceHistoricalAverage(_Baseline):
    """The usual speed per sensor at the target's time of day (training mean)."""

    format = "slice_historical_average"
    _fitted = ("profile_",)

    def __init__(self, horizon: int = 4) -> None:
        self.horizon = horizon

    def fit(self, data: Prepared, train: np.ndarray, valid: np.ndarray) -> Self:
        self.profile_ = np.asarray(data.profile, dtype=float)
        return self

    def predict(self, data: Prepared, rows: np.ndarray) -> np.ndarray:
        return self.profile_[data.windows.slot[rows], :]


class SliceWindowMean(_Baseline):
    """The mean of the input window, every horizon."""

    format = "slice_window_mean"

    def __init__(self, horizon: int = 4) -> None:
        self.horizon = horizon

    def fit(self, data: Prepared, train: np.ndarray, valid: np.ndarray) -> Self:
        return self

    def predict(self, data: Prepared, rows: np.ndarray) -> np.ndarray:
        mean = data.windows.x[rows, :, :, 0].mean(axis=1) * data.scale
        return np.repeat(mean[:, None, :], self.horizon, axis=1)


class SliceLastValue(_Baseline):
    """Persistence: the last (imputed) reading, every horizon."""

    format = "slice_last_value"

    def __init__(self, horizon: int = 4) -> None:
        self.horizon = horizon

    def fit(self, data: Prepared, train: np.ndarray, valid: np.ndarray) -> Self:
        return self

    def predict(self, data: Prepared, rows: np.ndarray) -> np.ndarray:
        return np.repeat(data.windows.last[rows][:, None, :], self.horizon, axis=1)


class SensorLightGBM(Hyperparameters):
    """One LightGBM per sensor and horizon on the window's lags, its calendar inputs and the
    usual speed at the target's time of day; fit on train + validation (no early stopping).
    `n_jobs`: threads (None: every core the process may use, core.models.boosting.cores)."""

    format = "slice_lightgbm"

    def __init__(self, horizon: int = 4, n_estimators: int = 80, learning_rate: float = 0.08,
                 num_leaves: int = 15, min_child_samples: int = 20, n_jobs: int | None = None,
                 seed: int = 0) -> None:
        self.horizon = horizon
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_jobs = n_jobs
        self.seed = seed

    def _features(self, data: Prepared, j: int, h: int) -> np.ndarray:
        w = data.windows
        lags = w.x[:, :, j, 0] * data.scale[j]
        usual = self.profile_[w.slot[:, h], j]
        return np.column_stack([lags, w.x[:, -1, j, 1:], usual])

    def fit(self, data: Prepared, train: np.ndarray, valid: np.ndarray) -> Self:
        import lightgbm as lgb

        w = data.windows
        self.profile_ = np.asarray(data.profile, dtype=float)
        rows = np.concatenate([train, valid])
        self.boosters_: list[list[Any]] = []
        for j in range(w.y.shape[2]):
            per_sensor = []
            for h in range(self.horizon):
                keep = rows[w.ok[rows, h, j]]
                if len(keep) < 2:  # a sensor broken all along: its usual speed instead
                    per_sensor.append(None)
                    continue
                features = self._features(data, j, h)[keep]
                model = lgb.LGBMRegressor(
                    n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                    num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
                    random_state=self.seed, n_jobs=cores(self.n_jobs, features.size),
                    verbose=-1)
                model.fit(features, w.y[keep, h, j])
                per_sensor.append(model.booster_)
            self.boosters_.append(per_sensor)
        return self

    def predict(self, data: Prepared, rows: np.ndarray) -> np.ndarray:
        w = data.windows
        out = np.empty((len(rows), self.horizon, w.x.shape[2]))
        for j, per_sensor in enumerate(self.boosters_):
            for h, booster in enumerate(per_sensor):
                x = self._features(data, j, h)[rows]
                out[:, h, j] = x[:, -1] if booster is None else booster.predict(x)
        return out

    def save(self, directory: Path) -> None:
        texts = [[None if b is None else b.model_to_string() for b in s] for s in self.boosters_]
        Path(directory, CONFIG_FILE).write_text(json.dumps(
            {"params": self.get_params(), "profile": self.profile_.tolist(), "boosters": texts}))

    @classmethod
    def load(cls, directory: Path) -> Self:
        import lightgbm as lgb

        config = json.loads(Path(directory, CONFIG_FILE).read_text())
        model = cls(**config["params"])
        model.profile_ = np.asarray(config["profile"], dtype=float)
        model.boosters_ = [[None if t is None else lgb.Booster(model_str=t) for t in s]
                           for s in config["boosters"]]
        return model


class _Net(Hyperparameters):
    """A torch net trained on scaled windows with a masked MSE (flagged targets never count),
    early-stopped on the validation windows; weights in safetensors, the rest in JSON."""

    format = ""

    def __init__(self, horizon: int = 4, hidden: int = 32, max_epochs: int = 40,
                 batch_size: int = 64, learning_rate: float = 3e-3, patience: int = 8,
                 seed: int = 0) -> None:
        self.horizon = horizon
        self.hidden = hidden
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.seed = seed

    def _net(self, n_features: int) -> Any:
        raise NotImplementedError

    def fit(self, data: Prepared, train: np.ndarray, valid: np.ndarray) -> Self:
        import torch

        from core.models.training import fit_module

        w = data.windows
        torch.manual_seed(self.seed)
        self.adjacency_ = np.asarray(data.adjacency, dtype=float)
        self.n_features_ = int(w.x.shape[-1])
        self.net_ = self._net(self.n_features_)
        # A flagged target is replaced by the last reading and weighted 0: it never counts.
        target = np.where(w.ok, w.y, w.last[:, None, :]) / data.scale
        x = torch.tensor(w.x, dtype=torch.float32)
        packed = torch.stack([torch.tensor(target[:, :self.horizon], dtype=torch.float32),
                              torch.tensor(w.ok[:, :self.horizon], dtype=torch.float32)], dim=-1)

        def loss(p: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
            y, m = packed[..., 0], packed[..., 1]
            return (((p - y) ** 2) * m).sum() / m.sum().clamp(min=1)

        fit_module(self.net_, loss, (x[train], packed[train]), (x[valid], packed[valid]),
                   max_epochs=self.max_epochs, batch_size=self.batch_size,
                   learning_rate=self.learning_rate, patience=self.patience, seed=self.seed)
        self.net_.eval()
        return self

    def predict(self, data: Prepared, rows: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = torch.tensor(data.windows.x[rows], dtype=torch.float32)
            return self.net_(x).numpy().astype(float) * data.scale

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(Path(directory, WEIGHTS_FILE)))
        Path(directory, CONFIG_FILE).write_text(json.dumps(
            {"params": self.get_params(), "n_features": self.n_features_,
             "adjacency": self.adjacency_.tolist()}))

    @classmethod
    def load(cls, directory: Path) -> Self:
        from safetensors.torch import load_file

        config = json.loads(Path(directory, CONFIG_FILE).read_text())
        model = cls(**config["params"])
        model.adjacency_ = np.asarray(config["adjacency"], dtype=float)
        model.n_features_ = int(config["n_features"])
        model.net_ = model._net(model.n_features_)
        model.net_.load_state_dict(load_file(str(Path(directory, WEIGHTS_FILE))))
        model.net_.eval()
        return model


class SeriesGRUForecaster(_Net):
    """The GRU without the graph (core.models.nets.series_gru)."""

    format = "series_gru"

    def _net(self, n_features: int) -> Any:
        from core.models.nets.series_gru import SeriesGRU

        return SeriesGRU(n_features, self.horizon, hidden=self.hidden)


class GraphGRUForecaster(_Net):
    """The diffusion-convolution GRU with an adaptive adjacency (core.models.nets.graph_gru)."""

    format = "graph_gru"

    def _net(self, n_features: int) -> Any:
        from core.models.nets.graph_gru import GraphGRU

        return GraphGRU(self.adjacency_, n_features, self.horizon, hidden=self.hidden)
