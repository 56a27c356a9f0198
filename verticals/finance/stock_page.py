"""Stock forecasting's dashboard section: fan charts, error vs the random walk, VaR, leaderboard."""

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

HISTORY_DAYS = 60  # enough context; longer squeezes the 5-day fan to a sliver
BAND = "rgba(31, 119, 180, {})"


def price_history(ctx: PageContext, ticker: str, days: int = HISTORY_DAYS) -> pd.DataFrame:
    """The ticker's last `days` stored bars (date, adj_close), oldest first."""
    kind = ctx.task.kind
    # The series is the entity, its rows ordered by the step column (the date); the label is
    # the price the forecasts are of.
    frame = ctx.query("entity_history", ctx.table.name, kind.entity, ticker, kind.step_column,
                      kind.label_columns[0], days)
    frame = frame.set_axis(["date", "adj_close"], axis=1)
    return frame.assign(date=pd.to_datetime(frame["date"]))


def fan_chart(history: pd.DataFrame, forecast: pd.DataFrame, ticker: str) -> go.Figure:
    """History, then the median price path with the 80% and 95% bands."""
    figure = go.Figure(go.Scatter(x=history["date"], y=history["adj_close"], name="Adj Close",
                                  line={"color": "#333"}))
    payloads = [json.loads(p) for p in forecast["payload"]]
    origin = pd.Timestamp(forecast["as_of"].iloc[0])
    dates = [origin] + list(pd.bdate_range(origin, periods=len(payloads) + 1)[1:])
    last = payloads[0]["last_price"]
    for lo, hi, alpha in (("0.025", "0.975", 0.15), ("0.1", "0.9", 0.3)):
        upper = [last] + [p["price_quantiles"][hi] for p in payloads]
        lower = [last] + [p["price_quantiles"][lo] for p in payloads]
        figure.add_trace(go.Scatter(x=dates + dates[::-1], y=upper + lower[::-1], fill="toself",
                                    mode="lines",
                                    fillcolor=BAND.format(alpha), line={"width": 0},
                                    name=f"{lo}-{hi}"))
    figure.add_trace(go.Scatter(x=dates, y=[last] + [p["price"] for p in payloads],
                                name="median", line={"color": BAND.format(1)}))
    figure.update_layout(title=f"{ticker}: price and forecast fan", height=380,
                         margin={"t": 40, "b": 20})
    return figure


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


def trace_frame(versions: list[Any]) -> pd.DataFrame:
    """The one-step backtest rows every version stored in its params, stacked."""
    parts = [pd.DataFrame(v.params["backtest"]).assign(model=f"{v.model} v{v.version}")
             for v in versions if "backtest" in v.params]
    if not parts:
        return pd.DataFrame(columns=["series", "origin", "actual", "point", "model"])
    frame = pd.concat(parts, ignore_index=True)
    return frame.assign(origin=pd.to_datetime(frame["origin"]))


def error_over_time(trace: pd.DataFrame) -> pd.DataFrame:
    """Monthly MAE of each model over the random walk's MAE (|actual|) on the same rows."""
    month = trace["origin"].dt.to_period("M").dt.to_timestamp()
    errors = trace.assign(month=month, model_error=(trace["actual"] - trace["point"]).abs(),
                          rw_error=trace["actual"].abs())
    grouped = errors.groupby(["model", "month"])[["model_error", "rw_error"]].mean()
    return (grouped["model_error"] / grouped["rw_error"]).rename("mae_ratio").reset_index()


def horizons(versions: list[Any]) -> list[int]:
    """The horizons (days) the versions were backtested at, from their `mae_ratio@h` metrics."""
    return sorted({int(name.rpartition("@")[2]) for v in versions for name in v.metrics
                   if name.startswith("mae_ratio@") and name.rpartition("@")[2].isdigit()})


def leaderboard(versions: list[Any], horizon: int) -> pd.DataFrame:
    keys = ["mae_ratio", "mae", "coverage80", "coverage95", "direction_acc", "direction_base",
            "var99_exceed", "kupiec_p99"]
    rows = [{"model": v.model, "version": v.version,
             **{k: v.metrics.get(f"{k}@{horizon}") for k in keys}} for v in versions]
    return pd.DataFrame(rows).sort_values("mae_ratio", na_position="last")


def verdict(versions: list[Any]) -> str:
    """A plain sentence on whether anything beats the random walk one day ahead."""
    ratios = {v.model: v.metrics.get("mae_ratio@1") for v in versions if v.model != "random_walk"}
    ratios = {m: r for m, r in ratios.items() if r is not None and np.isfinite(r)}
    winners = sorted((r, m) for m, r in ratios.items() if r < 1.0)
    if not winners:
        return ("No model beats the random walk one day ahead: use the random walk's forecast "
                "(no change) and read the other models' intervals as risk ranges only.")
    r, m = winners[0]
    sentence = (f"{m} beats the random walk one day ahead: its MAE is {r:.3f} times the "
                "random walk's")
    p = next(v.metrics.get("dm_p@1") for v in versions if v.model == m)
    if p is None:
        return sentence + "."
    if p >= 0.05:
        return (sentence + f", a difference the Diebold-Mariano test cannot tell from chance "
                f"(p = {p:.2f}): treat the forecasts as no better than no change.")
    return sentence + f" (Diebold-Mariano p = {p:.3f}: unlikely to be luck)."


def page(ctx: PageContext) -> None:
    """The section the stock-forecasting TASK names as `page=`."""
    st.header(":material/show_chart: Stock forecasts")
    if ctx.champion is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` first.")
        return
    versions = ctx.query("versions")
    st.markdown(verdict(versions))
    forecasts = ctx.query("latest_forecasts", ctx.champion.id).rename(
        columns={"entity_key": "ticker"})
    ticker = None
    if forecasts.empty:
        st.info(f"No forecasts yet: run `verticals score {ctx.task.name}`.")
    else:
        tickers = sorted(forecasts["ticker"].unique())
        ticker = st.selectbox("Ticker", tickers, key="stock_ticker")
        chosen = forecasts[forecasts["ticker"] == ticker]
        history = price_history(ctx, ticker)
        st.plotly_chart(fan_chart(history, chosen, ticker), width="stretch")
        best = ctx.champion
        st.caption(
            f"{best.model} v{best.version} (the champion), trained "
            f"{best.created_at:%Y-%m-%d %H:%M} on {best.train_rows or 0:,} bars, "
            f"forecast as of {pd.Timestamp(chosen['as_of'].iloc[0]):%Y-%m-%d}; bands are its "
            "80% and 95% intervals, the line its median.")
        risk = risk_summary(chosen)
        columns = st.columns(len(risk) * 2)
        for i, row in enumerate(risk.itertuples(index=False)):
            columns[2 * i].metric(f"{row.horizon}-day VaR 99%", f"{row.var99:.2f}%",
                                  help="the loss exceeded on 1 day in 100, by the forecast")
            columns[2 * i + 1].metric(f"{row.horizon}-day ES 99%", f"{row.es99:.2f}%",
                                      help="the mean loss on those worst days")
    st.subheader("Backtest error against the random walk (1 day, monthly)")
    trace = trace_frame(versions)
    if not trace.empty:
        ratio = error_over_time(trace)
        figure = go.Figure([go.Scatter(x=g["month"], y=g["mae_ratio"], name=m, mode="lines")
                            for m, g in ratio.groupby("model")])
        figure.add_hline(y=1.0, line_dash="dash", annotation_text="random walk")
        st.plotly_chart(figure, width="stretch")
        champion = trace[trace["model"] == f"{ctx.champion.model} v{ctx.champion.version}"]
        if "var99" in champion and champion["var99"].notna().any():
            st.subheader("99% one-day VaR of the champion, exceedances marked")
            shown = ticker if ticker in set(champion["series"]) else champion["series"].iloc[0]
            ticker_rows = champion[champion["series"] == shown]
            hits = ticker_rows[-ticker_rows["actual"] > ticker_rows["var99"]]
            figure = go.Figure([
                go.Scatter(x=ticker_rows["origin"], y=ticker_rows["actual"], name="return",
                           mode="lines"),
                go.Scatter(x=ticker_rows["origin"], y=-ticker_rows["var99"], name="-VaR 99%"),
                go.Scatter(x=hits["origin"], y=hits["actual"], mode="markers", name="exceedance",
                           marker={"color": "#cf222e", "size": 9}),
            ])
            st.plotly_chart(figure, width="stretch")
            st.caption(f"{len(hits)} exceedances in {len(ticker_rows)} days for "
                       f"{ticker_rows['series'].iloc[0]} (1% expected).")
    tested = horizons(versions)
    if not tested:
        return
    st.subheader("Leaderboard per horizon")
    horizon = st.radio("Horizon (days)", tested, horizontal=True, key="stock_horizon")
    board = leaderboard(versions, horizon)
    st.dataframe(board, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.4f") for c in board.columns
        if c not in ("model", "version")})
