"""Stock forecasting's own section rendered with AppTest on a small store."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from core import registry
from core.store.engine import make_engine
from core.store.schema import predictions, task_table_name
from dashboards.testing import open_page
from tests.dashboards.stock_store import build_stock_store
from verticals.finance.stock_forecasting import TASK

TIMEOUT = 30


@pytest.fixture(scope="module")
def stock_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_stock_store(tmp_path_factory.mktemp("stock-home"))


def section(url: str) -> None:
    from dashboards.context import make_context
    from verticals.finance.stock_forecasting import TASK

    TASK.page_function()(make_context(TASK, url))


def test_page_shows_prices_and_var_only(stock_store: str, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    import json

    monkeypatch.setenv("VERTICALS_HOME", str(Path(stock_store.removeprefix("sqlite:///")).parent))
    at = AppTest.from_function(section, args=(stock_store,), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="stock_ticker").options == ["TCK1", "TCK2", "TCK3"]
    # The fan, leaderboard and error against the random walk are the generic Forecast tab's.
    assert len(at.get("plotly_chart")) == 1  # the VaR backtest
    assert not at.radio and "random walk" not in " ".join(m.value for m in at.markdown)
    prices = at.dataframe[0].value
    assert prices["horizon (days)"].tolist() == [1, 2, 3, 4, 5]
    engine = sa.create_engine(stock_store)
    with engine.connect() as conn:
        payload = json.loads(conn.execute(sa.select(predictions.c.payload).where(
            predictions.c.entity_key == "TCK1", predictions.c.horizon == 3)).scalar_one())
    engine.dispose()
    row = prices.iloc[2]
    assert row["median price"] == pytest.approx(payload["price"])
    assert row["low (10%)"] < row["median price"] < row["high (90%)"]
    assert (prices["last price"] == payload["last_price"]).all()


def test_selected_tickers_risk_is_read_off_its_forecast(stock_store: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import numpy as np
    import sqlalchemy as sa

    from core.forecast.risk import value_at_risk

    monkeypatch.setenv("VERTICALS_HOME", str(Path(stock_store.removeprefix("sqlite:///")).parent))
    at = AppTest.from_function(section, args=(stock_store,), default_timeout=TIMEOUT).run()
    at.selectbox(key="stock_ticker").set_value("TCK2").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {"1-day VaR 99%", "1-day ES 99%", "5-day VaR 99%", "5-day ES 99%"}
    engine = sa.create_engine(stock_store)
    with engine.connect() as conn:
        payload = conn.execute(sa.select(predictions.c.payload).where(
            predictions.c.entity_key == "TCK2", predictions.c.horizon == 1)).scalar_one()
    engine.dispose()
    quantiles = json.loads(payload)["quantiles"]
    levels = sorted(quantiles, key=float)
    var = value_at_risk(np.array([[quantiles[k] for k in levels]]), [float(k) for k in levels],
                        0.01)[0]
    assert metrics["1-day VaR 99%"] == f"{100 * (1 - np.exp(-var)):.2f}%"
    assert float(metrics["1-day ES 99%"].rstrip("%")) > float(metrics["1-day VaR 99%"].rstrip("%"))
    captions = " ".join(c.value for c in at.caption)
    assert "for TCK2" in captions  # the VaR backtest follows the chosen ticker
    assert "trained" in captions and "as of" in captions


def test_the_task_page_shows_a_price_target_as_a_mean_not_a_rate(
        stock_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The generic explorer: a 0/1 target is a rate (%), a price is an average."""
    monkeypatch.setenv("VERTICALS_HOME", str(Path(stock_store.removeprefix("sqlite:///")).parent))

    at = open_page(TASK.name, stock_store, registry={TASK.name: TASK}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    engine = sa.create_engine(stock_store)
    with engine.connect() as conn:
        mean = conn.execute(sa.text(
            f"SELECT AVG(adj_close) FROM {task_table_name(TASK)}")).scalar_one()
    engine.dispose()
    tile = next(m for m in at.metric if m.label == "Mean adj_close")
    assert tile.value == f"{mean:,.4g}" and "%" not in tile.value
    # The series (an entity of many rows) and its dates stay explorable.
    assert {"ticker", "date"} <= set(at.selectbox(key=f"{TASK.slug}-column").options)


def test_the_page_queries_read_primary_forecasts_and_the_last_bars(stock_store: str) -> None:
    import pandas as pd

    from core.store import queries
    from core.store.engine import read_task_frame

    engine = make_engine(stock_store)
    try:
        champion = registry.champion(engine, TASK.name)
        latest = queries.latest_forecasts(engine, TASK.name, champion.id)
        assert sorted(latest["entity_key"].unique()) == ["TCK1", "TCK2", "TCK3"]
        assert (latest.groupby("entity_key")["as_of"].nunique() == 1).all()  # one origin each
        assert latest.groupby("entity_key")["horizon"].apply(list).map(tuple).unique().tolist() \
            == [(1, 2, 3, 4, 5)]
        # Another output of the same entity at a later origin is not "the" forecast.
        later = pd.Timestamp(latest["as_of"].max()) + pd.Timedelta(days=1)
        with engine.begin() as conn:
            conn.execute(predictions.insert().values(
                task=TASK.name, model_version_id=champion.id, batch=0, entity_key="TCK1",
                output="tail_risk", as_of=later, step=0, horizon=1, score=0.0))
        try:
            again = queries.latest_forecasts(engine, TASK.name, champion.id)
            pd.testing.assert_frame_equal(again, latest)
        finally:
            with engine.begin() as conn:
                conn.execute(predictions.delete().where(predictions.c.output == "tail_risk"))
        history = queries.entity_history(engine, TASK.name, task_table_name(TASK), "ticker",
                                         "TCK2", "date", "adj_close", 10)
        with engine.connect() as conn:
            stored = read_task_frame(conn, TASK)
        tck2 = stored[stored["ticker"] == "TCK2"].sort_values("date").tail(10)
        assert history.columns.tolist() == ["date", "adj_close"]
        assert history["adj_close"].tolist() == pytest.approx(tck2["adj_close"].tolist())
        assert pd.to_datetime(history["date"]).is_monotonic_increasing
    finally:
        engine.dispose()
