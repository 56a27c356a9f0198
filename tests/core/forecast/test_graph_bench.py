"""Graph forecasting protocol: plan from freq, health flags, split, metrics, a tiny bench."""

import numpy as np
import pandas as pd

from core.forecast.graph_bench import plan, run_bench, split
from core.forecast.health import MISSING, STUCK, ZERO, flag
from core.forecast.horizon_metrics import horizon_metrics
from verticals.traffic.network import road_network


def test_plan_derives_history_and_horizons_from_freq():
    assert plan(pd.Timedelta("15min")) == (4, [1, 2, 3, 4])
    assert plan(pd.Timedelta("5min")) == (12, [3, 6, 9, 12])


def test_health_flags_missing_stuck_and_zero():
    speed = np.array([[1.0, 5, 0], [2, 5, 3], [np.nan, 5, 4], [3, 5, 0]])
    f = flag(speed, stuck_steps=4).flags
    assert f[2, 0] == MISSING and f[0, 2] == ZERO and f[3, 2] == ZERO
    assert (f[:, 1] == STUCK).all() and f[1, 0] == 0
    assert flag(speed, stuck_steps=5).flags[:, 1].tolist() == [0, 0, 0, 0]


def test_split_is_chronological_without_overlap():
    origins = np.arange(3, 100 - 4)
    train, valid, test = split(origins, 100, 4)
    assert origins[train].max() + 4 < origins[valid].min()
    assert origins[valid].max() + 4 < 80 <= origins[test].min() + 1


def test_metrics_mask_flagged_cells_and_pool():
    y = np.array([[[10.0, 20.0], [10.0, 20.0]]])
    p = np.array([[[11.0, 99.0], [13.0, 20.0]]])
    ok = np.array([[[True, False], [True, True]]])
    m = horizon_metrics(y, p, ok, [1, 2])
    assert m["mae@1"] == 1.0  # the flagged 99 is not counted
    assert m["mae@2"] == 1.5 and m["mae_pooled@2"] == round(4 / 3, 5)
    assert m["rmse_pooled@2"] == round(np.sqrt(10 / 3), 5)
    assert m["mape@1"] == 0.1


def test_tiny_bench_runs_on_5_minute_data_with_every_candidate():
    frame, adjacency = road_network(n_sensors=5, days=3, freq="5min", seed=0)
    times = pd.DatetimeIndex(pd.to_datetime(frame.pop("date")))
    result = run_bench(frame.to_numpy(float), times, adjacency, tuple(frame.columns),
                       seeds=1, epochs=1)
    assert result["history"] == 12 and result["horizons"] == [3, 6, 9, 12]
    assert set(result["models"]) == {"historical_average", "window_mean", "last_value",
                                     "lightgbm", "gru", "graph_gru"}
    assert result["health"]["zero"] == 24 and result["health"]["stuck"] >= 36
    for metrics in result["models"].values():
        assert np.isfinite(metrics["rmse_pooled@12"]) and metrics["rmse@3"] > 0
