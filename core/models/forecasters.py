"""Classical forecasters: random walk, drift, autoregressive (ARIMA(p,1,0)), LightGBM quantiles.

Every forecaster follows one small protocol (core.forecast.protocol.Forecaster): `fit(panel,
horizon)` learns from every row of the panel it is given (the backtest hands it the past only),
`forecast(panel, rows)` returns quantiles of the cumulative change level[row+h] - level[row] for
h = 1..H, shape (rows, H, len(QUANTILES)), using panel rows up to each origin only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np

from core.forecast.features import lag_features
from core.forecast.metrics import QUANTILES
from core.forecast.panel import Panel
from core.forecast.tails import (
    LOWER,
    NORMAL,
    UPPER,
    standardized_quantiles,
    with_empirical_tails,
)
from core.models.boosting import cores
from core.models.json_state import JsonState
from core.models.protocol import Hyperparameters

PARAMS_FILE = "forecaster.json"
BODY = QUANTILES[LOWER:UPPER + 1]  # the levels LightGBM learns; tails come from the data's shape


class _JsonState(JsonState):
    """Forecasters' state file (its name is what stored stock models were written with)."""

    state_file = PARAMS_FILE


class RandomWalk(_JsonState):
    """No change from the origin; intervals = EWMA volatility x empirical standardized errors."""

    format = "random_walk"
    _fitted = ("z_",)

    def __init__(self, *, horizon: int = 5) -> None:
        self.horizon = horizon

    def fit(self, panel: Panel) -> Self:
        self.z_ = standardized_quantiles(panel, self.horizon)
        return self

    def forecast(self, panel: Panel, rows: np.ndarray) -> np.ndarray:
        steps = np.sqrt(np.arange(1, self.horizon + 1))[None, :, None]
        scale = panel.sigma[rows][:, None, None] * steps
        return scale * self.z_[None]


class Drift(_JsonState):
    """The random walk plus each series' mean change over the trailing `window` rows."""

    format = "drift"
    _fitted = ("z_",)

    def __init__(self, *, horizon: int = 5, window: int = 250) -> None:
        self.horizon = horizon
        self.window = window

    def fit(self, panel: Panel) -> Self:
        self.z_ = standardized_quantiles(panel, self.horizon)
        return self

    def forecast(self, panel: Panel, rows: np.ndarray) -> np.ndarray:
        mean = (panel.frame.groupby("series", sort=False)["change"]
                .transform(lambda s: s.rolling(self.window, min_periods=2).mean())
                .fillna(0.0).to_numpy())
        steps = np.arange(1, self.horizon + 1)[None, :, None]
        scale = panel.sigma[rows][:, None, None] * np.sqrt(steps)
        return mean[rows][:, None, None] * steps + scale * self.z_[None]


class AutoRegressive(Hyperparameters):
    """ARIMA(p,1,0) on the level (AR(p) on the changes) per series, p chosen by AIC.

    Least squares on the last `window` changes; Gaussian intervals from the psi weights of the
    cumulative change with a constant error variance (no volatility model: that is GARCH's job,
    and this candidate shows what ignoring it costs in coverage). statsforecast was not used
    because it would downgrade pandas in this environment.
    """

    format = "arima"

    def __init__(self, *, horizon: int = 5, max_p: int = 5, window: int = 1000) -> None:
        self.horizon = horizon
        self.max_p = max_p
        self.window = window

    def fit(self, panel: Panel) -> Self:
        self.coefs_: dict[str, dict[str, Any]] = {}
        for key, rows in panel.frame.groupby("series", sort=False):
            x = rows["change"].to_numpy(dtype=float)[1:][-self.window:]
            self.coefs_[key] = _fit_ar(x, self.max_p)
        pooled = [c for c in self.coefs_.values()]
        # An unseen series gets the median model of the others.
        self.fallback_ = {"const": float(np.median([c["const"] for c in pooled])), "phi": [],
                          "sigma": float(np.median([c["sigma"] for c in pooled]))}
        return self

    def forecast(self, panel: Panel, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.horizon, len(QUANTILES)))
        change, series = panel.change, panel.series
        pos = panel.pos
        for n, row in enumerate(rows):
            coef = self.coefs_.get(series[row], self.fallback_)
            phi = np.asarray(coef["phi"], dtype=float)
            p = len(phi)
            available = min(p, int(pos[row]))
            history = list(np.nan_to_num(change[row - available + 1: row + 1])) if available else []
            history = [0.0] * (p - len(history)) + history
            path, psi = [], _psi(phi, self.horizon)
            for _ in range(self.horizon):
                nxt = coef["const"] + (float(np.dot(phi, history[::-1][:p])) if p else 0.0)
                path.append(nxt)
                history.append(nxt)
            cumulative = np.cumsum(path)
            psi_cum = np.cumsum(psi)
            sd = coef["sigma"] * np.sqrt(np.cumsum(psi_cum**2))
            out[n] = cumulative[:, None] + sd[:, None] * NORMAL[None, :]
        return out

    def save(self, directory: Path) -> None:
        Path(directory, PARAMS_FILE).write_text(json.dumps(
            {"params": self.get_params(), "coefs": self.coefs_, "fallback": self.fallback_}))

    @classmethod
    def load(cls, directory: Path) -> Self:
        state = json.loads(Path(directory, PARAMS_FILE).read_text())
        model = cls(**state["params"])
        model.coefs_, model.fallback_ = state["coefs"], state["fallback"]
        return model


def _fit_ar(x: np.ndarray, max_p: int) -> dict[str, Any]:
    """AR(p) by least squares on a common sample; the p with the lowest AIC wins."""
    x = x[np.isfinite(x)]
    max_p = max(0, min(max_p, len(x) // 10))
    target = x[max_p:]
    best: dict[str, Any] | None = None
    for p in range(max_p + 1):
        design = np.column_stack(
            [np.ones(len(target))] + [x[max_p - k: len(x) - k] for k in range(1, p + 1)]
        )
        beta, *_ = np.linalg.lstsq(design, target, rcond=None)
        resid = target - design @ beta
        var = max(float(np.mean(resid**2)), 1e-16)
        aic = len(target) * np.log(var) + 2 * (p + 1)
        if best is None or aic < best["aic"]:
            best = {"const": float(beta[0]), "phi": [float(b) for b in beta[1:]],
                    "sigma": float(np.sqrt(var)), "aic": float(aic)}
    assert best is not None
    return best


def _psi(phi: np.ndarray, horizon: int) -> np.ndarray:
    """MA(inf) weights psi_0..psi_{H-1} of an AR(p)."""
    psi = np.zeros(horizon)
    psi[0] = 1.0
    for j in range(1, horizon):
        psi[j] = sum(phi[k] * psi[j - k - 1] for k in range(min(len(phi), j)))
    return psi


class LightGBMQuantile(Hyperparameters):
    """One LightGBM quantile regressor per (horizon, body level) on lagged, volatility-scaled
    changes, with empirical tails (core.forecast.tails).

    The target is d(t,h) / sigma_t, so trees learn the shape of the move and today's EWMA
    volatility sets its size; crossing quantiles are sorted. Only the 10-90% levels are
    learned: a 1% quantile from leaves of `min_child_samples` rows is mostly noise, and on
    2017-2019 daily stocks it was exceeded 1.9% of the time (Kupiec p 0.0001). Artifact:
    LightGBM's text models and the tail shape as JSON. `n_jobs`: threads (None: every core
    the process may use, core.models.boosting.cores).
    """

    format = "lightgbm_quantile"

    def __init__(self, *, horizon: int = 5, lags: int = 10, n_estimators: int = 150,
                 learning_rate: float = 0.05, num_leaves: int = 8, min_child_samples: int = 100,
                 subsample: float = 0.8, n_jobs: int | None = None,
                 seed: int = 0) -> None:
        self.horizon = horizon
        self.lags = lags
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.n_jobs = n_jobs
        self.seed = seed

    def fit(self, panel: Panel) -> Self:
        import lightgbm as lgb

        X = lag_features(panel, self.lags)
        rows = np.arange(len(X))
        self.boosters_: list[list[Any]] = []
        self.shape_ = standardized_quantiles(panel, self.horizon)
        for h in range(1, self.horizon + 1):
            y = panel.future_change(rows, h) / panel.sigma
            keep = np.isfinite(y) & np.isfinite(X).all(axis=1)
            per_level = []
            for tau in BODY:
                params = {"objective": "quantile", "alpha": tau,
                          "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                          "min_child_samples": self.min_child_samples,
                          "bagging_fraction": self.subsample, "bagging_freq": 1,
                          "num_threads": cores(self.n_jobs, int(keep.sum()) * X.shape[1]),
                          "seed": self.seed, "verbose": -1,
                          "deterministic": True}
                data = lgb.Dataset(X[keep], y[keep], free_raw_data=False)
                per_level.append(lgb.train(params, data, num_boost_round=self.n_estimators))
            self.boosters_.append(per_level)
        return self

    def forecast(self, panel: Panel, rows: np.ndarray) -> np.ndarray:
        X = np.nan_to_num(lag_features(panel, self.lags)[rows])
        body = np.stack([np.stack([b.predict(X) for b in level], axis=-1)
                         for level in self.boosters_], axis=1)
        z = np.full((len(rows), self.horizon, len(QUANTILES)), np.nan)
        z[..., LOWER:UPPER + 1] = body
        return with_empirical_tails(z, self.shape_) * panel.sigma[rows][:, None, None]

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        for h, level in enumerate(self.boosters_):
            for i, booster in enumerate(level):
                booster.save_model(str(directory / f"h{h + 1}_q{i}.txt"))
        Path(directory, PARAMS_FILE).write_text(json.dumps(
            {"params": self.get_params(), "shape": self.shape_.tolist()}))

    @classmethod
    def load(cls, directory: Path) -> Self:
        import lightgbm as lgb

        state = json.loads(Path(directory, PARAMS_FILE).read_text())
        model = cls(**state["params"])
        model.shape_ = np.asarray(state["shape"], dtype=float)
        model.boosters_ = [[lgb.Booster(model_file=str(Path(directory, f"h{h}_q{i}.txt")))
                            for i in range(len(BODY))] for h in range(1, model.horizon + 1)]
        return model
