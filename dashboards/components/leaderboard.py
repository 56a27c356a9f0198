"""Leaderboard: every registered model version with all its metrics, the champion marked."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.page import PageContext
from core.store.queries import ModelSummary
from dashboards.components import charts
from dashboards.components.formats import metric_name, when


def versions_frame(models: list[ModelSummary]) -> pd.DataFrame:
    """One row per version: identity, provenance, then one column per metric."""
    rows = []
    for m in models:
        row = {"version": m.version, "model": m.model, "champion": m.is_champion,
               "trained": when(m.created_at), "profile": m.profile, "dataset": m.dataset,
               "train rows": m.train_rows}
        row.update({metric_name(k): v for k, v in m.metrics.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def leaderboard(ctx: PageContext) -> None:
    """The Models tab."""
    models: list[ModelSummary] = ctx.query("versions")
    if not models:
        st.info(f"No model versions yet: run `verticals train {ctx.task.name}`.",
                icon=":material/model_training:")
        return
    primary = metric_name(models[0].primary_metric)
    st.plotly_chart(charts.leaderboard_chart(models), key=f"{ctx.task.slug}-leaderboard")
    st.caption(f"{primary} of each version on its held-out data; the champion (served by "
               "`score` and the what-if tools) in blue. Promote another with "
               f"`verticals promote {ctx.task.name} VERSION`.")
    st.dataframe(
        versions_frame(models), hide_index=True,
        column_config={"champion": st.column_config.CheckboxColumn("champion"),
                       "version": st.column_config.NumberColumn("version", format="v%d")},
    )
