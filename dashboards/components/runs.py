"""Run history: every pipeline run of a Task with status, counts, duration and error."""

from __future__ import annotations

import streamlit as st

from core.page import PageContext
from dashboards.components import charts


def run_history(ctx: PageContext) -> None:
    """The Runs tab."""
    runs = ctx.query("run_history")
    if runs.empty:
        st.info(f"No pipeline runs yet for {ctx.task.name}.", icon=":material/history:")
        return
    st.plotly_chart(charts.runs_chart(runs), key=f"{ctx.task.slug}-runs")
    st.caption("Duration of each pipeline run (ingest, train, score…) over time, by status.")
    st.dataframe(runs, hide_index=True, height=300,
                 column_config={"duration_s": st.column_config.NumberColumn("duration (s)",
                                                                             format="%.1f")})
    rejected = ctx.query("quarantine_rules")
    if not rejected.empty:
        st.markdown("**Quarantined rows** — why ingest rejected them")
        st.dataframe(rejected, hide_index=True)
