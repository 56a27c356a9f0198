"""Walk-forward windows never train on what they test; perturbing the future changes no past
forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.forecast import backtest
from core.models.deep_forecasters import DeepForecaster
from core.models.forecasters import AutoRegressive, Drift, LightGBMQuantile, RandomWalk
from verticals.finance.stock_forecasting import TASK, features

CUT = pd.Timestamp("2015-06-15")


def prices(seed: int = 0) -> pd.DataFrame:
    return features(TASK.sample(400, seed))  # 4 tickers x 100 business days from 2015-01-02


def make_panel(frame: pd.DataFrame):
    return TASK.kind.panel(frame)


def test_windows_are_ordered_and_cover_the_origins() -> None:
    times = pd.bdate_range("2020-01-01", periods=100)
    windows = backtest.walk_forward(times, start=times[40], end=times[99], refit_every=25)
    assert [(w.first, w.last) for w in windows] == [
        (times[40], times[64]), (times[65], times[89]), (times[90], times[99])]
    # consecutive pairs: windows[1:] is one shorter by design
    for earlier, later in zip(windows, windows[1:], strict=False):
        assert earlier.last < later.train_until == later.first
    with pytest.raises(ValueError, match="history before"):
        backtest.walk_forward(times, start=times[0], refit_every=10)


def test_training_never_overlaps_the_test_window() -> None:
    """Each refit sees rows up to train_until only, so its training targets end before any
    target it is tested on (origin + h > train_until)."""
    panel = make_panel(prices())
    windows = backtest.walk_forward(panel.time, test_size=30, refit_every=10)
    seen = []

    class Spy(RandomWalk):
        def fit(self, past):  # noqa: ANN001 - the panel the backtest hands over
            seen.append(past.time.max())
            return super().fit(past)

    result = backtest.run(panel, {"spy": Spy}, windows, horizon=5)
    assert seen == [np.datetime64(w.train_until) for w in windows]
    origin_times = panel.time[result.rows]
    for window in windows:
        tested = origin_times[(origin_times >= np.datetime64(window.first))
                              & (origin_times <= np.datetime64(window.last))]
        assert tested.min() >= np.datetime64(window.train_until)
    assert len(result.rows) == 30 * 4


@pytest.mark.parametrize("make", [
    lambda: RandomWalk(), lambda: Drift(window=20), lambda: AutoRegressive(max_p=2),
    lambda: LightGBMQuantile(n_estimators=5, min_child_samples=5),
    lambda: DeepForecaster(architecture="nhits", encoder_length=10, hidden_size=4, max_epochs=1,
                           limit_train_batches=2, batch_size=32),
], ids=["random_walk", "drift", "arima", "lightgbm", "nhits"])
def test_perturbing_the_future_changes_no_past_forecast(make) -> None:  # noqa: ANN001
    frame = prices()
    future = frame["date"] > CUT
    shocked = frame.copy()
    rng = np.random.default_rng(1)
    shocked.loc[future, "adj_close"] *= np.exp(rng.normal(0, 0.2, future.sum()))
    shocked.loc[future, "volume"] *= 10
    forecasts = []
    for data in (frame, shocked):
        panel = make_panel(features(data))
        windows = backtest.walk_forward(panel.time, start=pd.Timestamp("2015-04-01"),
                                        end=CUT, refit_every=20)
        result = backtest.run(panel, {"m": make}, windows, horizon=5)
        forecasts.append(result.forecasts["m"])
    assert np.isfinite(forecasts[0]).any()
    np.testing.assert_array_equal(forecasts[0], forecasts[1])


def test_metrics_of_the_random_walk_are_the_reference() -> None:
    panel = make_panel(prices())
    windows = backtest.walk_forward(panel.time, test_size=30, refit_every=15)
    result = backtest.run(panel, {"random_walk": RandomWalk, "drift": Drift}, windows, 5)
    first = windows[0].first
    out = backtest.evaluate(panel, result, 5, offset=np.zeros(len(result.rows)),
                            scale=backtest.naive_scale(panel, first), risk=True)
    assert out["random_walk"]["mae_ratio@1"] == pytest.approx(1.0)
    # 30 origins x 4 tickers; the last h origins of each ticker have no h-day target yet
    assert out["random_walk"]["origins@1"] == 120 - 4 * 1
    assert out["random_walk"]["origins@5"] == 120 - 4 * 5
    assert 0 <= out["drift"]["coverage80@1"] <= 1 and "kupiec_p99@5" in out["drift"]
