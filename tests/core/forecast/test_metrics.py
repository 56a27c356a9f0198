"""Every forecast metric on a hand-computed example."""

from __future__ import annotations

import numpy as np
import pytest

from core.forecast import metrics

Y = np.array([1.0, -2.0, 3.0])
YHAT = np.array([0.5, -1.0, 1.0])  # errors 0.5, 1, 2


def test_point_metrics_by_hand() -> None:
    assert metrics.mae(Y, YHAT) == pytest.approx(3.5 / 3)
    assert metrics.rmse(Y, YHAT) == pytest.approx(np.sqrt((0.25 + 1 + 4) / 3))
    # 2|e|/(|y|+|yhat|): 1/1.5, 2/3, 4/4
    assert metrics.smape(Y, YHAT) == pytest.approx(100 * (2 / 3 + 2 / 3 + 1) / 3)
    assert metrics.mase(Y, YHAT, np.array([0.5, 0.5, 1.0])) == pytest.approx((1 + 2 + 2) / 3)
    # random walk on returns forecasts 0: its MAE is mean|y| = 2
    assert metrics.mae_ratio(Y, YHAT, np.zeros(3)) == pytest.approx((3.5 / 3) / 2)


def test_smape_counts_zero_over_zero_as_perfect() -> None:
    assert metrics.smape(np.array([0.0, 1.0]), np.array([0.0, 1.0])) == 0.0


def test_direction_and_base_rate() -> None:
    assert metrics.direction_accuracy(Y, YHAT) == 1.0
    assert metrics.direction_accuracy(Y, -YHAT) == 0.0
    assert metrics.direction_accuracy(Y, np.zeros(3)) == pytest.approx(2 / 3)  # 0 calls "up"
    assert metrics.direction_base_rate(Y) == pytest.approx(2 / 3)
    assert metrics.direction_base_rate(-Y) == pytest.approx(2 / 3)


def test_quantile_loss_and_coverage() -> None:
    q = np.array([[0.0, 1.0, 3.0]])
    # y=1: 0.1*(1-0) + 0 + (0.9-1)*(1-3) = 0.1 + 0.2, averaged over 3 levels
    assert metrics.quantile_loss(np.array([1.0]), q, (0.1, 0.5, 0.9)) == pytest.approx(0.1)
    assert metrics.coverage(Y, YHAT - 0.6, YHAT + 0.6) == pytest.approx(1 / 3)


def test_horizon_metrics_keys_carry_the_horizon() -> None:
    q = np.tile(YHAT[:, None], (1, len(metrics.QUANTILES)))
    q += np.linspace(-1, 1, len(metrics.QUANTILES))[None, :]
    values = metrics.horizon_metrics(Y, q, np.zeros(3), np.ones(3), 2)
    assert values["mae@2"] == pytest.approx(3.5 / 3)
    assert values["mae_ratio@2"] == pytest.approx(7 / 12)
    assert set(values) >= {"coverage80@2", "coverage95@2", "direction_acc@2", "direction_base@2",
                           "quantile_loss@2", "smape@2", "mase@2", "rmse@2"}


def test_diebold_mariano_by_hand() -> None:
    from scipy import stats

    times = np.repeat(np.arange(6), 2)  # two series per day: averaged into one loss per day
    y = np.array([1.0, -1, 2, 0, -1, 1, 0.5, 0.5, 1, -2, 0, 3])
    yhat = y + np.array([0.5, -0.5, 0.2, 0.1, -1.0, 0.0, 0.3, 0.3, -0.2, 0.4, 0.6, -0.1])
    naive = np.zeros(12)
    d = (np.abs(y - yhat) - np.abs(y)).reshape(6, 2).mean(axis=1)
    n = 6
    variance = np.mean((d - d.mean()) ** 2) / n  # h = 1: no lags
    statistic = np.sqrt((n - 1) / n) * d.mean() / np.sqrt(variance)  # HLN factor at h = 1
    expected = 2 * stats.t.sf(abs(statistic), df=n - 1)
    assert metrics.diebold_mariano(y, yhat, naive, times, 1) == pytest.approx(expected)
    assert metrics.diebold_mariano(y, naive, naive, times, 1) == 1.0  # never differ


def test_diebold_mariano_tells_a_real_edge_from_noise() -> None:
    rng = np.random.default_rng(0)
    times = np.arange(500)
    y = rng.normal(0, 1, 500)
    good = y + rng.normal(0, 0.3, 500)  # knows most of the move
    noise = rng.normal(0, 0.01, 500)  # about the random walk's zero
    assert metrics.diebold_mariano(y, good, np.zeros(500), times, 1) < 1e-6
    assert metrics.diebold_mariano(y, noise, np.zeros(500), times, 1) > 0.05
