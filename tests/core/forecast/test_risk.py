"""VaR/ES from quantiles and the Kupiec test, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from core.forecast.metrics import QUANTILES
from core.forecast.risk import expected_shortfall, kupiec_pof, risk_metrics, value_at_risk


def test_kupiec_by_hand() -> None:
    # 5 exceedances in 250 days at 1%: LR = -2[245 ln .99 + 5 ln .01 - 245 ln .98 - 5 ln .02]
    lr_hand = -2 * (245 * np.log(0.99) + 5 * np.log(0.01) - 245 * np.log(0.98) - 5 * np.log(0.02))
    lr, p = kupiec_pof(5, 250, 0.01)
    assert lr == pytest.approx(lr_hand) and lr == pytest.approx(1.9568, abs=1e-3)
    assert p == pytest.approx(0.1619, abs=1e-3)  # accepted at 95%


def test_kupiec_rejects_too_many_and_handles_zero() -> None:
    assert kupiec_pof(15, 250, 0.01)[1] < 0.01
    lr, _ = kupiec_pof(0, 250, 0.01)
    assert lr == pytest.approx(-2 * 250 * np.log(0.99))
    assert kupiec_pof(2, 200, 0.01) == (0.0, 1.0)


def test_var_and_es_of_a_gaussian_forecast() -> None:
    sigma = 0.02
    q = sigma * stats.norm.ppf(QUANTILES)[None, :]
    assert value_at_risk(q, QUANTILES, 0.01)[0] == pytest.approx(sigma * 2.3263, rel=1e-4)
    assert value_at_risk(q, QUANTILES, 0.05)[0] == pytest.approx(sigma * 1.6449, rel=1e-4)
    # ES of N(0, s): s * pdf(z_a) / a
    es_true = sigma * stats.norm.pdf(stats.norm.ppf(0.01)) / 0.01
    assert expected_shortfall(q, QUANTILES, 0.01, steps=2000)[0] == pytest.approx(es_true, rel=1e-3)


def test_risk_metrics_count_exceedances() -> None:
    q = np.tile(0.01 * stats.norm.ppf(QUANTILES), (4, 1))
    y = np.array([0.0, -0.05, 0.01, -0.02])  # VaR99 = 0.0233: one hit; VaR95 = 0.0164: two
    values = risk_metrics(y, q, QUANTILES, 1)
    assert values["var99_exceed@1"] == 0.25 and values["var95_exceed@1"] == 0.5
    assert values["var99@1"] == pytest.approx(0.023263, rel=1e-4)
