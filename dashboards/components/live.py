"""Live accuracy beside the training-time figure, the Task's schedules and the champion's
history: the scheduled loop on every Task page."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from core.page import PageContext
from dashboards.components.formats import metric_name


def live_section(ctx: PageContext) -> None:
    """Live accuracy chart (the gate's metric per month and version), schedules, decisions."""
    gate = ctx.task.live_gate
    st.subheader("Live accuracy")
    live = ctx.query("live_accuracy")
    shown = live[live["metric"] == gate.metric] if len(live) else live
    if shown.empty:
        st.caption(f"No outcomes joined with predictions yet: live {metric_name(gate.metric)} "
                   "appears once the actual values arrive by ingest.")
    else:
        figure = px.line(shown.assign(version="v" + shown["version"].astype(str)), x="period",
                         y="value", color="version", markers=True,
                         labels={"value": metric_name(gate.metric), "period": "month"})
        figure.add_hline(y=gate.threshold, line_dash="dash",
                         annotation_text=f"gate {gate.threshold}")
        st.plotly_chart(figure, width="stretch")
        champion = ctx.champion
        if champion is not None:
            st.caption(f"Training-time {metric_name(champion.primary_metric)} of the champion "
                       f"v{champion.version}: {champion.primary_value:.4f}; gate: live "
                       f"{gate.metric} {'≥' if gate.higher_is_better else '≤'} "
                       f"{gate.threshold} over at least {gate.min_outcomes} outcomes.")
    st.subheader("Schedules")
    plans = ctx.query("task_schedules")
    if plans.empty:
        st.caption(f"No schedules: `verticals schedule add {ctx.task.name} score --cron ...`")
    else:
        st.dataframe(plans, hide_index=True)
    st.subheader("Champion history")
    history = ctx.query("champion_history")
    if history.empty:
        st.caption(f"No gate decisions yet: `verticals monitor {ctx.task.name}`.")
    else:
        st.dataframe(history, hide_index=True)
