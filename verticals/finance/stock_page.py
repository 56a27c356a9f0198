"""Stock forecasting's own section: the forecast in prices, and 99% VaR / ES with its backtest.
The fan chart, per-horizon leaderboard and error against the random walk are the generic
Forecast tab's (dashboards/components/forecast.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.forecast.risk import expected_shortfall, value_at_risk

if TYPE_CHECKING:
    from core.page import PageContext


def price_table(forecast: pd.DataFrame) -> pd.DataFrame:
    """One ticker's latest forecast in prices: the median and the 80% range at each horizon,
    from the implied prices the Kind writes into each payload."""
    rows = []
    for horizon, payload in zip(forecast["horizon"], forecast["payload"], strict=True):
        item = json.loads(payload)
        quantiles = item["price_quantiles"]
        rows.append({"horizon (days)": int(horizon), "last price": item["last_price"],
                     "median price": item["price"], "low (10%)": quantiles["0.1"],
                     "high (90%)": quantiles["0.9"]})
    return pd.DataFrame(rows).sort_values("horizon (days)").reset_index(drop=True)


def risk_summary(forecast: pd.DataFrame, horizons: tuple[int, ...] = (1, 5)) -> pd.DataFrame:
    """99% VaR and ES of one ticker's latest forecast, as % of the position lost (a log-return
    loss L is 1 - exp(-L) of the price), read off the forecast's own quantiles."""

    def percent_lost(log_loss: np.ndarray) -> float:
        return float(100 * (1 - np.exp(-log_loss[0])))

    rows = []
    for _, row in forecast[forecast["horizon"].isin(horizons)].iterrows():
        quantiles = json.loads(row["payload"])["quantiles"]
        levels = sorted(quantiles, key=float)
        q = np.array([[quantiles[k] for k in levels]])
        taus = [float(k) for k in levels]
        rows.append({"horizon": int(row["horizon"]),
                     "var99": percent_lost(value_at_risk(q, taus, 0.01)),
                     "es99": percent_lost(expected_shortfall(q, taus, 0.01))})
    return pd.DataFrame(rows, columns=["horizon", "var99", "es99"])


def var_backtest(params: dict[str, Any]) -> pd.DataFrame:
    """The champion's one-step backtest rows (series, origin, actual return, VaR 99%) that
    `train` stored in its params; empty when it stored no VaR (a level forecast)."""
    trace = pd.DataFrame(params.get("backtest", {}))
    if "var99" not in trace or not trace["var99"].notna().any():
        return pd.DataFrame(columns=["series", "origin", "actual", "var99"])
    return trace.assign(origin=pd.to_datetime(trace["origin"]))


def exceedance_chart(rows: pd.DataFrame) -> tuple[go.Figure, int]:
    """One ticker's returns against -VaR 99%, the days the loss exceeded it marked."""
    hits = rows[-rows["actual"] > rows["var99"]]
    figure = go.Figure([
        go.Scatter(x=rows["origin"], y=rows["actual"], name="return", mode="lines"),
        go.Scatter(x=rows["origin"], y=-rows["var99"], name="-VaR 99%"),
        go.Scatter(x=hits["origin"], y=hits["actual"], mode="markers", name="exceedance",
                   marker={"color": "#cf222e", "size": 9}),
    ])
    return figure, len(hits)


def page(ctx: PageContext) -> None:
    """The section the stock-forecasting TASK names as `page=`."""
    st.header(":material/show_chart: Prices and risk")
    if ctx.champion is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` first.")
        return
    forecasts = ctx.query("latest_forecasts", ctx.champion.id).rename(
        columns={"entity_key": "ticker"})
    ticker = None
    if forecasts.empty:
        st.info(f"No forecasts yet: run `verticals score {ctx.task.name}`.")
    else:
        ticker = st.selectbox("Ticker", sorted(forecasts["ticker"].unique()), key="stock_ticker")
        chosen = forecasts[forecasts["ticker"] == ticker]
        best = ctx.champion
        st.dataframe(price_table(chosen), hide_index=True, column_config={
            c: st.column_config.NumberColumn(format="%.2f")
            for c in ("last price", "median price", "low (10%)", "high (90%)")})
        st.caption(
            f"{best.model} v{best.version} (the champion), trained "
            f"{best.created_at:%Y-%m-%d %H:%M} on {best.train_rows or 0:,} bars, "
            f"forecast as of {pd.Timestamp(chosen['as_of'].iloc[0]):%Y-%m-%d}: the median "
            "price and its 80% range at each horizon.")
        risk = risk_summary(chosen)
        columns = st.columns(len(risk) * 2)
        for i, row in enumerate(risk.itertuples(index=False)):
            columns[2 * i].metric(f"{row.horizon}-day VaR 99%", f"{row.var99:.2f}%",
                                  help="the loss exceeded on 1 day in 100, by the forecast")
            columns[2 * i + 1].metric(f"{row.horizon}-day ES 99%", f"{row.es99:.2f}%",
                                      help="the mean loss on those worst days")
    trace = var_backtest(ctx.champion.params)
    if trace.empty:
        return
    st.subheader("99% one-day VaR of the champion, exceedances marked")
    shown = ticker if ticker in set(trace["series"]) else trace["series"].iloc[0]
    rows = trace[trace["series"] == shown]
    figure, hits = exceedance_chart(rows)
    st.plotly_chart(figure, width="stretch")
    st.caption(f"{hits} exceedances in {len(rows)} days for {shown} (1% expected).")
