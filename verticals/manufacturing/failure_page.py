"""Machine failure prediction's own dashboard section: the fleet's risks by mode, the ranked
work-order queue (status changes written with the operator's name), per-mode recall and
precision, the cost curve with the chosen cut-off, and a torque / tool-wear what-if."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.decision import Costs, best_threshold, cost_curve
from core.kinds.base import PRIMARY_OUTPUT
from core.kinds.tabular_predictor import decision_settings
from core.store import work_orders
from core.store.audit import default_actor
from core.store.work_orders import TRANSITIONS, WorkOrderError
from verticals.manufacturing import failure_data as data
from verticals.manufacturing.failure_prediction import COST_MISSED, COST_NEEDLESS

if TYPE_CHECKING:
    from core.page import PageContext

FAILURE = "failure"  # how the page names the primary output (machine failure)
FLEET_ROWS = 200
MACHINE_CHOICES = 500
# The two levers of the what-if: the strain and wear figures a planner can act on.
TORQUE, WEAR = "torque_nm", "tool_wear_min"
METRIC_KEY = re.compile(r"^(recall|precision)(?:_(.+))?$")


def render(ctx: PageContext) -> None:
    """The section the failure-prediction TASK names as `page=`."""
    if ctx.champion is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` first.")
        return
    st.header(":material/build: Work-order queue")
    order_queue(ctx)
    st.header(":material/factory: Fleet risk by failure mode")
    fleet_table(ctx)
    st.header(":material/target: Recall and precision by mode")
    mode_metrics(ctx)
    st.header(":material/payments: Cost over thresholds")
    cost_section(ctx)
    st.header(":material/tune: What-if: torque and tool wear")
    what_if(ctx)


def _output_name(output: str) -> str:
    return FAILURE if output == PRIMARY_OUTPUT else output


# --- fleet -------------------------------------------------------------------------------------


def fleet_table(ctx: PageContext) -> None:
    """The latest probability of failure and of each mode per machine, riskiest first."""
    wide = work_orders.fleet(ctx.engine, ctx.task.name, ctx.champion.id, FLEET_ROWS)
    if wide.empty:
        st.info(f"Nothing scored yet: run `verticals score {ctx.task.name}`.")
        return
    declared = [o for o in ctx.task.kind.outputs if o in wide.columns]
    wide = wide[declared + [c for c in wide.columns if c not in declared]]
    shown = wide.rename(columns=_output_name).rename_axis("machine").reset_index()
    st.caption(f"The {len(shown)} machines with the highest failure probability "
               f"(champion v{ctx.champion.version}); a column per failure mode it predicts.")
    st.dataframe(shown, hide_index=True, key="fleet-table", column_config={
        c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="%.3f")
        for c in shown.columns if c != "machine"})


# --- work orders -------------------------------------------------------------------------------


def order_queue(ctx: PageContext) -> None:
    """Status changes first (so the table below shows them), then the ranked queue and the
    selected order's history."""
    task = ctx.task.name
    operator = st.text_input("Operator", value=default_actor(), key="orders-operator",
                             help="recorded with every status change")
    queue = work_orders.queue(ctx.engine, task)
    active = queue[queue["status"] != "done"]
    if queue.empty:
        st.info("No work orders: scoring opens one for every run the champion says to stop.")
        return
    if len(active):
        left, middle, right, go_column = st.columns([2, 2, 3, 1], vertical_alignment="bottom")
        entity = left.selectbox("Order of machine", active["entity_key"].tolist(),
                                key="orders-entity")
        current = active.loc[active["entity_key"] == entity, "status"].iloc[0]
        status = middle.selectbox(f"Move from {current} to", list(TRANSITIONS[current]),
                                  key=f"orders-status-{current}")
        note = right.text_input("Note", key="orders-note", placeholder="slot booked, why…")
        if go_column.button("Apply", key="orders-apply", type="primary"):
            try:
                work_orders.set_status(ctx.engine, task, entity, status, operator, note or None)
                st.success(f"Order of {entity}: {current} → {status} (by {operator.strip()})")
            except WorkOrderError as error:
                st.error(str(error))
        queue = work_orders.queue(ctx.engine, task)
    else:
        entity = None
    shown = queue.assign(rank=queue["rank"].astype("Int64"))[[
        "rank", "entity_key", "status", "probability", "mode", "expected_cost_of_waiting",
        "updated_at"]].rename(columns={"entity_key": "machine",
                                       "expected_cost_of_waiting": "expected cost of waiting"})
    st.caption("Ranked by expected cost of waiting = failure probability × cost of a missed "
               "failure; done orders last.")
    st.dataframe(shown, hide_index=True, key="orders-table", column_config={
        "probability": st.column_config.NumberColumn(format="%.3f"),
        "expected cost of waiting": st.column_config.NumberColumn(format="%.0f")})
    if entity is not None:
        events = work_orders.history(ctx.engine, task, entity)
        st.caption(f"History of machine {entity}")
        st.dataframe(events.drop(columns=["entity_key"]), hide_index=True, key="orders-history")


# --- metrics -----------------------------------------------------------------------------------


def metric_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Recall and precision per output from a version's metrics (`recall`, `recall_TWF`, …):
    the rows that exist, failure first."""
    found: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        match = METRIC_KEY.match(key)
        if match and isinstance(value, int | float):
            found.setdefault(match.group(2) or FAILURE, {})[match.group(1)] = float(value)
    order = sorted(found, key=lambda name: (name != FAILURE, name))
    return pd.DataFrame([{"output": name, "recall": found[name].get("recall", np.nan),
                          "precision": found[name].get("precision", np.nan)} for name in order],
                        columns=["output", "recall", "precision"])


def mode_metrics(ctx: PageContext) -> None:
    table = metric_table(ctx.champion.metrics)
    if table.empty:
        st.info("The champion's metrics hold no recall or precision.")
        return
    st.caption(f"On the champion's held-out test rows (v{ctx.champion.version}, "
               f"{ctx.champion.model}).")
    st.dataframe(table, hide_index=True, key="mode-metrics")


# --- costs -------------------------------------------------------------------------------------


def _cutoff(ctx: PageContext) -> float | None:
    """The champion's cost-optimal cut-off (None for a champion of another predictor type)."""
    settings = decision_settings(ctx.champion.params, ctx.predictor)
    return None if settings is None else settings[0]


def cost_section(ctx: PageContext) -> None:
    """Mean cost per run over thresholds for the costs typed in, the champion's cut-off on it,
    and the cheapest cut-off for those costs."""
    left, right = st.columns(2)
    missed = left.number_input("Cost of a missed failure (EUR)", min_value=0.0,
                               value=COST_MISSED, step=100.0, key="cost-missed")
    needless = right.number_input("Cost of a needless stop (EUR)", min_value=0.0,
                                  value=COST_NEEDLESS, step=50.0, key="cost-needless")
    try:
        costs = Costs(float(missed), float(needless))
    except ValueError as error:
        st.error(str(error))
        return
    known = work_orders.outcomes(ctx.engine, ctx.table, ctx.task.name, ctx.champion.id,
                                 id_column=ctx.task.kind.entity, target=data.TARGET)
    y = (pd.to_numeric(known["target"]) == 1).to_numpy(dtype=int)
    if len(np.unique(y)) < 2:
        st.info("The cost curve needs scored runs with known outcomes of both kinds.")
        return
    p = known["score"].to_numpy(dtype=float)
    grid, cost = cost_curve(y, p, costs)
    best, best_cost = best_threshold(y, p, costs)
    fig = go.Figure(go.Scatter(x=grid, y=cost, mode="lines", name="mean cost per run",
                               hovertemplate="threshold %{x:.3f}: %{y:,.1f} EUR<extra></extra>"))
    fig.add_trace(go.Scatter(x=[best], y=[best_cost], mode="markers", name="cheapest",
                             marker={"size": 11, "symbol": "diamond"}))
    cutoff = _cutoff(ctx)
    tiles = st.columns(3)
    if cutoff is not None:
        chosen = float(cost_curve(y, p, costs, np.array([cutoff]))[1][0])
        fig.add_trace(go.Scatter(x=[cutoff], y=[chosen], mode="markers", name="champion's cut-off",
                                 marker={"size": 12}))
        tiles[0].metric("Champion's cut-off", f"{cutoff:.3f}")
        tiles[1].metric("Cost per run at it", f"{chosen:,.1f} EUR")
    tiles[2].metric("Cheapest cut-off for these costs", f"{best:.3f}",
                    help=f"{best_cost:,.1f} EUR per run")
    fig.update_layout(height=320, template="plotly_white", xaxis_title="stop at probability ≥",
                      yaxis_title="mean cost per run (EUR)",
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(fig, key="cost-curve")
    st.caption(f"On {len(y)} scored runs whose outcome is stored.")


# --- what-if -----------------------------------------------------------------------------------


def risks(ctx: PageContext, row: pd.DataFrame) -> dict[str, float]:
    """Output name -> the champion's probability for one raw row (failure and each mode)."""
    ledger = ctx.predictor().predict(ctx.task.feature_frame(row))
    return {_output_name(o): float(s) for o, s in zip(ledger["output"], ledger["score"],
                                                      strict=True)}


def what_if(ctx: PageContext) -> None:
    """Pick a machine, change its torque or tool wear, and watch failure and mode risks move."""
    queued = work_orders.queue(ctx.engine, ctx.task.name, "open")["entity_key"].tolist()
    stored = ctx.input_query("distinct_keys", ctx.task.kind.entity, MACHINE_CHOICES)
    keys = list(dict.fromkeys([*queued, *map(str, stored)]))
    if not keys:
        st.info(f"No machines stored: run `verticals ingest {ctx.task.name}` first.")
        return
    key = st.selectbox("Machine", keys, key="whatif-machine",
                       help="open work orders first, then stored runs")
    original = ctx.row(key)
    if original.empty:
        st.warning(f"Machine {key!r} is no longer in the store; pick another.")
        return
    left, right = st.columns(2)
    torque = left.number_input("Torque (Nm)", min_value=0.0, max_value=150.0,
                               value=float(original[TORQUE].iloc[0]), step=1.0,
                               key=f"whatif-{key}-torque")
    wear = right.number_input("Tool wear (min)", min_value=0, max_value=400,
                              value=int(original[WEAR].iloc[0]), step=5, key=f"whatif-{key}-wear")
    edited = original.copy()
    edited[TORQUE] = pd.Series([torque], index=edited.index).astype(original[TORQUE].dtype)
    edited[WEAR] = pd.Series([wear], index=edited.index).astype(original[WEAR].dtype)
    before, after = risks(ctx, original), risks(ctx, edited)
    first = st.columns(1 + min(len(after) - 1, 5))
    for column, (name, value) in zip(first, after.items(), strict=False):
        column.metric(f"{name} risk", f"{value:.2%}", delta=f"{value - before[name]:+.2%}",
                      delta_color="inverse")
    st.dataframe(pd.DataFrame({"output": list(after), "stored row": list(before.values()),
                               "what-if": list(after.values())}),
                 hide_index=True, key="whatif-risks")
