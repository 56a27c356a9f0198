"""The generic Forecast tab on the stock Task's store: fan chart, per-horizon leaderboard, error
against the naive forecast, and none of the classifier's tiles."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from core.forecast.fan import forecast_path, row_quantiles, target_quantiles
from core.store.schema import predictions
from dashboards.components.forecast import (
    horizon_board,
    metric_horizons,
    naive_ratios,
    per_horizon_metric,
    verdict,
)
from dashboards.testing import open_page
from tests.dashboards.stock_store import build_stock_store
from verticals.finance.stock_forecasting import TASK

TIMEOUT = 30
KEY = f"{TASK.slug}-forecast"


@pytest.fixture(scope="module")
def stock_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_stock_store(tmp_path_factory.mktemp("forecast-home"))


@pytest.fixture
def page(stock_store: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("VERTICALS_HOME", str(Path(stock_store.removeprefix("sqlite:///")).parent))
    at = open_page(TASK.name, stock_store, registry={TASK.name: TASK}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    return at


def figures(at: AppTest) -> dict[str, dict]:
    """The page's Plotly figures (as JSON specs) by element id."""
    return {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def values(data: list | dict) -> list[float]:
    """A trace's y values: Plotly 6 writes numeric arrays as base64 typed arrays."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def test_the_forecast_tab_comes_first_and_has_no_classifier_tiles(page: AppTest) -> None:
    assert [t.label for t in page.tabs][:2] == [":material/ssid_chart: Forecast",
                                                ":material/table_chart: Data"]
    tiles = [m.label for m in page.metric]
    assert "no label" not in tiles and "Predictions" in tiles
    assert not any(s.key and s.key.endswith("-label") for s in page.selectbox)
    specs = json.dumps(list(figures(page).values()))
    assert "target rate" not in specs
    captions = " ".join(c.value for c in page.caption)
    assert "split by the label" not in captions


def test_fan_chart_draws_the_median_price_path_of_the_chosen_ticker(
        page: AppTest, stock_store: str) -> None:
    assert page.selectbox(key=f"{KEY}-series").options == ["TCK1", "TCK2", "TCK3"]
    page.selectbox(key=f"{KEY}-series").set_value("TCK2").run()
    assert not page.exception, page.exception
    fan = next(s for s in figures(page).values()
               if "TCK2" in str(s["layout"].get("title", {})))
    traces = {t["name"]: t for t in fan["data"]}
    assert {"adj_close", "95% interval", "80% interval", "median"} <= set(traces)
    engine = sa.create_engine(stock_store)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(predictions.c.horizon, predictions.c.payload).where(
            predictions.c.entity_key == "TCK2").order_by(predictions.c.horizon)).all()
    engine.dispose()
    implied = [json.loads(p)["price"] for _, p in rows]
    last = json.loads(rows[0][1])["last_price"]
    # The median opens at the last price and follows the implied prices the Kind stored.
    assert values(traces["median"]["y"]) == pytest.approx([last, *implied])
    assert values(traces["adj_close"]["y"])[-1] == pytest.approx(last)


def test_leaderboard_per_horizon_and_error_against_the_naive(page: AppTest) -> None:
    board = next(df.value for df in page.dataframe if "mae_ratio" in df.value.columns)
    assert set(board["model"]) == {"random_walk", "drift"}
    assert board.loc[board["model"] == "random_walk", "mae_ratio"].iloc[0] == pytest.approx(1.0)
    assert board["mae_ratio"].is_monotonic_increasing  # best (lowest) first
    assert page.radio(key=f"{KEY}-horizon").options == ["1", "2", "3", "4", "5"]
    page.radio(key=f"{KEY}-horizon").set_value(5).run()
    assert not page.exception, page.exception
    captions = " ".join(c.value for c in page.caption)
    assert "at 5 step(s) ahead" in captions and "lower is better" in captions
    subheaders = [s.value for s in page.subheader]
    assert "Backtest error against the naive forecast" in subheaders
    ratio = next(s for s in figures(page).values()
                 if s["layout"].get("yaxis", {}).get("title", {}).get("text") == "MAE / naive MAE")
    walk = next(t for t in ratio["data"] if t["name"].startswith("random_walk"))
    assert values(walk["y"]) == pytest.approx([1.0] * 5)


def version(model: str, metrics: dict[str, float], number: int = 1) -> SimpleNamespace:
    return SimpleNamespace(model=model, version=number, is_champion=False, metrics=metrics)


def test_board_and_ratios_read_per_horizon_keys() -> None:
    versions = [version("a", {"rmse@1": 2.0, "rmse_pooled@1": 2.0, "rmse@2": 3.0,
                              "rmse_pooled": 2.5}),
                version("b", {"rmse@1": 1.0, "rmse_pooled@1": 1.0, "mae_ratio@1": 0.9}, 2)]
    assert metric_horizons(versions) == [1, 2]
    board = horizon_board(versions, 1, "rmse_pooled", higher_is_better=False)
    assert board["model"].tolist() == ["b", "a"]
    assert set(board.columns) == {"model", "version", "champion", "rmse", "rmse_pooled",
                                  "mae_ratio"}
    assert naive_ratios(versions).to_dict("records") == [
        {"model": "b v2", "horizon": 1, "mae_ratio": 0.9}]


def test_per_horizon_views_rank_by_the_primary_metric_or_the_first_per_horizon_display_one(
        ) -> None:
    from verticals.traffic.flow_prediction import TASK as TRAFFIC

    graph = [version("a", {"valid_rmse_pooled": 2.0, "rmse_pooled@1": 2.1, "rmse@1": 2.1,
                           "rmse_pooled@4": 3.0})]
    # The champion is chosen on a pooled validation figure: the views rank by rmse_pooled@h.
    assert TRAFFIC.kind.primary_metric == "valid_rmse_pooled"
    assert per_horizon_metric(graph, TRAFFIC.kind) == "rmse_pooled"
    assert per_horizon_metric(graph, TRAFFIC.kind, horizon=4) == "rmse_pooled"
    assert per_horizon_metric([version("w", {"mae_ratio@1": 1.0})], TASK.kind) == "mae_ratio"


def test_verdict_says_plainly_whether_an_edge_is_real() -> None:
    walk = version("random_walk", {"mae_ratio@1": 1.0, "dm_p@1": 1.0})
    assert verdict([walk, version("tft", {"mae_ratio@1": 1.01, "dm_p@1": 0.3})]).startswith(
        "No model beats the naive forecast")
    lucky = verdict([walk, version("tft", {"mae_ratio@1": 0.998, "dm_p@1": 0.6})])
    assert "cannot tell from chance (p = 0.60)" in lucky and "no better than no change" in lucky
    real = verdict([walk, version("lightgbm", {"mae_ratio@1": 0.95, "dm_p@1": 0.001})])
    assert "0.950 times" in real and "p = 0.001" in real and "unlikely to be luck" in real
    assert verdict([version("gru", {"rmse@1": 3.0})]) == ""  # no ratio measured: no sentence


def test_forecast_path_in_the_targets_units() -> None:
    q = {"0.1": -0.1, "0.5": 0.0, "0.9": 0.1}
    assert target_quantiles(q, 50.0, "none") == q
    assert target_quantiles({"0.5": 0.0}, 50.0, "log_return") == {"0.5": 50.0}
    with pytest.raises(ValueError, match="unknown forecast transform 'box_cox'"):
        target_quantiles(q, 1.0, "box_cox")
    # A graph Task's rows: score and the 80% interval, a payload without quantiles.
    rows = pd.DataFrame({"as_of": pd.Timestamp("2024-03-04 08:00"), "horizon": [2, 1],
                         "score": [40.0, 45.0], "lower": [35.0, 42.0], "upper": [44.0, np.nan],
                         "payload": [json.dumps({"usual": 55.0, "flag": 0}), None]})
    path = forecast_path(rows, 50.0, transform="none", freq="15min")
    assert path["0.5"].tolist() == [50.0, 45.0, 40.0]
    assert path["0.1"].tolist() == [50.0, 42.0, 35.0]
    assert path["0.9"].iloc[1:].isna().tolist() == [True, False]  # no upper bound stored
    quantiles = row_quantiles(0.01, -0.02, 0.03, json.dumps({"quantiles": {"0.025": -0.04}}))
    assert quantiles == {"0.5": 0.01, "0.1": -0.02, "0.9": 0.03, "0.025": -0.04}
    assert path["time"].tolist() == list(pd.date_range("2024-03-04 08:00", periods=3,
                                                       freq="15min"))
    with pytest.raises(ValueError, match="no forecast rows"):
        forecast_path(rows.iloc[:0], 50.0, transform="none", freq="15min")
