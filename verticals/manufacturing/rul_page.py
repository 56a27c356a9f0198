"""Remaining useful life's own dashboard section: the fleet ranked by the risk of failing within
the planning lead time, one unit's sensor trends with its predicted end of life, RMSE / MAE /
PHM08 per candidate, and predicted against true RUL where a unit's failure cycle is stored."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.kinds.base import PRIMARY_OUTPUT
from core.kinds.sequence import SequenceRegression
from core.kinds.sequence_windows import risk_budget

if TYPE_CHECKING:
    from core.page import PageContext
    from core.store.queries import ModelSummary

FLEET_CHART_UNITS = 40  # the chart shows the riskiest; the table lists every scored unit
TREND_SENSORS = 4  # sensors drawn by default: those that move most over the unit's life
RISK_SCALE = "YlOrRd"
# What the champion's training did with a unit: the truth panel's groups, cleanest first.
UNSEEN = "never trained on (e.g. test units)"
HELD_OUT = "held out from the fit (validation)"
FITTED = "fitted on (its training data)"
P_FAIL, P_FAIL_BY_THEN = "P(fail in lead time)", "P(fail before overhaul)"


# --- data access (through the PageContext's named, cached queries) -------------------------


def sequence_kind(ctx: PageContext) -> SequenceRegression:
    """The Task's Kind, whose lead time, RUL cap, cuts and decisions the page explains."""
    kind = ctx.task.kind
    if not isinstance(kind, SequenceRegression):
        raise TypeError(f"the remaining-useful-life page draws a SequenceRegression Task; "
                        f"{ctx.task.name} has a {kind.name} Kind")
    return kind


def with_payload(rows: pd.DataFrame) -> pd.DataFrame:
    """Ledger rows with typed numbers and the decision fields of the payload as columns
    (p_fail, recommended_step, p_fail_by_then, cycles, note)."""
    payload = [json.loads(p) if isinstance(p, str) else {} for p in rows["payload"]]
    return rows.assign(
        step=rows["step"].astype(int),
        score=rows["score"].astype(float), lower=rows["lower"].astype(float),
        upper=rows["upper"].astype(float),
        p_fail=[float(p.get("p_fail_within_lead", np.nan)) for p in payload],
        recommended_step=pd.array([p.get("recommended_step") for p in payload], dtype="Int64"),
        p_fail_by_then=[float(p.get("p_fail_by_recommended_step", np.nan)) for p in payload],
        cycles=pd.array([p.get("cycles") for p in payload], dtype="Int64"),
        note=[p.get("note", "") for p in payload])


def fleet_rows(ctx: PageContext) -> pd.DataFrame:
    """The champion's primary-output row of each unit at its latest scored cycle, with its
    label (the decision), however many cycles each unit was scored at; shortest RUL first,
    so the store's row cap would drop the healthiest units."""
    return with_payload(ctx.query("latest_steps", ctx.champion.id, order="score_asc"))


def unit_history(ctx: PageContext, unit: str) -> pd.DataFrame:
    """The champion's predictions of one unit at every cycle it was scored at, oldest first."""
    return with_payload(ctx.query("step_predictions", ctx.champion.id, unit))


def failure_cycles(ctx: PageContext, units: list[str]) -> pd.DataFrame:
    """One row per unit: stored cycles (`rows`) and the stored failure cycle (NaN while in
    service). The label repeats on a unit's rows, so its per-unit mean is the failure cycle:
    one grouped query instead of one per unit."""
    kind = ctx.task.kind
    counts = ctx.input_query("category_counts", kind.entity, filters={kind.entity: units},
                             target=kind.label_columns[0], limit=max(len(units), 1))
    return (counts.rename(columns={"value": "unit", "target_rate": "failure"})
            .astype({"unit": str}).set_index("unit").reindex(units))


def sensor_trends(ctx: PageContext, unit: str, sensors: list[str]) -> pd.DataFrame:
    """The unit's stored readings of `sensors` (up to the store's row cap), cycle x sensor."""
    kind = ctx.task.kind
    parts = {s: ctx.query("entity_history", ctx.table.name, kind.entity, unit,
                          kind.step_column, s).set_index(kind.step_column)[s]
             for s in sensors}
    return pd.DataFrame(parts).sort_index()


# --- what the page shows (pure functions of frames) -------------------------------------------


def fleet_frame(latest: pd.DataFrame) -> pd.DataFrame:
    """Units (one row each, at their latest scored cycle) riskiest first: highest P(fail
    within the lead time), then the shortest RUL."""
    ranked = latest.sort_values(["p_fail", "score", "entity_key"],
                                ascending=[False, True, True], kind="stable")
    return ranked.reset_index(drop=True)


def fleet_table(fleet: pd.DataFrame) -> pd.DataFrame:
    """The fleet as shown: unit, cycle, RUL and its 80% interval, P(fail in lead time), the
    decision (the ledger's label, as the predictor wrote it), the cycle to overhaul at with
    P(failure before it), and the predictor's note."""
    return pd.DataFrame({
        "unit": fleet["entity_key"], "cycle": fleet["step"],
        "RUL (cycles)": fleet["score"], "RUL low (10%)": fleet["lower"],
        "RUL high (90%)": fleet["upper"], P_FAIL: fleet["p_fail"],
        "decision": fleet["label"], "overhaul at cycle": fleet["recommended_step"],
        P_FAIL_BY_THEN: fleet["p_fail_by_then"], "note": fleet["note"]})


def fleet_figure(fleet: pd.DataFrame, lead_time: int) -> go.Figure:
    """RUL with its 80% interval per unit, riskiest at the top, coloured by P(fail)."""
    rows = fleet.iloc[::-1]  # plotly draws the first category at the bottom
    figure = go.Figure(go.Scatter(
        x=rows["score"], y=rows["entity_key"], mode="markers", name="RUL",
        error_x={"type": "data", "symmetric": False, "array": rows["upper"] - rows["score"],
                 "arrayminus": rows["score"] - rows["lower"], "color": "#8c959f"},
        marker={"size": 11, "color": rows["p_fail"], "colorscale": RISK_SCALE, "cmin": 0,
                "cmax": 1, "colorbar": {"title": "P(fail)"}, "line": {"width": 1,
                                                                       "color": "#333"}},
        customdata=np.c_[rows["lower"], rows["upper"], rows["p_fail"], rows["step"]],
        hovertemplate=("%{y} at cycle %{customdata[3]}: RUL %{x:.0f} (80%: "
                       "%{customdata[0]:.0f}–%{customdata[1]:.0f}), P(fail) "
                       "%{customdata[2]:.1%}<extra></extra>")))
    figure.add_vline(x=lead_time, line_dash="dash", line_color="#cf222e",
                     annotation_text=f"lead time {lead_time}", annotation_position="top")
    figure.update_layout(height=140 + 22 * len(rows), template="plotly_white",
                         xaxis_title="remaining useful life (cycles)",
                         yaxis={"type": "category"}, showlegend=False,
                         margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


def moving_sensors(trends: pd.DataFrame, count: int) -> list[str]:
    """The `count` sensors that change most over the unit's cycles (|correlation| with the
    cycle), so the default view shows its degradation, not its flat sensors."""
    cycles = pd.Series(trends.index.to_numpy(dtype=float), index=trends.index)
    strength = trends.apply(lambda s: abs(s.corr(cycles)) if s.nunique() > 1 else 0.0)
    return strength.fillna(0.0).sort_values(ascending=False, kind="stable").index[:count].tolist()


def unit_figure(trends: pd.DataFrame, history: pd.DataFrame, failure: float,
                unit: str) -> go.Figure:
    """One row per sensor over cycles, the predicted failure cycle (latest cycle + RUL) and
    its 80% band shaded on each, and a last row with the RUL predicted at every scored cycle
    (with its interval) against the true RUL when the failure cycle is stored."""
    sensors = list(trends.columns)
    figure = make_subplots(rows=len(sensors) + 1, cols=1, shared_xaxes=True,
                           vertical_spacing=0.03,
                           subplot_titles=[*sensors, "predicted RUL (cycles)"])
    for i, sensor in enumerate(sensors, start=1):
        figure.add_trace(go.Scatter(x=trends.index, y=trends[sensor], mode="lines",
                                    name=sensor, line={"width": 1.5}), row=i, col=1)
    last = history.iloc[-1]
    for i in range(1, len(sensors) + 1):
        label = {"annotation_text": "predicted failure (80%)",
                 "annotation_position": "top left"} if i == 1 else {}
        figure.add_vrect(x0=last["step"] + last["lower"], x1=last["step"] + last["upper"],
                         fillcolor="#cf222e", opacity=0.12, line_width=0, row=i, col=1,
                         **label)
        figure.add_vline(x=last["step"] + last["score"], line_dash="dash",
                         line_color="#cf222e", row=i, col=1)
    figure.add_trace(go.Scatter(
        x=history["step"], y=history["score"], mode="lines+markers", name="predicted RUL",
        error_y={"type": "data", "symmetric": False, "array": history["upper"] -
                 history["score"], "arrayminus": history["score"] - history["lower"]},
        hovertemplate="cycle %{x}: RUL %{y:.0f}<extra></extra>"), row=len(sensors) + 1, col=1)
    if np.isfinite(failure):
        cycles = np.r_[trends.index.min() if len(trends) else history["step"].min(), failure]
        figure.add_trace(go.Scatter(x=cycles, y=failure - cycles, mode="lines",
                                    name="true RUL", line={"dash": "dot", "color": "#1a7f37"}),
                         row=len(sensors) + 1, col=1)
    figure.update_layout(height=150 * len(sensors) + 260, template="plotly_white",
                         title=f"{unit}: sensor readings and predicted end of life",
                         showlegend=False, margin={"l": 10, "r": 10, "t": 60, "b": 10})
    figure.update_xaxes(title_text="cycle", row=len(sensors) + 1, col=1)
    return figure


def candidate_frame(versions: list[ModelSummary]) -> pd.DataFrame:
    """One row per model version, best RMSE first: its held-out RMSE, MAE, PHM08 and 80%
    coverage, and when and on what it was trained."""
    rows = [{"version": v.version, "model": v.model, "champion": v.is_champion,
             "RMSE": v.metrics.get("rmse"), "MAE": v.metrics.get("mae"),
             "PHM08": v.metrics.get("phm08"), "80% coverage": v.metrics.get("coverage80"),
             "held-out units": len(v.params.get("valid_units", [])),
             "trained": trained(v), "profile": v.profile, "train windows": v.train_rows,
             "fit (s)": v.params.get("fit_seconds")} for v in versions]
    board = pd.DataFrame(rows, columns=["version", "model", "champion", "RMSE", "MAE", "PHM08",
                                        "80% coverage", "held-out units", "trained", "profile",
                                        "train windows", "fit (s)"])
    return board.sort_values(["RMSE", "version"], na_position="last").reset_index(drop=True)


def candidate_figure(board: pd.DataFrame) -> go.Figure:
    """RMSE and MAE (cycles) beside PHM08 per version; the champion darker."""
    names = [f"v{v} {m}" for v, m in zip(board["version"], board["model"], strict=True)]
    figure = make_subplots(rows=1, cols=2, subplot_titles=["RMSE and MAE (cycles)",
                                                           "PHM08 (lower is better)"])
    champion = board["champion"].to_numpy(dtype=bool)
    for metric, colour in (("RMSE", "#0969da"), ("MAE", "#54aeff")):
        figure.add_bar(x=names, y=board[metric], name=metric, row=1, col=1,
                       marker={"color": colour, "opacity": np.where(champion, 1.0, 0.55)},
                       texttemplate="%{y:.1f}", textposition="outside", cliponaxis=False)
    figure.add_bar(x=names, y=board["PHM08"], name="PHM08", row=1, col=2,
                   marker={"color": "#bf8700", "opacity": np.where(champion, 1.0, 0.55)},
                   texttemplate="%{y:.1f}", textposition="outside", cliponaxis=False)
    figure.update_layout(height=320, template="plotly_white", barmode="group",
                         margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def training_groups(model: ModelSummary, units: pd.Series) -> np.ndarray:
    """What the model's training did with each unit: FITTED, HELD_OUT or UNSEEN, from the
    fit and validation units its params name. A version refit on all units after the
    held-out fit (params "refit") was fitted on its validation units too. A version whose
    params predate `fit_units` counts every unit it did not hold out as fitted: it may have
    been."""
    held = set(model.params.get("valid_units") or [])
    fitted = model.params.get("fit_units")
    in_fit = units.isin(fitted) if fitted is not None else ~units.isin(held)
    if model.params.get("refit"):
        in_fit, held = in_fit | units.isin(held), set()
    return np.select([units.isin(held), in_fit], [HELD_OUT, FITTED], UNSEEN).astype(object)


def truth_frame(ctx: PageContext, fleet: pd.DataFrame, failures: pd.DataFrame) -> pd.DataFrame:
    """Units whose failure cycle is stored, at their latest scored cycle, with the true RUL
    (`actual`, as the Kind defines it: failure cycle - cycle, uncapped) and what the
    champion's training did with the unit (`group`)."""
    kind = sequence_kind(ctx)
    known = failures["failure"].dropna()
    stored = pd.DataFrame({kind.entity: known.index, kind.label_columns[0]: known.to_numpy()})
    # outcomes, not realised: the panel shows fitted units too (grey), the live gate never.
    realised = kind.outcomes(stored, fleet.assign(output=PRIMARY_OUTPUT))
    return realised.assign(group=training_groups(ctx.champion, realised["entity_key"]))


def truth_figure(truth: pd.DataFrame, cap: float) -> go.Figure:
    """Predicted against true RUL with the 80% interval; the diagonal is a perfect forecast."""
    figure = go.Figure()
    for group, colour in ((UNSEEN, "#1a7f37"), (HELD_OUT, "#0969da"), (FITTED, "#8c959f")):
        rows = truth[truth["group"] == group]
        if rows.empty:
            continue
        figure.add_trace(go.Scatter(
            x=rows["actual"], y=rows["score"], mode="markers", name=group,
            text=rows["entity_key"], marker={"size": 10, "color": colour},
            error_y={"type": "data", "symmetric": False, "array": rows["upper"] - rows["score"],
                     "arrayminus": rows["score"] - rows["lower"], "color": colour},
            hovertemplate="%{text}: true %{x:.0f}, predicted %{y:.0f}<extra></extra>"))
    top = float(np.nanmax([truth["actual"].max(), truth["upper"].max(), 1.0]))
    figure.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfect",
                                line={"dash": "dash", "color": "#333"}, hoverinfo="skip"))
    figure.add_hline(y=cap, line_dash="dot", line_color="#bf8700",
                     annotation_text=f"training cap {cap:.0f}")
    figure.update_layout(height=420, template="plotly_white", xaxis_title="true RUL (cycles)",
                         yaxis_title="predicted RUL (cycles)",
                         margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


def trained(model: ModelSummary) -> str:
    return f"{model.created_at:%Y-%m-%d %H:%M} UTC"


def champion_label(model: ModelSummary) -> str:
    return f"{model.model} v{model.version} (champion, trained {trained(model)})"


# --- the page -------------------------------------------------------------------------------


def page(ctx: PageContext) -> None:
    """The section the remaining-useful-life TASK names as `page=`."""
    st.header(":material/engineering: Fleet remaining useful life")
    if ctx.champion is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` first.")
        return
    latest = fleet_rows(ctx)
    if latest.empty:
        st.info(f"The champion v{ctx.champion.version} has scored nothing yet: run "
                f"`verticals score {ctx.task.name}`.")
        return
    fleet = fleet_frame(latest)
    failures = failure_cycles(ctx, fleet["entity_key"].tolist())
    fleet_section(ctx, fleet)
    unit_section(ctx, fleet, failures)
    candidate_section(ctx)
    truth_section(ctx, fleet, failures)


def fleet_section(ctx: PageContext, fleet: pd.DataFrame) -> None:
    kind = sequence_kind(ctx)
    lead = kind.lead_time
    st.subheader("Fleet ranked by risk")
    shown = fleet.head(FLEET_CHART_UNITS)
    st.plotly_chart(fleet_figure(shown, lead), width="stretch", key="rul-fleet-chart")
    st.caption(
        f"The {len(shown)} of {len(fleet)} units most likely to fail within the lead time of "
        f"{lead} cycles, by {champion_label(ctx.champion)}: the dot is the median remaining "
        "useful life in cycles from each unit's latest scored cycle, the bar its 80% interval "
        "(calibrated on held-out units), the colour P(failure within the lead time).")
    table = fleet_table(fleet)
    st.dataframe(table, hide_index=True, key="rul-fleet-table", column_config={
        "RUL (cycles)": st.column_config.NumberColumn(format="%.1f"),
        "RUL low (10%)": st.column_config.NumberColumn(format="%.1f"),
        "RUL high (90%)": st.column_config.NumberColumn(format="%.1f"),
        P_FAIL: st.column_config.ProgressColumn(P_FAIL, min_value=0.0, max_value=1.0,
                                                format="%.3f"),
        "overhaul at cycle": st.column_config.NumberColumn(format="%d"),
        P_FAIL_BY_THEN: st.column_config.NumberColumn(format="%.3f")})
    planned = int((table["decision"] == kind.decisions[1]).sum())
    budget = risk_budget(kind.failure_cost, kind.overhaul_cost)
    st.caption(
        f"Every scored unit, riskiest first. Overhaul at cycle: the latest cycle at which the "
        f"chance of failing first is still at most {budget:.1%}, the break-even of an early "
        f"overhaul ({kind.overhaul_cost:,.0f}) against a failure in service "
        f"({kind.failure_cost:,.0f}), and never sooner than the lead time. "
        f"\"{kind.decisions[1]}\": that cycle is the earliest one planning allows, so planning "
        f"must start now — {planned} of {len(table)} units; a unit whose P(fail before "
        f"overhaul) is still above {budget:.1%} is at risk even so. A note marks a unit with "
        f"fewer than {kind.window} cycles, scored from a padded window.")


def unit_section(ctx: PageContext, fleet: pd.DataFrame, failures: pd.DataFrame) -> None:
    st.subheader("Unit sensor trends and predicted end of life")
    units = fleet["entity_key"].tolist()
    unit = st.selectbox("Unit", units, key="rul-unit", help="riskiest first")
    sensors = list(ctx.champion.params.get("sensors") or [])
    if not sensors:
        st.info(f"{champion_label(ctx.champion)} stored no sensor list to draw.")
        return
    trends = sensor_trends(ctx, unit, sensors)
    chosen = st.multiselect("Sensors", sensors, default=moving_sensors(trends, TREND_SENSORS),
                            key=f"rul-sensors-{unit}",
                            help="the sensors the champion reads; the default shows the four "
                                 "that change most over this unit's cycles")
    history = unit_history(ctx, unit)
    failure = float(failures["failure"].astype(float).get(unit, np.nan))
    latest = history.iloc[-1]
    st.plotly_chart(unit_figure(trends[chosen], history, failure, unit), width="stretch",
                    key="rul-unit-chart")
    rows = failures["rows"].get(unit)
    stored = int(rows) if pd.notna(rows) else len(trends)  # NaN: the unit's rows are gone
    end = (f"its failure is stored at cycle {int(failure)}" if np.isfinite(failure)
           else "it is still in service (no failure stored)")
    st.caption(
        f"{unit}: {stored} stored cycles, {len(history)} scored; {end}. At cycle "
        f"{int(latest['step'])} {champion_label(ctx.champion)} predicts {latest['score']:.0f} "
        f"cycles left (80%: {latest['lower']:.0f}–{latest['upper']:.0f}), so failure near "
        f"cycle {latest['step'] + latest['score']:.0f} (shaded: "
        f"{latest['step'] + latest['lower']:.0f}–{latest['step'] + latest['upper']:.0f}). "
        "Raw sensor readings; the model reads them z-scored within the operating condition."
        + (f" {latest['note'].capitalize()}." if latest["note"] else ""))


def candidate_section(ctx: PageContext) -> None:
    st.subheader("Candidates: RMSE, MAE and PHM08")
    board = candidate_frame(ctx.query("versions"))
    st.plotly_chart(candidate_figure(board), width="stretch", key="rul-candidates-chart")
    st.dataframe(board, hide_index=True, key="rul-candidates", column_config={
        "version": st.column_config.NumberColumn(format="v%d"),
        "champion": st.column_config.CheckboxColumn("champion"),
        **{c: st.column_config.NumberColumn(format="%.2f") for c in ("RMSE", "MAE", "PHM08")},
        "80% coverage": st.column_config.NumberColumn(format="%.2f"),
        "fit (s)": st.column_config.NumberColumn(format="%.1f")})
    kind = sequence_kind(ctx)
    st.caption(
        f"Each version's figures on its held-out units (whole units kept out of the fit, cut "
        f"at {kind.cuts} random cycles each where a test unit could stop: a true RUL of at "
        f"most {kind.cut_horizon} cycles), against the true, uncapped RUL (the model learns it "
        f"capped at {kind.rul_cap}). RMSE and MAE in cycles; PHM08 sums over those units exp(d/10)"
        " - 1 for late and exp(-d/13) - 1 for early predictions (d = predicted - true), so "
        "lateness costs more; lower is better for all three. 80% coverage: share of true RUL "
        "inside the interval.")


def truth_section(ctx: PageContext, fleet: pd.DataFrame, failures: pd.DataFrame) -> None:
    st.subheader("Predicted against true RUL")
    kind = sequence_kind(ctx)
    truth = truth_frame(ctx, fleet, failures)
    if truth.empty:
        st.info("No scored unit has a stored failure cycle: ingest units with a known failure "
                "(C-MAPSS test units with their RUL file) and score them to compare.")
        return
    tiles = st.columns(3)
    tiles[0].metric("Units with a known failure", f"{len(truth)}",
                    help="scored units whose failure cycle is stored")
    # The cleanest comparison there is: units never trained on, else the validation units.
    shown = next((g for g in (UNSEEN, HELD_OUT) if (truth["group"] == g).any()), None)
    if shown is not None:
        rows = truth[truth["group"] == shown]
        what = "units never trained on" if shown == UNSEEN else "held-out units"
        figures = kind.live_metrics(rows)
        tiles[1].metric(f"RMSE on {what} (cycles)", f"{figures['rmse']:.1f}",
                        help=f"{len(rows)} units ({shown}), at their latest scored cycle, "
                             "against the uncapped true RUL")
        tiles[2].metric(f"MAE on {what} (cycles)", f"{figures['mae']:.1f}")
    st.plotly_chart(truth_figure(truth, float(kind.rul_cap)), width="stretch",
                    key="rul-truth-chart")
    st.caption(
        f"Each unit at its latest scored cycle, by {champion_label(ctx.champion)}: true RUL = "
        "stored failure cycle - that cycle (uncapped; C-MAPSS test units: last cycle + the RUL "
        "file). Green: units it never trained on (training uses units run to failure "
        "only, so units truncated before their known failure are test units); blue: the "
        "units it held out of its fit for validation; grey: units it was fitted on, whose "
        "errors flatter it (a version refit on all units after validating counts its "
        "validation units here). The model learns RUL capped at "
        f"{kind.rul_cap}: units further from failure read low by design.")
    st.dataframe(pd.DataFrame({
        "unit": truth["entity_key"], "cycle": truth["step"], "true RUL": truth["actual"],
        "predicted RUL": truth["score"], "error": truth["score"] - truth["actual"],
        "inside 80%": (truth["lower"] <= truth["actual"]) & (truth["actual"] <= truth["upper"]),
        "group": truth["group"]}), hide_index=True, key="rul-truth-table", column_config={
        c: st.column_config.NumberColumn(format="%.1f")
        for c in ("true RUL", "predicted RUL", "error")})
