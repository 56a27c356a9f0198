"""Traffic flow prediction's operations view: the sensor graph coloured by predicted speed, the
congestion alerts, one sensor's forecast with its interval, flagged sensors, per-horizon RMSE."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.forecast.fan import fan_chart, forecast_path
from core.forecast.graph_bench import stuck_steps
from core.forecast.health import MISSING, STUCK, ZERO, flag
from core.kinds.slice_forecasting import SlicePredictor

if TYPE_CHECKING:
    from core.page import PageContext

HEALTH_HOURS = 24  # the stored inputs the flags are computed on: the last day per sensor
HISTORY_STEPS = 16  # four hours before the origin in the per-sensor chart
SPEED_SCALE = "RdYlGn"  # red slow, green free-flowing


# --- data access (small functions, so the store or predictor layout can change under them) ---

def step_of(ctx: PageContext) -> pd.Timedelta:
    return pd.Timedelta(pd.tseries.frequencies.to_offset(ctx.task.kind.freq))


def latest_forecasts(ctx: PageContext) -> pd.DataFrame:
    """The champion's newest forecast per sensor and horizon, with `usual` (the sensor's usual
    speed at that time of day) and `flag` (its health at the origin) read off the payload and
    `at` the time each forecast is for."""
    frame = ctx.query("latest_forecasts", ctx.champion.id)
    if frame.empty:
        return frame.assign(usual=[], flag=[], at=[])
    payload = [json.loads(p) if isinstance(p, str) else {} for p in frame["payload"]]
    at = pd.to_datetime(frame["as_of"]) + frame["horizon"].astype(int) * step_of(ctx)
    return frame.assign(usual=[p.get("usual", np.nan) for p in payload],
                        flag=[int(p.get("flag", 0)) for p in payload], at=at)


def sensor_graph(ctx: PageContext) -> tuple[list[str], np.ndarray] | None:
    """The sensors and adjacency stored with the champion (a slice predictor's), or None."""
    predictor = ctx.predictor()
    if not isinstance(predictor, SlicePredictor):
        return None
    return list(predictor.sensors), np.asarray(predictor.adjacency, dtype=float)


def sensor_history(ctx: PageContext, sensor: str, steps: int) -> pd.DataFrame:
    """The sensor's last `steps` stored readings (columns time, value), oldest first."""
    kind = ctx.task.kind
    frame = ctx.query("entity_history", ctx.table.name, kind.entity, sensor, kind.step_column,
                      kind.label_columns[0], steps).set_axis(["time", "value"], axis=1)
    return frame.assign(time=pd.to_datetime(frame["time"]),
                        value=pd.to_numeric(frame["value"], errors="coerce"))


def recent_matrix(ctx: PageContext, sensors: list[str], steps: int) -> pd.DataFrame:
    """The last `steps` stored readings of every sensor as a time x sensor frame (NaN where a
    reading is missing, a missing step included)."""
    parts = {s: sensor_history(ctx, s, steps).set_index("time")["value"] for s in sensors}
    wide = pd.DataFrame(parts)
    if wide.empty:
        return wide
    grid = pd.date_range(wide.index.min(), wide.index.max(), freq=step_of(ctx))
    return wide.reindex(grid)


# --- what the page shows (pure functions of frames) -------------------------------------------

def spectral_layout(adjacency: np.ndarray) -> np.ndarray:
    """(N, 2) positions from the Laplacian of the undirected graph: the eigenvectors of its two
    smallest non-zero eigenvalues (a ring comes out as a circle). A graph without links, or one
    in pieces, gets a circle in sensor order instead (the eigenvectors would stack nodes)."""
    n = len(adjacency)
    angle = 2 * np.pi * np.arange(n) / max(n, 1)
    circle = np.c_[np.cos(angle), np.sin(angle)]
    weights = np.abs(adjacency) + np.abs(adjacency).T
    np.fill_diagonal(weights, 0)
    if n < 3:
        return circle
    laplacian = np.diag(weights.sum(1)) - weights
    values, vectors = np.linalg.eigh(laplacian)
    if values[1] < 1e-9:  # disconnected (or no links at all)
        return circle
    xy = vectors[:, 1:3]
    # Eigenvectors have an arbitrary sign: fix it so the picture is the same on every run.
    signs = np.sign(xy[np.argmax(np.abs(xy), axis=0), [0, 1]])
    xy = xy * np.where(signs == 0, 1, signs)
    return xy / np.abs(xy).max()


def graph_figure(sensors: list[str], adjacency: np.ndarray, positions: np.ndarray,
                 speed: pd.Series, below: pd.Series, horizon_label: str) -> go.Figure:
    """Links as grey lines, sensors as markers coloured by predicted speed."""
    links = np.argwhere((np.abs(adjacency) + np.abs(adjacency).T) > 0)
    links = links[links[:, 0] < links[:, 1]]
    xs: list[float | None] = []
    ys: list[float | None] = []
    for i, j in links:
        xs += [positions[i, 0], positions[j, 0], None]
        ys += [positions[i, 1], positions[j, 1], None]
    values = speed.reindex(sensors).to_numpy(dtype=float)
    gap = below.reindex(sensors).to_numpy(dtype=float)
    hover = [f"{s}: {v:.1f} predicted, {g:+.0f}% vs usual" for s, v, g in
             zip(sensors, values, gap, strict=True)]
    figure = go.Figure([
        go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#c0c6ce", "width": 1.5},
                   hoverinfo="skip", name="links"),
        go.Scatter(x=positions[:, 0], y=positions[:, 1], mode="markers+text", text=sensors,
                   textposition="top center", hovertext=hover, hoverinfo="text", name="sensors",
                   marker={"size": 16, "color": values, "colorscale": SPEED_SCALE,
                           "colorbar": {"title": "speed"}, "line": {"width": 1, "color": "#333"}}),
    ])
    figure.update_layout(title=f"Predicted speed {horizon_label}", height=460, showlegend=False,
                         xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"},
                         margin={"t": 40, "b": 10, "l": 10, "r": 10}, template="plotly_white")
    return figure


def below_usual(forecasts: pd.DataFrame) -> pd.Series:
    """How far each forecast is below the sensor's usual speed at that time of day, in % of
    the usual speed (positive: slower than usual)."""
    usual = forecasts["usual"].astype(float)
    return 100 * (usual - forecasts["score"].astype(float)) / usual.where(usual > 0)


def congestion_alerts(forecasts: pd.DataFrame, threshold_pct: float) -> pd.DataFrame:
    """Forecasts at least `threshold_pct` % below the usual speed, worst first."""
    gap = below_usual(forecasts)
    hit = forecasts[gap >= threshold_pct].assign(below=gap[gap >= threshold_pct])
    table = pd.DataFrame({"sensor": hit["entity_key"], "when": hit["at"],
                          "horizon": hit["horizon"].astype(int),
                          "predicted speed": hit["score"].astype(float),
                          "usual speed": hit["usual"].astype(float),
                          "below usual (%)": hit["below"].astype(float)})
    return table.sort_values(["below usual (%)", "when"], ascending=[False, True]).reset_index(
        drop=True)


def sensor_flags(wide: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """Per sensor with any flag on the stored readings `wide`: steps missing, stuck and with an
    implausible zero (core.forecast.health), most flagged first."""
    columns = ["sensor", "missing", "stuck", "zero", "flagged steps", "last reading"]
    if wide.empty:
        return pd.DataFrame(columns=columns)
    flags = flag(wide.to_numpy(dtype=float), stuck_steps=stuck_steps(step)).flags
    rows = []
    for j, sensor in enumerate(wide.columns):
        column = flags[:, j]
        if not column.any():
            continue
        seen = wide[sensor].dropna()
        rows.append({"sensor": sensor, "missing": int(((column & MISSING) > 0).sum()),
                     "stuck": int(((column & STUCK) > 0).sum()),
                     "zero": int(((column & ZERO) > 0).sum()),
                     "flagged steps": int((column > 0).sum()),
                     "last reading": seen.index[-1] if len(seen) else pd.NaT})
    return pd.DataFrame(rows, columns=columns).sort_values(
        "flagged steps", ascending=False).reset_index(drop=True)


def horizon_rmse(versions: list[Any], horizons: list[int]) -> pd.DataFrame:
    """Pooled RMSE over steps 1..h of every version (rows) at each horizon (columns)."""
    rows = [{"model": f"{v.model} v{v.version}" + (" (champion)" if v.is_champion else ""),
             **{f"{h} step{'s' if h > 1 else ''}": v.metrics.get(f"rmse_pooled@{h}")
                for h in horizons}} for v in versions]
    board = pd.DataFrame(rows)
    last = board.columns[-1]
    return board.sort_values(last, na_position="last").reset_index(drop=True)


# --- the page -------------------------------------------------------------------------------

def page(ctx: PageContext) -> None:
    """The section the traffic TASK names as `page=`."""
    st.header(":material/traffic: Operations view")
    if ctx.champion is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` first.")
        return
    forecasts = latest_forecasts(ctx)
    if forecasts.empty:
        st.info(f"No forecasts yet: run `verticals score {ctx.task.name}`.")
        return
    step = step_of(ctx)
    horizons = sorted(int(h) for h in forecasts["horizon"].unique())
    left, right = st.columns(2)
    horizon = left.selectbox("Horizon", horizons, key="flow_horizon",
                             format_func=lambda h: f"+{h * step // pd.Timedelta('1min')} min")
    threshold = right.number_input("Alert when predicted speed is this % below usual", 5.0,
                                   90.0, 30.0, step=5.0, key="flow_threshold")
    at_h = forecasts[forecasts["horizon"] == horizon].set_index("entity_key")
    origin = pd.Timestamp(forecasts["as_of"].max())
    label = f"at {origin + horizon * step:%Y-%m-%d %H:%M} (+{horizon} step(s))"

    graph = sensor_graph(ctx)
    sensors, adjacency = graph if graph else (sorted(at_h.index), np.zeros((len(at_h),) * 2))
    figure = graph_figure(sensors, adjacency, spectral_layout(adjacency), at_h["score"],
                          below_usual(at_h.reset_index()).set_axis(at_h.index), label)
    st.plotly_chart(figure, width="stretch", key="flow_graph")
    links = int(((adjacency + adjacency.T) > 0).sum() // 2)
    st.caption(f"{len(sensors)} sensors, {links} links (the adjacency stored with the "
               "champion; a layout from its Laplacian), coloured by predicted speed."
               + ("" if links else " No links were stored: sensors sit on a circle."))

    st.subheader("Congestion alerts")
    alerts = congestion_alerts(forecasts, float(threshold))
    if alerts.empty:
        st.success(f"No sensor is forecast {threshold:.0f}% or more below its usual speed.")
    else:
        st.dataframe(alerts, hide_index=True, column_config={
            c: st.column_config.NumberColumn(format="%.1f")
            for c in ("predicted speed", "usual speed", "below usual (%)")})
        st.caption("Usual speed: the sensor's typical speed at that time of day in training.")

    st.subheader("Sensor forecast")
    worst = alerts["sensor"].iloc[0] if len(alerts) else sensors[0]
    choices = sorted(forecasts["entity_key"].unique())
    sensor = st.selectbox("Sensor", choices, index=choices.index(worst), key="flow_sensor")
    rows = forecasts[forecasts["entity_key"] == sensor]
    past = sensor_history(ctx, sensor, HISTORY_STEPS)
    known = past["value"].dropna()
    last = float(known.iloc[-1]) if len(known) else float(rows["score"].iloc[0])
    path = forecast_path(rows, last, transform="none", freq=ctx.task.kind.freq)
    st.plotly_chart(fan_chart(past, path, title=f"{sensor}: speed and forecast",
                              value_name="speed"), width="stretch", key="flow_fan")
    st.caption("The line is the champion's forecast, the band its 80% interval (from its "
               "held-out errors at each horizon).")

    st.subheader("Flagged sensors")
    steps = int(pd.Timedelta(hours=HEALTH_HOURS) / step)
    flagged = sensor_flags(recent_matrix(ctx, sensors, steps), step)
    if flagged.empty:
        st.success(f"No sensor flagged in the last {HEALTH_HOURS} h of stored readings.")
    else:
        st.dataframe(flagged, hide_index=True)
        st.caption(f"Last {HEALTH_HOURS} h of stored readings: missing, stuck (one value for "
                   f"{stuck_steps(step)} steps or more) and zero speeds are masked out of the "
                   "metrics and imputed for the models.")

    st.subheader("RMSE per horizon (pooled over steps 1..h)")
    versions = ctx.query("versions")
    st.dataframe(horizon_rmse(versions, horizons), hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.3f") for c in
        [f"{h} step{'s' if h > 1 else ''}" for h in horizons]})
    st.caption("Held-out test part (the last 20% of time); lower is better.")
