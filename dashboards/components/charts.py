"""Plotly figures the pages share: histograms from SQL bins, leaderboard, drift heatmap, runs."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from core.monitor import PSI_FLAG
from core.store.queries import ModelSummary
from dashboards.components.formats import metric_name

ACCENT = "#1f6feb"
MUTED = "#9aa4b2"
WARN = "#d29922"
BAD = "#cf222e"
GOOD = "#2da44e"
STATUS_COLOURS = {"succeeded": GOOD, "failed": BAD, "running": WARN, "interrupted": BAD}
# Plotly config for small charts: the hover toolbar would cover their bars.
SMALL = {"displayModeBar": False}


def _layout(fig: go.Figure, height: int, title: str | None = None) -> go.Figure:
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title=title, template="plotly_white",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0})
    return fig


def bins_chart(frame: pd.DataFrame, x_title: str, height: int = 260,
               colour: str = "label") -> go.Figure:
    """Bars from SQL-binned counts (columns low, high, rows and optionally a colour column)."""
    fig = go.Figure()
    groups = frame.groupby(colour, dropna=False) if colour in frame else [(None, frame)]
    for name, part in groups:
        name = name[0] if isinstance(name, tuple) else name
        fig.add_bar(x=(part["low"] + part["high"]) / 2, y=part["rows"],
                    width=(part["high"] - part["low"]) * 0.95, name=str(name) if name else "rows",
                    hovertemplate="%{x:.3f}: %{y:,} rows<extra></extra>")
    fig.update_layout(barmode="stack", xaxis_title=x_title, yaxis_title="rows",
                      showlegend=colour in frame)
    return _layout(fig, height)


def counts_chart(frame: pd.DataFrame, x: str, x_title: str, height: int = 260,
                 line_name: str = "target rate") -> go.Figure:
    """Bars of rows per value, with the target's mean (`line_name`: a rate for a 0/1 target,
    "mean speed" for a level) as a line on a second axis when present."""
    fig = go.Figure()
    fig.add_bar(x=frame[x].astype(str), y=frame["rows"], name="rows", marker_color=ACCENT)
    if "target_rate" in frame:
        fig.add_scatter(x=frame[x].astype(str), y=frame["target_rate"], name=line_name,
                        yaxis="y2", mode="lines+markers", marker_color=BAD)
        fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": line_name,
                                  "rangemode": "tozero", "showgrid": False})
    fig.update_layout(xaxis_title=x_title, yaxis_title="rows")
    return _layout(fig, height)


def leaderboard_chart(models: Sequence[ModelSummary], height: int = 260) -> go.Figure:
    """The primary metric of every version; the champion in the accent colour."""
    ordered = sorted(models, key=lambda m: m.version)
    fig = go.Figure()
    fig.add_bar(
        x=[f"v{m.version} {m.model}" for m in ordered],
        y=[m.primary_value for m in ordered],
        marker_color=[ACCENT if m.is_champion else MUTED for m in ordered],
        text=[f"{m.primary_value:.3f}" if m.primary_value is not None else "" for m in ordered],
        textposition="outside", cliponaxis=False,
        hovertemplate="%{x}: %{y:.4f}<extra></extra>",
    )
    metric = ordered[0].primary_metric if ordered else ""
    fig.update_layout(yaxis_title=metric_name(metric), showlegend=False)
    return _layout(fig, height)


def psi_bars(frame: pd.DataFrame, height: int = 260) -> go.Figure:
    """PSI per feature (columns feature, psi), flagged ones in red, with the threshold line."""
    frame = frame.sort_values("psi")
    fig = go.Figure()
    fig.add_bar(x=frame["psi"], y=frame["feature"], orientation="h",
                marker_color=[BAD if v >= PSI_FLAG else MUTED for v in frame["psi"].fillna(0)],
                hovertemplate="%{y}: PSI %{x:.3f}<extra></extra>")
    fig.add_vline(x=PSI_FLAG, line_dash="dash", line_color=BAD)
    fig.update_layout(xaxis_title="PSI", showlegend=False)
    return _layout(fig, height)


def psi_heatmap(frame: pd.DataFrame, x: str, x_title: str, height: int = 360) -> go.Figure:
    """Feature x period heatmap of PSI (columns feature, psi and `x`); 0.2 and up is a shift."""
    grid = frame.pivot_table(index="feature", columns=x, values="psi", aggfunc="max")
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=[str(c) for c in grid.columns], y=list(grid.index),
        zmin=0, zmax=max(0.3, float(grid.max().max() or 0)),
        colorscale=[[0, "#f6f8fa"], [0.1 / 0.3 * 0.66, "#ffe8a3"], [0.66, WARN], [1, BAD]],
        colorbar={"title": "PSI"}, hovertemplate="%{y} @ %{x}: PSI %{z:.3f}<extra></extra>",
        # Values in the cells while they are wide enough to read.
        texttemplate="%{z:.2f}" if len(grid.columns) <= 24 else None,
    ))
    fig.update_layout(xaxis_title=x_title, xaxis_type="category")
    return _layout(fig, max(height, 24 * len(grid.index) + 80))


def runs_chart(frame: pd.DataFrame, height: int = 260) -> go.Figure:
    """Duration of each run over time, one colour per status."""
    fig = go.Figure()
    for status, part in frame.groupby("status"):
        fig.add_scatter(x=part["started_at"], y=part["duration_s"], mode="markers",
                        name=str(status), text=part["pipeline"],
                        marker={"size": 10, "color": STATUS_COLOURS.get(str(status), MUTED)},
                        hovertemplate="%{text} run, %{y:.1f} s<extra></extra>")
    fig.update_layout(yaxis_title="duration (s)")
    return _layout(fig, height)


def reasons_chart(reasons: Sequence[dict], height: int = 200) -> go.Figure:
    """Horizontal bars of the effect of each top reason (positive pushes the score up)."""
    labels = [f"{r.get('feature')} = {r.get('value')}" for r in reasons][::-1]
    effects = [float(r.get("effect") or 0) for r in reasons][::-1]
    fig = go.Figure(go.Bar(x=effects, y=labels, orientation="h",
                           marker_color=[BAD if e > 0 else GOOD for e in effects],
                           hovertemplate="%{y}: %{x:+.3f}<extra></extra>"))
    fig.update_layout(xaxis_title="effect on the score", showlegend=False)
    return _layout(fig, height)
