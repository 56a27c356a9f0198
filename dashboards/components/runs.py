"""Run history: every pipeline run of a Task with status, counts, duration and error."""

from __future__ import annotations

import streamlit as st

from core.page import PageContext
from dashboards.components import charts
from dashboards.components.formats import readable_columns, seconds
from dashboards.components.quarantine import quarantine_browser


def run_history(ctx: PageContext) -> None:
    """The Runs tab."""
    runs = ctx.query("run_history")
    if runs.empty:
        st.info(f"No pipeline runs yet for {ctx.task.name}.", icon=":material/history:")
        return
    st.plotly_chart(charts.runs_chart(runs), key=f"{ctx.task.slug}-runs")
    st.caption("Duration of each pipeline run (ingest, train, score…) over time, by status.")
    st.dataframe(readable_columns(runs.assign(duration_s=[seconds(v) for v in runs["duration_s"]])
                                  .rename(columns={"duration_s": "duration"})),
                 hide_index=True, height=300)
    quarantine_browser(ctx)
