"""The Forecasting Kind on plain levels (transform="none"): ledger rows, formats, train."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.forecast.metrics import QUANTILES
from core.kinds.forecasting import Forecasting, ledger_rows
from core.models.formats import installed_formats
from core.task import Task


def flows(n_days: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "sensor": np.repeat(["s1", "s2"], n_days),
        "day": np.tile(pd.date_range("2024-01-01", periods=n_days, freq="D"), 2),
        "flow": np.r_[100 + np.cumsum(rng.normal(0, 1, n_days)),
                      50 + np.cumsum(rng.normal(0, 1, n_days))],
    })


KIND = Forecasting(series="sensor", time="day", target="flow", horizon=3, freq="D")


def test_ledger_scores_levels_when_not_returns() -> None:
    panel = KIND.panel(flows())
    rows = panel.last_rows()
    q = np.broadcast_to(np.linspace(-1, 1, len(QUANTILES)), (2, 3, len(QUANTILES))).copy()
    ledger = ledger_rows(panel, rows, q, "none")
    last = flows().groupby("sensor")["flow"].last().to_numpy()
    assert ledger["score"].tolist() == pytest.approx(np.repeat(last, 3).tolist())
    # q0.9 is the 8th of 11 steps of 0.2 from -1
    assert ledger["upper"].iloc[0] - ledger["score"].iloc[0] == pytest.approx(0.4)
    assert ledger["entity_key"].tolist() == ["s1"] * 3 + ["s2"] * 3
    q[1] = np.nan  # too little history: that series is left out, not scored as NaN
    assert ledger_rows(panel, rows, q, "none")["entity_key"].unique().tolist() == ["s1"]


def test_train_backtests_the_classical_candidates() -> None:
    task = Task(name="test.flows", title="Flows", description="d", kind=KIND, schema=None,
                sample=lambda n, seed: flows())
    candidates = KIND.train(task, flows(), profile="smoke", seed=0,
                            models=("random_walk", "drift", "arima"))
    by_name = {c.name: c for c in candidates}
    assert by_name["random_walk"].metrics["mae_ratio@1"] == pytest.approx(1.0)
    assert {"mase@3", "coverage95@3", "origins@1"} <= set(by_name["arima"].metrics)
    assert "var99@1" not in by_name["arima"].metrics  # risk only for returns
    assert len(by_name["drift"].params["backtest"]["origin"]) == 2 * 9  # 10 origins, last has no y


def test_load_rejects_another_kind_of_artifact(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="not a forecasting predictor"):
        KIND.load_predictor(tmp_path, {"format": "tabular.lightgbm"}, installed_formats())
