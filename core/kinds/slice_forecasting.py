"""The Forecasting Kind on a graph of sensors: whole time slices in, every sensor 1..H steps out.

Long rows (sensor, time, value) become a regular time x sensor matrix; sensor-health flags
(missing, stuck, implausible zero) are masked out of every metric, imputed with the usual
value at that time of day for inputs, and counted in the run. The protocol is chronological
(core.forecast.graph_bench): validation from the end of the training part, test the last 20%.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.forecast import graph_bench as gb
from core.forecast.health import flag
from core.forecast.horizon_metrics import horizon_metrics
from core.intervals import Interval, block_length, error_intervals
from core.kinds.base import Candidate, TaskSpec, ledger_frame
from core.kinds.predictor_files import load_predictor_files, save_predictor
from core.models.protocol import json_params

if TYPE_CHECKING:
    from core.models.formats import Formats

PREDICTOR_FILE = "slice_predictor.json"
FORMAT_PREFIX = "forecasting."
INTERVAL = (0.1, 0.9)  # the ledger's lower/upper: the 80% interval of held-out errors


@dataclass(frozen=True)
class Graph:
    """Where a graph Task's adjacency comes from: the adapter puts it in `frame.attrs[attr]`
    (rows ordered as `frame.attrs[sensors_attr]`). Rows read back from the store carry none:
    the graph nets then learn the links through their adaptive adjacency alone, unless the
    Task fixes one (`fixed`, rows and columns in sorted sensor order)."""

    attr: str = "adjacency"
    sensors_attr: str = "sensors"
    fixed: tuple[tuple[float, ...], ...] | None = None


@dataclass(frozen=True)
class Matrix:
    """A regular time x sensor matrix (NaN where no reading) and its adjacency."""

    values: np.ndarray
    times: pd.DatetimeIndex
    sensors: tuple[str, ...]
    adjacency: np.ndarray


def to_matrix(frame: pd.DataFrame, *, series: str, time: str, target: str, graph: Graph,
              sensors: tuple[str, ...] | None = None, step: pd.Timedelta | None = None
              ) -> Matrix:
    """Pivot long rows onto every step from the first time to the last (a missing step is a
    row of NaN, flagged missing); `sensors` and `step` fix the columns and the grid (a
    trained predictor's), else they come from the rows."""
    times = pd.to_datetime(frame[time])
    unique = np.unique(times.to_numpy(dtype="datetime64[ns]"))
    if step is None:
        if len(unique) < 2:
            raise ValueError(f"need at least 2 distinct {time!r} values to infer the step")
        step = pd.Timedelta(np.diff(unique).min())
    grid = pd.date_range(unique[0], unique[-1], freq=step)
    wide = frame.assign(**{time: times}).pivot_table(index=time, columns=series, values=target,
                                                     aggfunc="last", dropna=False)
    wide.columns = wide.columns.astype(str)
    ids = sensors or tuple(sorted(wide.columns))
    wide = wide.reindex(index=grid, columns=list(ids))
    adjacency = np.zeros((len(ids), len(ids)))
    given = frame.attrs.get(graph.attr)
    order = [str(s) for s in frame.attrs.get(graph.sensors_attr, ids)]
    if given is None and graph.fixed is not None:
        given, order = graph.fixed, sorted(ids)
    if given is not None:
        a = np.asarray(given, dtype=float)
        where = {s: i for i, s in enumerate(order)}
        idx = [where.get(s, -1) for s in ids]
        if -1 not in idx and a.shape == (len(order), len(order)):
            adjacency = a[np.ix_(idx, idx)]
    return Matrix(wide.to_numpy(dtype=float), pd.DatetimeIndex(grid), ids, adjacency)


def _plan(kind: Any, times: pd.DatetimeIndex) -> tuple[pd.Timedelta, int, list[int]]:
    """The grid's step, the history (one hour of steps, gb.plan) and the horizons reported.
    How far ahead is the Kind's: `horizon` steps of its `freq`, as a span of time, so the
    same Task on 5-minute data forecasts the same hour in 12 steps (3/6/9/12 reported);
    every step up to 4, else 4 evenly spaced ones."""
    step = times[1] - times[0]  # the matrix is a regular grid
    history, _ = gb.plan(step)
    h = int(kind.horizon)
    offset = pd.tseries.frequencies.to_offset(kind.freq)
    if isinstance(offset, pd.offsets.Tick):  # a fixed span ('B' or 'MS' are not)
        h = max(1, round(pd.Timedelta(offset) * h / step))
    horizons = list(range(1, h + 1)) if h <= 4 else [h * i // 4 for i in range(1, 5)]
    return step, history, horizons


def _models(task: TaskSpec, profile: str, seed: int, names: list[str], horizon: int
            ) -> dict[str, Any]:
    return {n: task.build_model(n, profile, seed=seed).set_params(horizon=horizon)
            for n in names}


def train(kind: Any, task: TaskSpec, frame: pd.DataFrame, *, profile: str, seed: int,
          models: tuple[str, ...] | None) -> list[Candidate]:
    """Fit each candidate once (early stopping on validation); metrics on the test part and
    `valid_rmse_pooled`, the primary metric the champion is chosen by, on validation."""
    m = to_matrix(frame, series=kind.series, time=kind.time, target=kind.target,
                  graph=kind.graph)
    step, history, horizons = _plan(kind, m.times)
    horizon = max(horizons)
    t = len(m.times)
    if t < 5 * (history + horizon):
        raise ValueError(f"{t} time steps of {step}: a graph Task needs at least "
                         f"{5 * (history + horizon)} (history {history}, horizon {horizon})")
    health = flag(m.values, stuck_steps=gb.stuck_steps(step))
    data = gb.prepare(m.values, m.times, health, int(t * (1 - gb.TEST_SHARE)), history, horizon,
                      m.adjacency, scaling=kind.scaling, calendar_inputs=kind.calendar)
    train_rows, valid, test = gb.split(data.windows.origin, t, horizon)
    if not (len(train_rows) and len(valid) and len(test)):
        need = int(np.ceil((horizon + 1) / gb.VALID_SHARE)) + 5 * history
        raise ValueError(f"{t} time steps of {step}: the validation part (the {gb.VALID_SHARE:.0%}"
                         f" before the test's last {gb.TEST_SHARE:.0%}) holds no full horizon of "
                         f"{horizon} steps; give at least {need} steps")
    w = data.windows
    names = list(task.candidates()) if models is None else list(models)
    candidates = []
    for name, model in _models(task, profile, seed, names, horizon).items():
        model.fit(data, train_rows, valid)
        p, p_valid = model.predict(data, test), model.predict(data, valid)
        metrics = horizon_metrics(w.y[test], p, w.ok[test], horizons)
        for k in ("rmse", "mae", "mape", "accuracy", "r2"):
            metrics[f"{k}_pooled"] = metrics[f"{k}_pooled@{horizon}"]
        # The champion is chosen on validation (the end of the training part), never on the
        # test part whose figures the page reports.
        metrics["valid_rmse_pooled"] = horizon_metrics(
            w.y[valid], p_valid, w.ok[valid], [horizon])[f"rmse_pooled@{horizon}"]
        metrics["flagged_share"] = round(float(1 - health.ok.mean()), 5)
        # The 80% band per horizon from validation errors; its coverage is measured on test.
        err = np.where(w.ok[valid], w.y[valid] - p_valid, np.nan)
        bands = np.nan_to_num(np.nanquantile(err, INTERVAL, axis=(0, 2)).T)  # (H, 2)
        inside = (w.y[test] >= p + bands[None, :, :1]) & (w.y[test] <= p + bands[None, :, 1:])
        metrics["coverage80_pooled"] = float(inside[w.ok[test]].mean()) if w.ok[test].any() \
            else float("nan")
        predictor = SlicePredictor(
            model, kind.series, kind.time, kind.target, history, str(step), m.sensors,
            data.profile, data.scale, m.adjacency, bands, kind.calendar, kind.graph)
        params = {"model": json_params(model.get_params()), "history": history,
                  "horizons": horizons, "health": health.totals(),
                  "flagged_sensors": health.counts(m.sensors)}
        intervals = {**block_intervals(w.y[valid] - p_valid, w.ok[valid], horizon, "validation",
                                       {"rmse": "valid_rmse_pooled"}),
                     **block_intervals(w.y[test] - p, w.ok[test], horizon, "test",
                                       {"rmse": "rmse_pooled", "mae": "mae_pooled"})}
        candidates.append(Candidate(name=name, predictor=predictor,
                                    metrics={k: float(v) for k, v in metrics.items()},
                                    params=params, train_rows=int(len(train_rows) + len(valid)),
                                    intervals=intervals))
    return candidates


def block_intervals(error: np.ndarray, ok: np.ndarray, horizon: int, part: str,
                    names: dict[str, str]) -> dict[str, Interval]:
    """Intervals of pooled errors (windows, horizon, sensors; `ok` cells only) resampling
    blocks of `horizon` consecutive origins: windows closer than a horizon forecast the same
    steps, so single windows are not independent; shorter blocks in a short part
    (core.intervals.block_length; `over` names the length). `names` picks the metrics."""
    size = block_length(len(error), horizon)
    owners = np.broadcast_to((np.arange(len(error)) // size)[:, None, None], error.shape)
    over = f"{part} origins" if size == 1 else f"blocks of {size} {part} origins"
    found = error_intervals(error[ok], owners[ok], over=over)
    return {names[k]: v for k, v in found.items() if k in names}


def bench(kind: Any, task: TaskSpec, frame: pd.DataFrame, *, dataset: str, profile: str,
          seed: int, seeds: int = 3) -> dict[str, Any]:
    """core.forecast.graph_bench.run_bench with the Task's candidates; best = lowest pooled
    RMSE at the last horizon."""
    m = to_matrix(frame, series=kind.series, time=kind.time, target=kind.target,
                  graph=kind.graph)

    def make(name: str, s: int) -> Any:
        return task.build_model(name, profile, seed=seed + s)

    result = gb.run_bench(m.values, m.times, m.adjacency, m.sensors, seeds=seeds,
                          models=tuple(task.candidates()), make=make, scaling=kind.scaling,
                          calendar_inputs=kind.calendar)
    key = f"rmse_pooled@{max(result['horizons'])}"
    models = result["models"]
    best = min(models, key=lambda n: models[n].get(key, np.inf))
    return {"task": task.name, "dataset": dataset, **result, "best": {"model": best,
                                                                      **models[best]}}


@dataclass
class SlicePredictor:
    """A fitted slice forecaster with everything scoring needs: the sensors and step it was
    trained on, the usual speeds (imputation), the input scale, the adjacency, and the 80%
    band of its held-out errors per horizon (the ledger's lower/upper)."""

    model: Any
    series: str
    time: str
    target: str
    history: int
    step: str
    sensors: tuple[str, ...]
    profile: np.ndarray
    scale: np.ndarray
    adjacency: np.ndarray
    bands: np.ndarray  # (H, 2)
    calendar: bool
    graph: Graph

    @property
    def format(self) -> str:
        return FORMAT_PREFIX + self.model.format

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Every sensor 1..H steps from the frame's latest time; payload: the usual value at
        the target's time of day and the sensor's health flag at the origin."""
        step = pd.Timedelta(self.step)
        horizon = len(self.bands)
        times = pd.to_datetime(frame[self.time])
        # Stuck runs need a few hours of context; older rows change nothing.
        keep = times > times.max() - step * (self.history + 3 * gb.stuck_steps(step))
        if not len(frame) or (times.max() - times.min()) < step * (self.history - 1):
            return ledger_frame(0, [], [])  # less than an hour of history: nothing to forecast
        m = to_matrix(frame[keep.to_numpy()], series=self.series, time=self.time,
                      target=self.target, graph=self.graph, sensors=self.sensors, step=step)
        health = flag(m.values, stuck_steps=gb.stuck_steps(step))
        origin = np.array([len(m.times) - 1])
        w = gb.cut_windows(m.values, m.times, health.ok, self.profile, self.scale, self.history,
                           horizon, origin, calendar_inputs=self.calendar, step=step)
        data = gb.Prepared(w, self.profile, self.scale, self.adjacency)
        p = self.model.predict(data, np.array([0]))[0]  # (H, N)
        n = len(self.sensors)
        usual = self.profile[w.slot[0]]  # (H, N)
        flags = health.flags[-1]
        payload = [json.dumps({"usual": round(float(usual[h, j]), 3), "flag": int(flags[j])})
                   for j in range(n) for h in range(horizon)]
        score = p.T.ravel()  # sensor-major: (sensor, horizon)
        lower = (p + self.bands[:, :1]).T.ravel()
        upper = (p + self.bands[:, 1:]).T.ravel()
        return ledger_frame(
            n * horizon, np.repeat(np.asarray(self.sensors, dtype=object), horizon), score,
            as_of=np.full(n * horizon, m.times[-1].to_datetime64()),
            horizon=np.tile(np.arange(1, horizon + 1), n).astype(np.int64),
            lower=lower, upper=upper, payload=np.asarray(payload, dtype=object))

    def save(self, directory: Path) -> None:
        save_predictor(directory, PREDICTOR_FILE, self.model, {
            "format": self.format, "series": self.series, "time": self.time,
            "target": self.target, "history": self.history, "step": self.step,
            "sensors": list(self.sensors), "profile": self.profile.tolist(),
            "scale": self.scale.tolist(), "adjacency": self.adjacency.tolist(),
            "bands": self.bands.tolist(), "calendar": self.calendar,
            "graph": {"attr": self.graph.attr, "sensors_attr": self.graph.sensors_attr}})
        # the fixed adjacency, if any, is already the stored `adjacency`

    @classmethod
    def load(cls, directory: Path, formats: Formats) -> SlicePredictor:
        s, model = load_predictor_files(directory, PREDICTOR_FILE, "slice forecaster", formats)
        return cls(model, s["series"], s["time"], s["target"], int(s["history"]), s["step"],
                   tuple(s["sensors"]), np.asarray(s["profile"], dtype=float),
                   np.asarray(s["scale"], dtype=float), np.asarray(s["adjacency"], dtype=float),
                   np.asarray(s["bands"], dtype=float), bool(s["calendar"]), Graph(**s["graph"]))
