"""Drift over batches: PSI per feature per scored batch against the training reference."""

from __future__ import annotations

import streamlit as st

from core.monitor import PSI_FLAG
from core.page import PageContext
from dashboards.components import charts


def drift_section(ctx: PageContext) -> None:
    """The Drift tab."""
    frame = ctx.query("drift_by_batch")
    if frame.empty:
        st.info(f"No drift reports yet: `verticals score {ctx.task.name}` writes one per batch.",
                icon=":material/monitoring:")
        return
    frame["batch"] = [f"run {r} · batch {b}" for r, b in zip(frame["run_id"], frame["batch"],
                                                             strict=True)]
    st.plotly_chart(charts.psi_heatmap(frame, "batch", "scored batch"),
                    key=f"{ctx.task.slug}-drift-heatmap")
    st.caption(f"Population stability index of each feature in each scored batch against the "
               f"champion's training reference; {PSI_FLAG} and above (red) is a material shift.")
    last = frame[frame["batch"] == frame["batch"].iloc[-1]]
    flagged = last[last["psi"] >= PSI_FLAG].sort_values("psi", ascending=False)
    if flagged.empty:
        st.success("No feature drifted in the last batch.", icon=":material/check_circle:")
    else:
        st.warning(f"{len(flagged)} feature(s) drifted in the last batch: "
                   + ", ".join(f"{f} (PSI {p:.2f})" for f, p in zip(flagged["feature"],
                                                                   flagged["psi"], strict=True)),
                   icon=":material/warning:")
