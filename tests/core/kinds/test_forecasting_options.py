"""The Forecasting Kind's options: defaults keep the stock Task's behaviour; a graph Task's
scaling, calendar inputs and adjacency are stored with its predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.kinds.base import Batching
from core.kinds.forecasting import BENCH_REFIT, Forecasting
from core.kinds.slice_forecasting import Graph, to_matrix
from core.task import Task
from verticals.finance.stock_forecasting import TASK as STOCK
from verticals.traffic.flow_prediction import TASK as TRAFFIC
from verticals.traffic.flow_prediction import sample
from verticals.traffic.network import road_network


def test_stock_defaults_are_the_finance_behaviour() -> None:
    kind = STOCK.kind
    assert (kind.scaling, kind.risk, kind.calendar, kind.train_backtest, kind.bench_refit) == (
        "volatility", True, False, None, BENCH_REFIT)
    assert kind.primary_metric == "mae_ratio@1" and kind.bench_options == ()
    assert kind.batching is Batching.SERIES and "predict_speed" in kind.benchmarks()
    assert "tft" in kind.default_models()


def test_options_that_do_not_fit_the_path_are_refused() -> None:
    with pytest.raises(ValueError, match="scaling 'per_series' does not apply to a panel"):
        Forecasting(series="s", time="t", target="y", scaling="per_series")
    with pytest.raises(ValueError, match="scaling 'volatility' does not apply to a graph"):
        Forecasting(series="s", time="t", target="y", graph=Graph(), scaling="volatility")
    with pytest.raises(ValueError, match="calendar inputs feed the slice forecasters"):
        Forecasting(series="s", time="t", target="y", calendar=True)


def _returns_task(kind: Forecasting) -> Task:
    return Task(name="test.returns", title="R", description="d", kind=kind, schema=None,
                sample=lambda n, seed: STOCK.sample(n, seed))


def test_risk_off_drops_var_and_train_backtest_sets_the_origins() -> None:
    frame = STOCK.feature_frame(STOCK.sample(400, 0))
    on = Forecasting(series="ticker", time="date", target="adj_close", horizon=2,
                     transform="log_return", covariates=("volume_z",), train_backtest=(6, 3))
    off = Forecasting(series="ticker", time="date", target="adj_close", horizon=2,
                      transform="log_return", covariates=("volume_z",), risk=False,
                      train_backtest=(6, 3))
    (a,) = on.train(_returns_task(on), frame, profile="smoke", seed=0, models=("random_walk",))
    (b,) = off.train(_returns_task(off), frame, profile="smoke", seed=0,
                     models=("random_walk",))
    assert "var99@1" in a.metrics and "var99@1" not in b.metrics
    assert "var99" in a.params["backtest"] and "var99" not in b.params["backtest"]
    assert a.params["origins"] == 6 and a.params["windows"] == 2
    assert a.metrics["mae@1"] == b.metrics["mae@1"]


def test_graph_kind_scores_slices_and_names_slice_candidates() -> None:
    kind = TRAFFIC.kind
    assert kind.batching is Batching.SLICES and kind.bench_options == ("seeds",)
    assert kind.primary_metric == "valid_rmse_pooled" and kind.benchmarks() == {}
    assert set(kind.default_models()) == {"historical_average", "window_mean", "last_value",
                                          "lightgbm", "gru", "graph_gru"}


def test_a_fixed_adjacency_is_taken_in_sorted_sensor_order() -> None:
    kind = Forecasting(series="sensor", time="time", target="speed", graph=[[0, 1], [0, 0]])
    frame = pd.DataFrame({"sensor": ["b", "a", "b", "a"], "speed": [1.0, 2, 3, 4],
                          "time": pd.to_datetime(["2024-01-01 00:00"] * 2 + ["2024-01-01 00:15"]
                                                 * 2)})
    m = to_matrix(frame, series="sensor", time="time", target="speed", graph=kind.graph)
    assert m.sensors == ("a", "b") and m.adjacency.tolist() == [[0, 1], [0, 0]]
    assert m.values.tolist() == [[2, 1], [4, 3]]
    assert kind.scaling == "global"


@pytest.mark.parametrize("scaling", ["per_series", "none"])
def test_scaling_and_adjacency_travel_with_the_predictor(scaling: str, tmp_path: Path) -> None:
    kind = Forecasting(series="sensor", time="time", target="speed", horizon=4, freq="15min",
                       graph=Graph(), scaling=scaling, risk=False, calendar=True)
    task = Task(name="test.graph", title="G", description="d", kind=kind, schema=None,
                sample=sample, profiles={"smoke": {"graph_gru": {"hidden": 4, "max_epochs": 1}}})
    frame = sample(4 * 96 * 2, 0)  # 8 sensors, one day
    (candidate,) = kind.train(task, frame, profile="smoke", seed=0, models=("graph_gru",))
    predictor = candidate.predictor
    speeds = frame.pivot(index="time", columns="sensor", values="speed")
    if scaling == "none":
        assert (predictor.scale == 1).all()
    else:
        assert len(set(predictor.scale.round(6))) > 1  # one scale per sensor
        assert (predictor.scale <= speeds.max().to_numpy() + 1e-9).all()
    assert predictor.adjacency.tolist() == frame.attrs["adjacency"]
    predictor.save(tmp_path)
    loaded = kind.load_predictor(tmp_path, {"format": predictor.format}, task.model_formats())
    assert loaded.model.adjacency_.tolist() == frame.attrs["adjacency"]
    np.testing.assert_allclose(loaded.predict(frame)["score"], predictor.predict(frame)["score"],
                               rtol=1e-6)


def test_the_horizon_is_a_span_of_time_so_5_minute_data_forecasts_the_same_hour() -> None:
    # TRAFFIC says 4 steps of 15 minutes: on 5-minute data that is 12 steps, with an hour of
    # history, and the T-GCN horizons 3/6/9/12 reported.
    wide, adjacency = road_network(n_sensors=3, days=2, freq="5min", seed=0)
    times = pd.to_datetime(wide.pop("date"))
    frame = wide.assign(time=times).melt(id_vars="time", var_name="sensor", value_name="speed")
    frame.attrs.update(adjacency=adjacency.tolist(), sensors=list(wide.columns))
    (candidate,) = TRAFFIC.kind.train(TRAFFIC, frame, profile="smoke", seed=0,
                                      models=("last_value",))
    assert candidate.params["history"] == 12 and candidate.params["horizons"] == [3, 6, 9, 12]
    ledger = candidate.predictor.predict(frame)
    assert sorted(ledger["horizon"].unique()) == list(range(1, 13))
    assert ledger["entity_key"].nunique() == 3
