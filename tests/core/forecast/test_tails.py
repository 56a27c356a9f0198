"""Empirical tails: the body's width stretched by the data's own tail ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.forecast.metrics import MEDIAN, QUANTILES
from core.forecast.panel import build_panel
from core.forecast.tails import LOWER, UPPER, standardized_quantiles, with_empirical_tails
from core.models.deep_forecasters import DeepForecaster
from core.models.forecasters import LightGBMQuantile

Q01, Q99 = QUANTILES.index(0.01), QUANTILES.index(0.99)


def t_panel(n: int, seed: int, df: float = 3.0):
    """One series of iid Student-t daily log returns (1% scale): fat tails, constant volatility."""
    rng = np.random.default_rng(seed)
    returns = 0.01 * rng.standard_t(df, n)
    frame = pd.DataFrame({"ticker": "T", "date": pd.bdate_range("2000-01-03", periods=n),
                          "price": 100 * np.exp(np.cumsum(returns))})
    return build_panel(frame, series="ticker", time="date", target="price",
                       transform="log_return")


def test_tails_stretch_the_body_by_the_shape_ratios() -> None:
    shape = np.tile(stats.norm.ppf(QUANTILES), (2, 1)) * 1.0
    shape[:, Q01], shape[:, Q99] = -4.0, 5.0  # heavier than normal on both sides
    body = np.full((1, 2, len(QUANTILES)), np.nan)
    body[..., LOWER:UPPER + 1] = [-2.0, -1.0, 0.5, 2.0, 4.0]  # 10, 25, 50, 75, 90%
    out = with_empirical_tails(body, shape)
    np.testing.assert_allclose(out[..., LOWER:UPPER + 1], body[..., LOWER:UPPER + 1])
    z10, z90 = stats.norm.ppf(0.1), stats.norm.ppf(0.9)
    np.testing.assert_allclose(out[0, :, Q01], 0.5 + (-2.0 - 0.5) * (-4.0 / z10))
    np.testing.assert_allclose(out[0, :, Q99], 0.5 + (4.0 - 0.5) * (5.0 / z90))
    assert (np.diff(out, axis=-1) >= 0).all()


def test_empirical_tails_hold_their_level_on_fat_tailed_returns() -> None:
    """A Gaussian body on Student-t(3) returns: Gaussian tails are exceeded far too often at
    1%, the empirical ones about as often as they should be (fresh draws, same process)."""
    fit, test = t_panel(6000, 0), t_panel(20000, 1)
    shape = standardized_quantiles(fit, 1)
    assert shape[0, MEDIAN] == 0.0
    assert shape[0, Q01] / shape[0, LOWER] > 2.0  # t(3): about 2.4, normal: 1.8
    sigma = test.sigma[:-1]
    body = stats.norm.ppf(QUANTILES)[None, None, :] * sigma[:, None, None]  # scale from EWMA
    gaussian_var = -body[:, 0, Q01]
    empirical_var = -with_empirical_tails(body, shape)[:, 0, Q01]
    actual = test.future_change(np.arange(len(sigma)), 1)
    ok = np.isfinite(actual) & np.isfinite(sigma)
    gaussian_rate = np.mean(-actual[ok] > gaussian_var[ok])
    empirical_rate = np.mean(-actual[ok] > empirical_var[ok])
    assert gaussian_rate > 0.016
    assert 0.006 < empirical_rate < 0.014


@pytest.mark.parametrize("make", [
    lambda: LightGBMQuantile(n_estimators=10, min_child_samples=20),
    lambda: DeepForecaster(architecture="deepar", encoder_length=10, hidden_size=4,
                           max_epochs=1, limit_train_batches=2, batch_size=32, n_samples=50),
], ids=["lightgbm", "deepar"])
def test_models_with_empirical_tails_use_the_fit_panels_shape(make) -> None:  # noqa: ANN001
    panel = t_panel(600, 2)
    model = make().fit(panel)
    np.testing.assert_allclose(model.shape_, standardized_quantiles(panel, 5))
    q = model.forecast(panel, np.arange(300, 320))
    lower_ratio = (q[..., Q01] - q[..., MEDIAN]) / (q[..., LOWER] - q[..., MEDIAN])
    np.testing.assert_allclose(lower_ratio, np.broadcast_to(
        model.shape_[:, Q01] / model.shape_[:, LOWER], lower_ratio.shape), rtol=1e-9)
