"""The Forecast tab of every forecasting Task: a fan chart per series, a per-horizon leaderboard
of the candidates, and their backtest error against the naive (no-change) forecast."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.forecast.fan import fan_chart, forecast_path
from core.kinds.forecasting import Forecasting
from core.page import PageContext
from core.store.queries import ModelSummary

HISTORY_STEPS = 60  # enough context; longer squeezes the fan to a sliver
LOWER_IS_BETTER = "lower is better"


def forecasting_kind(ctx: PageContext) -> Forecasting:
    """The Task's Kind: this section reads the Forecasting Kind's own fields (freq, transform)."""
    kind = ctx.task.kind
    if not isinstance(kind, Forecasting):
        raise TypeError(f"Task {ctx.task.name}: the forecast section draws Forecasting Tasks, "
                        f"not {kind.name}; drop 'forecast' from its Kind's sections")
    return kind


def history(ctx: PageContext, series: str, steps: int = HISTORY_STEPS) -> pd.DataFrame:
    """The series' last `steps` stored values of the target (columns time, value), oldest
    first."""
    kind = ctx.task.kind
    frame = ctx.query("entity_history", ctx.table.name, kind.entity, series, kind.step_column,
                      kind.label_columns[0], steps)
    frame = frame.set_axis(["time", "value"], axis=1)
    return frame.assign(time=pd.to_datetime(frame["time"]),
                        value=pd.to_numeric(frame["value"], errors="coerce"))


def series_fan(ctx: PageContext, forecasts: pd.DataFrame, series: str) -> go.Figure:
    """The fan chart of `series`: its stored history, then its latest forecast (rows of
    `latest_forecasts`) in the target's units."""
    kind = forecasting_kind(ctx)
    past = history(ctx, series)
    rows = forecasts[forecasts["entity_key"] == series]
    origin = pd.Timestamp(rows["as_of"].iloc[0])
    known = past[(past["time"] <= origin) & past["value"].notna()]
    # The bands open from the last value at the origin (a log-return fan needs it as its base).
    last = float(known["value"].iloc[-1]) if len(known) else float("nan")
    path = forecast_path(rows, last, transform=kind.transform, freq=kind.freq)
    return fan_chart(past, path, title=f"{series}: {kind.target} and forecast",
                     value_name=kind.target)


def metric_horizons(versions: Sequence[ModelSummary]) -> list[int]:
    """The horizons the versions were evaluated at, from their `metric@h` keys."""
    return sorted({int(h) for v in versions for name in v.metrics
                   for h in [name.rpartition("@")[2]] if "@" in name and h.isdigit()})


def horizon_board(versions: Sequence[ModelSummary], horizon: int, sort_by: str,
                  higher_is_better: bool) -> pd.DataFrame:
    """One row per version with every metric it has at `horizon` (`name@horizon` -> name),
    best first by `sort_by` (versions without it last)."""
    suffix = f"@{horizon}"
    rows = [{"model": v.model, "version": v.version, "champion": v.is_champion,
             **{k.removesuffix(suffix): value for k, value in v.metrics.items()
                if k.endswith(suffix)}} for v in versions]
    board = pd.DataFrame(rows)
    if sort_by in board:
        board = board.sort_values(sort_by, ascending=not higher_is_better, na_position="last")
    return board.reset_index(drop=True)


def naive_ratios(versions: Sequence[ModelSummary]) -> pd.DataFrame:
    """Each version's MAE over the naive forecast's at every horizon (`mae_ratio@h`): 1 is the
    naive forecast itself, below 1 beats it."""
    rows = [{"model": f"{v.model} v{v.version}", "horizon": int(h), "mae_ratio": value}
            for v in versions for name, value in v.metrics.items()
            for base, _, h in [name.rpartition("@")]
            if base == "mae_ratio" and h.isdigit() and value is not None and np.isfinite(value)]
    return pd.DataFrame(rows, columns=["model", "horizon", "mae_ratio"])


def trace_frame(versions: Sequence[ModelSummary]) -> pd.DataFrame:
    """The one-step backtest rows (series, origin, actual and point change from the origin)
    every version stored in its params, stacked."""
    parts = [pd.DataFrame(v.params["backtest"]).assign(model=f"{v.model} v{v.version}")
             for v in versions if "backtest" in v.params]
    if not parts:
        return pd.DataFrame(columns=["series", "origin", "actual", "point", "model"])
    frame = pd.concat(parts, ignore_index=True)
    return frame.assign(origin=pd.to_datetime(frame["origin"]))


def error_over_time(trace: pd.DataFrame) -> pd.DataFrame:
    """Each model's one-step MAE over the naive forecast's on the same rows, per month (per day
    when the backtest spans under 90 days): the naive forecast is no change, so its error is
    |actual change|."""
    span = trace["origin"].max() - trace["origin"].min()
    period = "D" if span < pd.Timedelta(days=90) else "M"
    start = trace["origin"].dt.to_period(period).dt.to_timestamp()
    errors = trace.assign(period=start, model_error=(trace["actual"] - trace["point"]).abs(),
                          naive_error=trace["actual"].abs())
    grouped = errors.groupby(["model", "period"])[["model_error", "naive_error"]].mean()
    ratio = grouped["model_error"] / grouped["naive_error"].replace(0, np.nan)
    return ratio.rename("mae_ratio").reset_index()


def verdict(versions: Sequence[ModelSummary]) -> str:
    """A plain sentence on whether anything beats the naive forecast one step ahead."""
    ratios = {v.model: v.metrics.get("mae_ratio@1") for v in versions}
    ratios = {m: r for m, r in ratios.items() if r is not None and np.isfinite(r)}
    winners = sorted((r, m) for m, r in ratios.items() if r < 1.0)
    if not ratios:
        return ""
    if not winners:
        return ("No model beats the naive forecast (the last value, no change) one step ahead: "
                "use it, and read the other models' intervals as ranges only.")
    r, m = winners[0]
    sentence = (f"{m} beats the naive forecast one step ahead: its MAE is {r:.3f} times the "
                "naive forecast's")
    p = next(v.metrics.get("dm_p@1") for v in versions if v.model == m)
    if p is None:
        return sentence + "."
    if p >= 0.05:
        return (sentence + f", a difference the Diebold-Mariano test cannot tell from chance "
                f"(p = {p:.2f}): treat the forecasts as no better than no change.")
    return sentence + f" (Diebold-Mariano p = {p:.3f}: unlikely to be luck)."


def ratio_chart(ratios: pd.DataFrame, baseline: bool = True) -> go.Figure:
    """`mae_ratio` per horizon, one line per model; the naive forecast's 1 dashed."""
    figure = go.Figure([go.Scatter(x=g["horizon"], y=g["mae_ratio"], name=m,
                                   mode="lines+markers") for m, g in ratios.groupby("model")])
    if baseline:
        figure.add_hline(y=1.0, line_dash="dash", annotation_text="naive forecast")
    figure.update_layout(xaxis_title="horizon (steps)", yaxis_title="MAE / naive MAE",
                         height=320, margin={"t": 30, "b": 20}, template="plotly_white")
    return figure


def over_time_chart(ratio: pd.DataFrame) -> go.Figure:
    figure = go.Figure([go.Scatter(x=g["period"], y=g["mae_ratio"], name=m, mode="lines")
                        for m, g in ratio.groupby("model")])
    figure.add_hline(y=1.0, line_dash="dash", annotation_text="naive forecast")
    figure.update_layout(yaxis_title="MAE / naive MAE (1 step)", height=320,
                         margin={"t": 30, "b": 20}, template="plotly_white")
    return figure


def forecast_section(ctx: PageContext) -> None:
    """The Forecast tab."""
    kind = forecasting_kind(ctx)
    key = f"{ctx.task.slug}-forecast"
    versions: list[ModelSummary] = ctx.query("versions")
    if ctx.champion is None or not versions:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` first.",
                icon=":material/model_training:")
        return
    sentence = verdict(versions)
    if sentence:
        st.markdown(sentence)
    forecasts = ctx.query("latest_forecasts", ctx.champion.id)
    if forecasts.empty:
        st.info(f"No forecasts yet: run `verticals score {ctx.task.name}`.",
                icon=":material/query_stats:")
    else:
        series = st.selectbox(kind.series.capitalize(), sorted(forecasts["entity_key"].unique()),
                              key=f"{key}-series")
        st.plotly_chart(series_fan(ctx, forecasts, series), width="stretch",
                        key=f"{key}-fan")
        best = ctx.champion
        origin = pd.Timestamp(forecasts.loc[forecasts["entity_key"] == series, "as_of"].iloc[0])
        st.caption(f"{best.model} v{best.version} (the champion), forecast from {origin}: the "
                   "line is its median, the bands its 80% and 95% intervals.")
    _leaderboard(ctx, versions, kind, key)
    _against_naive(versions, kind, key)


def _leaderboard(ctx: PageContext, versions: list[ModelSummary], kind: Forecasting,
                 key: str) -> None:
    tested = metric_horizons(versions)
    if not tested:
        return
    st.subheader("Leaderboard per horizon")
    horizon = st.radio("Horizon (steps ahead)", tested, horizontal=True, key=f"{key}-horizon")
    sort_by = per_horizon_metric(versions, kind, int(horizon))
    board = horizon_board(versions, int(horizon), sort_by, kind.higher_is_better)
    st.dataframe(board, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.4f") for c in board.columns
        if c not in ("model", "version", "champion")})
    st.caption(f"Backtest metrics of every version at {horizon} step(s) ahead, best "
               f"{sort_by} first ({'higher' if kind.higher_is_better else 'lower'} is better); "
               "`_pooled` metrics are over steps 1..h together.")


def per_horizon_metric(versions: Sequence[ModelSummary], kind: Forecasting,
                       horizon: int | None = None) -> str:
    """The Kind's primary metric where it is measured per horizon (`name@h`), else the first
    display metric that is (a graph Task's champion is chosen on a pooled validation figure,
    so the per-horizon views rank by its first test metric); `horizon` narrows to one."""
    measured = {name for v in versions for k in v.metrics
                for name, _, h in [k.rpartition("@")]
                if h.isdigit() and (horizon is None or int(h) == horizon)}
    names = [m.rpartition("@")[0] or m for m in (kind.primary_metric, *kind.display_metrics)]
    return next((m for m in names if m in measured), names[0])


def metric_by_horizon(versions: Sequence[ModelSummary], metric: str) -> pd.DataFrame:
    """Each version's `metric@h` at every horizon (columns model, horizon, value)."""
    rows = [{"model": f"{v.model} v{v.version}", "horizon": int(h), "value": value}
            for v in versions for name, value in v.metrics.items()
            for base, _, h in [name.rpartition("@")]
            if base == metric and h.isdigit() and value is not None and np.isfinite(value)]
    return pd.DataFrame(rows, columns=["model", "horizon", "value"])


def _against_naive(versions: list[ModelSummary], kind: Forecasting, key: str) -> None:
    ratios = naive_ratios(versions)
    trace = trace_frame(versions)
    metric = per_horizon_metric(versions, kind)
    if ratios.empty:
        # No ratio stored (a graph Task's metrics): the naive candidates (last value, historical
        # average) are lines of their own among the others.
        errors = metric_by_horizon(versions, metric)
        if errors.empty:
            return
        st.subheader("Backtest error per horizon")
        figure = ratio_chart(errors.rename(columns={"value": "mae_ratio"}), baseline=False)
        figure.update_layout(yaxis_title=metric)
        st.plotly_chart(figure, width="stretch", key=f"{key}-errors")
        st.caption(f"{metric} of every version at each horizon on the held-out part: "
                   f"{LOWER_IS_BETTER}; the naive candidates (the last value carried forward, "
                   "the usual value for the time) are the lines to beat.")
        return
    st.subheader("Backtest error against the naive forecast")
    st.plotly_chart(ratio_chart(ratios), width="stretch", key=f"{key}-ratio")
    st.caption(f"MAE over the naive (no-change) forecast's, per horizon: {LOWER_IS_BETTER}; "
               "below the dashed line at 1 a model beats the naive forecast.")
    if not trace.empty:
        st.plotly_chart(over_time_chart(error_over_time(trace)), width="stretch",
                        key=f"{key}-over-time")
        st.caption(f"The same ratio one step ahead over the backtest: {LOWER_IS_BETTER}.")
