"""Forecasting: panels of time series (tickers, road sensors) forecast 1..H steps with quantiles."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.forecast import backtest
from core.forecast.metrics import MEDIAN, QUANTILES
from core.forecast.panel import Panel, build_panel
from core.kinds import slice_forecasting
from core.kinds.base import (
    PRIMARY_OUTPUT,
    SECTIONS,
    Batching,
    Benchmark,
    Candidate,
    Gate,
    TaskSpec,
    ledger_frame,
    require_format,
    sorted_groups,
)
from core.kinds.live import forecast_metrics, realised_forecasts
from core.kinds.predictor_files import load_predictor_files, save_predictor
from core.models.formats import BUILTIN, lazy_factory
from core.models.protocol import json_params
from core.monitor import reference_profile

if TYPE_CHECKING:
    from core.models.formats import Formats

PREDICTOR_FILE = "predictor.json"
FORMAT_PREFIX = "forecasting."
# Walk-forward settings per profile for `train`: how many final origins are tested, refit cadence.
TRAIN_BACKTEST = {"smoke": (10, 10), "quick": (60, 30), "full": (250, 63)}
BENCH_REFIT = 63  # about a quarter of trading days
# Scaling per path: the panel forecasters work in EWMA-volatility units of the changes; the
# slice forecasters (graph Tasks) divide by the training maximum, each sensor's, or nothing.
PANEL_SCALING = ("volatility",)
SLICE_SCALING = ("global", "per_series", "none")
# The graph Task's candidates (core.forecast.graph_bench.CANDIDATES maps them to formats).
SLICE_MODELS = ("historical_average", "window_mean", "last_value", "lightgbm", "gru",
                "graph_gru")


def _factory(format: str, **fixed: Any) -> Callable[..., Any]:
    return lazy_factory(BUILTIN[format], **fixed)


@dataclass(frozen=True)
class Forecasting:
    """A Kind for "where will each series be 1..horizon steps from now, and how sure are we?".

    `transform="log_return"` forecasts cumulative log returns of a positive target (prices):
    the ledger score at horizon h is ln(P[t+h]/P[t]) and the payload carries the implied price;
    `transform="none"` forecasts the target's level. `covariates` are numeric columns the
    Task's features add (computed from the past only); they feed the LightGBM candidate.
    `bench_window` fixes the benchmark's origins (ISO dates) when the data covers them.

    Options (the defaults are the stock Task's): `scaling` ("volatility" for the panel
    forecasters; "global" (default), "per_series" or "none" for slices); `risk` adds
    VaR/ES/Kupiec where the target is a return; `calendar` feeds time of day and weekend,
    derived from the frequency, to the slice forecasters; `train_backtest` = (origins
    tested, refit every) in steps for `train` (None: TRAIN_BACKTEST per profile) and
    `bench_refit` the bench's refit cadence in steps. `graph` (a slice_forecasting.Graph, or
    a fixed adjacency) makes it a graph Task: whole time slices are scored at once (SLICES),
    the slice candidates run a chronological protocol, and the adjacency is stored with the
    predictor.
    """

    series: str
    time: str
    target: str
    horizon: int = 5
    freq: str = "B"
    graph: slice_forecasting.Graph | Sequence[Sequence[float]] | None = None
    transform: str = "none"
    covariates: tuple[str, ...] = ()
    bench_window: tuple[str, str] | None = None
    scaling: str | None = None  # None: "volatility" for a panel, "global" for a graph
    risk: bool = True
    calendar: bool = False
    train_backtest: tuple[int, int] | None = None
    bench_refit: int = BENCH_REFIT

    name = "forecasting"
    higher_is_better = False
    outputs = (PRIMARY_OUTPUT,)
    # The Forecast tab first: fan charts, per-horizon leaderboard, error against the naive.
    sections = ("forecast", *SECTIONS)

    def __post_init__(self) -> None:
        allowed = PANEL_SCALING if self.graph is None else SLICE_SCALING
        if self.scaling is None:
            object.__setattr__(self, "scaling", allowed[0])
        if self.graph is not None and not isinstance(self.graph, slice_forecasting.Graph):
            # A fixed adjacency (rows and columns in sorted sensor order).
            fixed = tuple(tuple(float(v) for v in row) for row in self.graph)
            object.__setattr__(self, "graph", slice_forecasting.Graph(fixed=fixed))
        if self.scaling not in allowed:
            path = "a panel (no graph)" if self.graph is None else "a graph Task"
            raise ValueError(f"scaling {self.scaling!r} does not apply to {path}: use one of "
                             f"{allowed}")
        if self.calendar and self.graph is None:
            raise ValueError("calendar inputs feed the slice forecasters of a graph Task; a "
                             "panel Task adds calendar columns as covariates")

    @property
    def primary_metric(self) -> str:
        # Graph Tasks: pooled over every horizon step (the T-GCN convention), on validation
        # (the end of the training part): the test part is for reporting, never for choosing.
        return "mae_ratio@1" if self.graph is None else "valid_rmse_pooled"

    @property
    def bench_options(self) -> tuple[str, ...]:
        return () if self.graph is None else ("seeds",)

    @property
    def frame_attrs(self) -> tuple[str, ...]:
        # An adapter's adjacency travels through the store; a fixed one lives in the Kind.
        if self.graph is None or self.graph.fixed is not None:
            return ()
        return (self.graph.attr, self.graph.sensors_attr)

    @property
    def _risk(self) -> bool:
        return self.risk and self.transform == "log_return"  # VaR needs returns
    # Live: the champion must beat the random walk on arriving values (ratio below 1).
    gate = Gate("mae_ratio", 1.0, min_outcomes=20, higher_is_better=False)

    def realised(self, task: TaskSpec, frame: pd.DataFrame,
                 ledger: pd.DataFrame) -> pd.DataFrame:
        """Forecasts whose target h stored steps after the origin arrived (baseline: the
        random walk's forecast from the same origin)."""
        return realised_forecasts(ledger, frame, series=self.series, time=self.time,
                                  target=self.target, log_return=self.transform == "log_return")

    def live_metrics(self, realised: pd.DataFrame) -> dict[str, float]:
        return forecast_metrics(realised)

    def default_models(self) -> Mapping[str, Callable[..., Any]]:
        h, f = self.horizon, self.freq
        if self.graph is not None:
            from core.forecast.graph_bench import CANDIDATES

            return {name: _factory(CANDIDATES[name], horizon=h) for name in SLICE_MODELS}
        return {
            "random_walk": _factory("random_walk", horizon=h),
            "drift": _factory("drift", horizon=h),
            "arima": _factory("arima", horizon=h),
            "lightgbm": _factory("lightgbm_quantile", horizon=h),
            "tft": _factory("pytorch_forecasting", architecture="tft", horizon=h, freq=f),
            "nhits": _factory("pytorch_forecasting", architecture="nhits", horizon=h, freq=f),
            "deepar": _factory("pytorch_forecasting", architecture="deepar", horizon=h, freq=f),
        }

    # --- the declared contract (core.kinds.base.Kind) -------------------------------------------

    @property
    def entity(self) -> str:
        return self.series

    @property
    def step_column(self) -> str | None:
        return self.time

    @property
    def label_columns(self) -> tuple[str, ...]:
        return (self.target,)

    @property
    def batching(self) -> Batching:
        # A forecast needs each series' whole history; a graph model needs every node at once.
        return Batching.SERIES if self.graph is None else Batching.SLICES

    @property
    def display_metrics(self) -> tuple[str, ...]:
        if self.graph is not None:
            return ("rmse_pooled", "mae_pooled", "mape_pooled", "accuracy_pooled", "rmse@1",
                    "coverage80_pooled", "valid_rmse_pooled")
        return ("mae_ratio@1", "dm_p@1", "coverage80@1", "mae@1", "mae_ratio@" + str(self.horizon))

    def benchmarks(self) -> Mapping[str, Benchmark]:
        if self.graph is not None:
            return {}  # predict_speed times the TFT, a panel candidate
        return {"predict_speed": Benchmark(
            "predict_speed", "one TFT trained on the dataset; pytorch-forecasting's predict "
            "against the batched fast path on the last origins (speedup, largest difference)",
            dataset=True, run=self._predict_speed)}

    def _predict_speed(self, task: TaskSpec, frame: pd.DataFrame, *, profile: str,
                       seed: int) -> dict[str, Any]:
        from core.forecast.speed import predict_speed

        if "tft" not in task.candidates():
            raise ValueError(f"predict_speed times the TFT, and {task.name} has no 'tft' "
                             "candidate")
        return predict_speed(self.panel(self.with_features(task, frame)), task, profile=profile,
                             seed=seed)

    def key_columns(self) -> tuple[str, ...]:
        return (self.series, self.time)

    def with_features(self, task: TaskSpec, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with the Task's features when its covariates are not there yet (pipelines
        hand `train`/`bench` raw rows, check_task hands featured ones)."""
        if all(c in frame.columns for c in self.covariates):
            return frame
        return task.feature_frame(frame)

    def panel(self, frame: pd.DataFrame) -> Panel:
        return build_panel(frame, series=self.series, time=self.time, target=self.target,
                           transform=self.transform, covariates=self.covariates)

    def scoring_columns(self, task: TaskSpec) -> list[str]:
        """Columns `score` must read: the whole schema, target included (it is the history)."""
        return list(task.schema.columns)

    def scoring_groups(self, keys: Sequence[Any], chunk_size: int) -> list[list[Any]]:
        """Sorted groups: of series keys (SERIES) or of time slices (SLICES, with a graph)."""
        return sorted_groups(keys, chunk_size)

    # --- train / bench ------------------------------------------------------------------------

    def _factories(self, task: TaskSpec, profile: str, seed: int,
                   models: tuple[str, ...] | None) -> dict[str, Callable[[], Any]]:
        names = list(task.candidates()) if models is None else list(models)

        def make(name: str) -> Callable[[], Any]:
            return lambda: task.build_model(name, profile, seed=seed)

        return {name: make(name) for name in names}

    def _evaluate(self, panel: Panel, result: backtest.Backtest, scale: dict[str, float]
                  ) -> dict[str, dict[str, float]]:
        """backtest.evaluate with this Kind's offset (levels or returns); `scale` is
        backtest.naive_scale before the first window."""
        offset = (np.zeros(len(result.rows)) if self.transform == "log_return"
                  else panel.level[result.rows])
        return backtest.evaluate(panel, result, self.horizon, offset=offset, scale=scale,
                                 risk=self._risk)

    def _trace(self, panel: Panel, result: backtest.Backtest, name: str) -> dict[str, list[Any]]:
        """One-step backtest rows for the dashboard: error over time and VaR exceedances."""
        from core.forecast.risk import value_at_risk

        q = result.forecasts[name][:, 0]
        actual = panel.future_change(result.rows, 1)
        ok = np.isfinite(actual) & np.isfinite(q).all(axis=1)
        rows = result.rows[ok]
        trace: dict[str, list[Any]] = {
            "series": panel.series[rows].astype(str).tolist(),
            "origin": [str(t)[:10] for t in panel.time[rows]],
            "actual": np.round(actual[ok], 6).tolist(),
            "point": np.round(q[ok, MEDIAN], 6).tolist(),
        }
        if self._risk:
            trace["var99"] = np.round(value_at_risk(q[ok], QUANTILES, 0.01), 6).tolist()
        return trace

    def train(
        self, task: TaskSpec, frame: pd.DataFrame, *, profile: str, seed: int,
        models: tuple[str, ...] | None = None,
    ) -> list[Candidate]:
        """Walk-forward over the last origins (TRAIN_BACKTEST per profile); each candidate's
        predictor is the model of the last refit, its metrics the backtest's. A graph Task
        fits once on the chronological split (slice_forecasting.train)."""
        if self.graph is not None:
            return slice_forecasting.train(self, task, self.with_features(task, frame),
                                           profile=profile, seed=seed, models=models)
        panel = self.panel(self.with_features(task, frame))
        test_size, refit = self.train_backtest or TRAIN_BACKTEST[profile]
        test_size = min(test_size, max(len(np.unique(panel.time)) // 4, 1))
        windows = backtest.walk_forward(panel.time, test_size=test_size, refit_every=refit)
        result = backtest.run(panel, self._factories(task, profile, seed, models), windows,
                              self.horizon)
        scale = backtest.naive_scale(panel, windows[0].first)
        metrics = self._evaluate(panel, result, scale)
        intervals = backtest.metric_intervals(panel, result, self.horizon, scale)
        reference = reference_profile(panel.frame, list(self.covariates)) if self.covariates else {}
        candidates = []
        for name, model in result.fitted.items():
            predictor = ForecastPredictor(model, self.series, self.time, self.target,
                                          self.transform, self.covariates)
            params = {"model": json_params(model.get_params()), "windows": len(windows),
                      "origins": int(len(np.unique(panel.time[result.rows]))),
                      "backtest": self._trace(panel, result, name)}
            candidates.append(Candidate(name=name, predictor=predictor, metrics=metrics[name],
                                        params=params, train_rows=result.train_rows[name],
                                        reference=reference, intervals=intervals[name]))
        return candidates

    def bench(
        self, task: TaskSpec, frame: pd.DataFrame, *, dataset: str, profile: str, seed: int,
        **options: Any,
    ) -> dict[str, Any]:
        """Walk-forward over `bench_window` (else the last quarter of the data), refit every
        `bench_refit` origins on everything before; best = lowest mae_ratio@1. A graph Task
        runs the chronological protocol over `seeds` seeds (slice_forecasting.bench)."""
        if self.graph is not None:
            return slice_forecasting.bench(self, task, self.with_features(task, frame),
                                           dataset=dataset, profile=profile, seed=seed,
                                           **options)
        frame = self.with_features(task, frame)
        panel = self.panel(frame)
        times = np.unique(panel.time)
        start, end = self.bench_window or (None, None)
        if start is None or not (times[0] < np.datetime64(pd.Timestamp(start)) <= times[-1]):
            start, end = pd.Timestamp(times[len(times) * 3 // 4]), None
        windows = backtest.walk_forward(panel.time, start=start, end=end,
                                        refit_every=self.bench_refit)
        result = backtest.run(panel, self._factories(task, profile, seed, None), windows,
                              self.horizon)
        metrics = self._evaluate(panel, result, backtest.naive_scale(panel, windows[0].first))
        ranked = sorted(metrics, key=lambda n: metrics[n].get(self.primary_metric, np.inf))
        best = ranked[0]
        protocol = (
            f"walk-forward rolling origin, every {self.freq} step from {windows[0].first.date()} "
            f"to {windows[-1].last.date()} ({len(windows)} refits, every {self.bench_refit} "
            "origins, "
            f"expanding window, fit on rows up to each refit origin); horizons 1-{self.horizon}; "
            "metrics on origins every model forecast; mae_ratio vs the random walk, dm_p its "
            "Diebold-Mariano p-value (absolute error, daily means, HLN correction); VaR/Kupiec "
            "on non-overlapping h-step windows")
        beats = [n for n in ranked if metrics[n].get(self.primary_metric, np.inf) < 1.0]
        # A ratio under 1 can be luck: only a Diebold-Mariano p < 0.05 says the edge is real.
        significant = [n for n in beats if metrics[n].get("dm_p@1", 1.0) < 0.05]
        return {"task": task.name, "dataset": dataset, "protocol": protocol, "models": metrics,
                "best": {"model": best, **metrics[best]},
                "beats_random_walk": beats, "beats_random_walk_significantly": significant}

    def load_predictor(self, directory: Path, config: Mapping[str, Any],
                       formats: Formats) -> ForecastPredictor | slice_forecasting.SlicePredictor:
        require_format(directory, config, FORMAT_PREFIX, "a forecasting predictor")
        if self.graph is not None:
            return slice_forecasting.SlicePredictor.load(Path(directory), formats)
        return ForecastPredictor.load(Path(directory), formats)


@dataclass
class ForecastPredictor:
    """A fitted forecaster that turns series histories into ledger rows at each latest origin."""

    model: Any
    series: str
    time: str
    target: str
    transform: str
    covariates: tuple[str, ...] = ()

    @property
    def format(self) -> str:
        return FORMAT_PREFIX + self.model.format

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Quantile forecasts for horizons 1..H from each series' latest row with a target."""
        panel = build_panel(frame, series=self.series, time=self.time, target=self.target,
                            transform=self.transform, covariates=self.covariates)
        return ledger_rows(panel, panel.last_rows(), self.model.forecast(panel, panel.last_rows()),
                           self.transform)

    def save(self, directory: Path) -> None:
        save_predictor(directory, PREDICTOR_FILE, self.model, {
            "format": self.format, "series": self.series, "time": self.time,
            "target": self.target, "transform": self.transform,
            "covariates": list(self.covariates)})

    @classmethod
    def load(cls, directory: Path, formats: Formats) -> ForecastPredictor:
        state, model = load_predictor_files(directory, PREDICTOR_FILE, "forecaster", formats)
        return cls(model, state["series"], state["time"], state["target"], state["transform"],
                   tuple(state["covariates"]))


def ledger_rows(panel: Panel, rows: np.ndarray, q: np.ndarray, transform: str) -> pd.DataFrame:
    """One ledger row per (origin, horizon): score = median, lower/upper = the 80% interval,
    payload = every quantile (+ the implied price path for returns). Origins whose forecast
    is missing (too little history for the model) are left out."""
    ok = np.isfinite(q).all(axis=(1, 2))
    rows, q = np.asarray(rows)[ok], q[ok]
    n, horizon, _ = q.shape
    offset = np.zeros(n) if transform == "log_return" else panel.level[rows]
    values = q + offset[:, None, None]
    payloads = []
    for i in range(n):
        for h in range(horizon):
            item: dict[str, Any] = {"quantiles": {str(t): float(v) for t, v in
                                                  zip(QUANTILES, values[i, h], strict=True)}}
            if transform == "log_return":
                last = float(np.exp(panel.level[rows[i]]))
                item |= {"last_price": last, "price": last * float(np.exp(values[i, h, MEDIAN])),
                         "price_quantiles": {str(t): last * float(np.exp(v)) for t, v in
                                             zip(QUANTILES, values[i, h], strict=True)}}
            payloads.append(json.dumps(item))
    lo, hi = QUANTILES.index(0.1), QUANTILES.index(0.9)
    return ledger_frame(
        n * horizon, np.repeat(panel.series[rows].astype(str), horizon),
        values[:, :, MEDIAN].ravel(), as_of=np.repeat(panel.time[rows], horizon),
        horizon=np.tile(np.arange(1, horizon + 1), n).astype(np.int64),
        lower=values[:, :, lo].ravel(), upper=values[:, :, hi].ravel(),
        payload=np.asarray(payloads, dtype=object))
