"""Remaining useful life's own section (fleet, unit trends, candidates, predicted against true
RUL) with AppTest on stores filled by the pipelines from the Task's sample."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.registry import champion
from core.store.engine import make_engine, migrate
from core.store.schema import predictions
from pipelines.ingest import ingest
from pipelines.score import score
from pipelines.train import train
from verticals.manufacturing import rul_data as data
from verticals.manufacturing.remaining_useful_life import TASK
from verticals.manufacturing.rul_page import (
    FITTED,
    HELD_OUT,
    P_FAIL,
    P_FAIL_BY_THEN,
    UNSEEN,
    candidate_frame,
    fleet_frame,
    moving_sensors,
    training_groups,
)

TIMEOUT = 60
MODELS = ("window_lightgbm",)  # fast and torch-free
# Two run-to-failure units lose their last TRUNCATED cycles but keep their failure cycle: the
# store then holds "test units" as C-MAPSS's are (true RUL known, not reached).
TESTED, TRUNCATED = ("unit-001", "unit-005"), 20
LATE_UNIT, LATE_CYCLES = "unit-004", 10  # in service; its last cycles arrive after a score


def sample_frame() -> pd.DataFrame:
    frame = TASK.sample(3000, 0)
    cut = [frame.index[frame[data.UNIT] == u][-TRUNCATED:] for u in TESTED]
    return frame.drop(index=np.concatenate(cut)).reset_index(drop=True)


def fill(engine: sa.Engine, frame: pd.DataFrame) -> None:
    """Ingest all but LATE_UNIT's last cycles, train twice (two seeds: two versions), score,
    ingest the rest, score again: LATE_UNIT is scored at two cycles."""
    late = frame.index[frame[data.UNIT] == LATE_UNIT][-LATE_CYCLES:]
    early = frame.drop(index=late)
    ingest(engine, TASK, lambda: early, source="sample")
    train(engine, TASK, profile="smoke", models=MODELS)
    train(engine, TASK, profile="smoke", models=MODELS, seed=1)
    score(engine, TASK)
    ingest(engine, TASK, lambda: frame, source="sample")
    score(engine, TASK)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    home: Path = tmp_path_factory.mktemp("rul-home")
    url = f"sqlite:///{home / 'verticals.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_HOME", str(home))
        patch.delenv("VERTICALS_DB_URL", raising=False)
        engine = make_engine(url)
        migrate(engine)
        fill(engine, sample_frame())
        engine.dispose()
    return url


def section(url: str) -> None:
    from dashboards.context import make_context
    from verticals.manufacturing.remaining_useful_life import TASK
    from verticals.manufacturing.rul_page import page

    page(make_context(TASK, url))


def _open(url: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("VERTICALS_HOME", str(Path(sa.make_url(url).database).parent))
    at = AppTest.from_function(section, args=(url,), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def ledger(url: str) -> pd.DataFrame:
    """The champion's ledger rows, each unit at its latest scored cycle."""
    engine = make_engine(url)
    version = champion(engine, TASK.name)
    with engine.connect() as conn:
        rows = pd.read_sql(sa.select(predictions).where(
            predictions.c.model_version_id == version.id), conn)
    engine.dispose()
    return rows.sort_values("step").groupby("entity_key").last()


# AppTest gives a dataframe no key unless selections are on: tables are found by a column.
FLEET, CANDIDATES, TRUTH = P_FAIL, "PHM08", "true RUL"


def table(at: AppTest, column: str) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if column in df.value.columns)


def values(encoded: list | dict) -> list:
    """A plotly JSON array: a list, or numpy data base64-encoded as {"dtype", "bdata"}."""
    if isinstance(encoded, dict):
        raw = np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
        return raw.tolist()
    return list(encoded)


def chart(at: AppTest, key: str) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if key in c.proto.id)


def test_the_fleet_is_ranked_by_risk_and_shows_the_ledger(store: str,
                                                          monkeypatch: pytest.MonkeyPatch):
    at = _open(store, monkeypatch)
    fleet = table(at, FLEET)
    latest = ledger(store)
    assert sorted(fleet["unit"]) == sorted(sample_frame()[data.UNIT].unique())  # one row each
    assert fleet[P_FAIL].is_monotonic_decreasing
    shown = fleet.set_index("unit")
    payload = latest["payload"].map(json.loads)
    assert shown["cycle"].to_dict() == latest["step"].to_dict()
    assert shown["cycle"][LATE_UNIT] == (sample_frame()[data.UNIT] == LATE_UNIT).sum()
    assert shown["RUL (cycles)"].to_dict() == pytest.approx(latest["score"].to_dict())
    assert shown["RUL low (10%)"].to_dict() == pytest.approx(latest["lower"].to_dict())
    assert shown["RUL high (90%)"].to_dict() == pytest.approx(latest["upper"].to_dict())
    assert shown[P_FAIL].to_dict() == pytest.approx(
        payload.map(lambda p: p["p_fail_within_lead"]).to_dict())
    assert shown["decision"].to_dict() == latest["label"].to_dict()
    assert shown["overhaul at cycle"].astype(int).to_dict() == payload.map(
        lambda p: p["recommended_step"]).to_dict()
    assert shown[P_FAIL_BY_THEN].to_dict() == pytest.approx(
        payload.map(lambda p: p["p_fail_by_recommended_step"]).to_dict())
    # "plan overhaul" exactly when the overhaul is the earliest slot, now + the lead time,
    # which every unit over the risk budget gets.
    due = shown["overhaul at cycle"].astype(int) == shown["cycle"] + TASK.kind.lead_time
    assert ((shown["decision"] == "plan overhaul") == due).all()
    budget = TASK.kind.overhaul_cost / (TASK.kind.overhaul_cost + TASK.kind.failure_cost)
    assert (shown.loc[shown[P_FAIL] > budget, "decision"] == "plan overhaul").all()
    assert set(shown["decision"]) == {"run", "plan overhaul"}
    # The 13-cycle unit is shorter than the window: the predictor's note is shown.
    assert shown.loc["unit-018", "note"].startswith(f"too short: 13 of {TASK.kind.window}")

    dots = chart(at, "rul-fleet-chart")["data"][0]
    assert values(dots["y"]) == fleet["unit"].tolist()[::-1]  # riskiest at the top
    assert values(dots["marker"]["color"]) == pytest.approx(fleet[P_FAIL].tolist()[::-1])
    assert any("lead time of 15 cycles" in c.value and "window_lightgbm v" in c.value
               for c in at.caption)


def test_a_unit_shows_its_sensors_and_predicted_end_of_life(store: str,
                                                           monkeypatch: pytest.MonkeyPatch):
    at = _open(store, monkeypatch)
    assert at.selectbox(key="rul-unit").value == table(at, FLEET)["unit"].iloc[0]
    at = at.selectbox(key="rul-unit").set_value(LATE_UNIT).run()
    assert not at.exception, at.exception
    chosen = at.multiselect(key=f"rul-sensors-{LATE_UNIT}").value
    assert len(chosen) == 4 and set(chosen) <= set(data.DRIFTING)  # moving sensors, not flat
    figure = chart(at, "rul-unit-chart")
    rows = sample_frame().query(f"{data.UNIT} == @LATE_UNIT")
    first = next(t for t in figure["data"] if t["name"] == chosen[0])
    assert values(first["x"]) == rows[data.CYCLE].tolist()
    assert values(first["y"]) == pytest.approx(rows[chosen[0]].tolist())
    predicted = next(t for t in figure["data"] if t["name"] == "predicted RUL")
    last_cycle = len(rows)
    assert values(predicted["x"]) == [last_cycle - LATE_CYCLES, last_cycle]  # scored twice
    latest = ledger(store).loc[LATE_UNIT]
    band = next(s for s in figure["layout"]["shapes"] if s["type"] == "rect")
    assert band["x0"] == pytest.approx(latest["step"] + latest["lower"])
    assert band["x1"] == pytest.approx(latest["step"] + latest["upper"])
    assert not any(t["name"] == "true RUL" for t in figure["data"])  # in service
    assert any(f"{LATE_UNIT}: {last_cycle} stored cycles, 2 scored" in c.value
               for c in at.caption)

    at = at.multiselect(key=f"rul-sensors-{LATE_UNIT}").set_value(["s2"]).run()
    assert not at.exception, at.exception
    names = [t["name"] for t in chart(at, "rul-unit-chart")["data"]]
    assert names == ["s2", "predicted RUL"]

    at = at.selectbox(key="rul-unit").set_value(TESTED[0]).run()
    truth = next(t for t in chart(at, "rul-unit-chart")["data"] if t["name"] == "true RUL")
    failure = int(sample_frame().query(f"{data.UNIT} == @TESTED[0]")[data.FAILURE].iloc[0])
    assert values(truth["x"])[-1] == failure and values(truth["y"])[-1] == 0


def test_the_candidates_show_each_versions_metrics(store: str,
                                                   monkeypatch: pytest.MonkeyPatch):
    at = _open(store, monkeypatch)
    board = table(at, CANDIDATES)
    from core.registry import versions

    engine = make_engine(store)
    stored = {v.version: v for v in versions(engine, TASK.name)}
    engine.dispose()
    assert sorted(board["version"]) == sorted(stored) == [1, 2]
    assert board["RMSE"].is_monotonic_increasing
    for row in board.itertuples(index=False):
        assert row.model == "window_lightgbm"
        assert row.RMSE == pytest.approx(stored[row.version].metrics["rmse"])
        assert row.MAE == pytest.approx(stored[row.version].metrics["mae"])
        assert row.PHM08 == pytest.approx(stored[row.version].metrics["phm08"])
    assert board["champion"].sum() == 1
    bars = chart(at, "rul-candidates-chart")["data"]
    assert [b["name"] for b in bars] == ["RMSE", "MAE", "PHM08"]
    assert values(bars[0]["y"]) == pytest.approx(board["RMSE"].tolist())


def test_predicted_against_true_rul_where_the_failure_is_stored(
        store: str, monkeypatch: pytest.MonkeyPatch):
    at = _open(store, monkeypatch)
    truth = table(at, TRUTH).set_index("unit")
    frame = sample_frame()
    known = frame.groupby(data.UNIT)[data.FAILURE].first().dropna()
    assert sorted(truth.index) == sorted(known.index)  # in-service units have no truth
    latest = ledger(store)
    expected = known.astype(float) - latest["step"].reindex(known.index)
    assert truth["true RUL"].to_dict() == pytest.approx(expected.to_dict())
    assert truth.loc[list(TESTED), "true RUL"].tolist() == [TRUNCATED, TRUNCATED]
    assert truth["predicted RUL"].to_dict() == pytest.approx(
        latest["score"].reindex(known.index).to_dict())
    engine = make_engine(store)
    params = champion(engine, TASK.name).params
    engine.dispose()
    # The truncated units are never trained on: the page's test units.
    assert params["truncated_units"] == sorted(TESTED)
    assert not set(TESTED) & set(params["fit_units"] + params["valid_units"])
    groups = truth["group"].to_dict()
    assert {u for u, g in groups.items() if g == UNSEEN} == set(TESTED)
    # The Task refits on its validation units after the held-out fit (REFIT), so the page
    # counts them as fitted and no unit as held out (the held-out case:
    # test_training_groups_count_a_refit_versions_validation_units_as_fitted).
    assert params["refit"] is True and params["valid_units"]
    assert HELD_OUT not in groups.values()
    assert {u for u, g in groups.items() if g == FITTED} == set(params["fit_units"]
                                                                 + params["valid_units"])
    errors = (truth["predicted RUL"] - truth["true RUL"])[list(TESTED)]
    rmse = next(m.value for m in at.metric
                if m.label == "RMSE on units never trained on (cycles)")
    assert rmse == f"{np.sqrt(np.mean(errors ** 2)):.1f}"
    figure = chart(at, "rul-truth-chart")
    assert {t["name"] for t in figure["data"]} == {UNSEEN, FITTED, "perfect"}


def test_training_groups_count_a_refit_versions_validation_units_as_fitted() -> None:
    from types import SimpleNamespace

    units = pd.Series(["f", "v", "t"])
    params = {"fit_units": ["f"], "valid_units": ["v"]}
    held_out = SimpleNamespace(params=params | {"refit": False})
    refit = SimpleNamespace(params=params | {"refit": True})
    assert training_groups(held_out, units).tolist() == [FITTED, HELD_OUT, UNSEEN]
    assert training_groups(refit, units).tolist() == [FITTED, FITTED, UNSEEN]


def test_the_section_reads_both_dialects(engine: sa.Engine, db_url: str):
    frame = TASK.sample(1500, 1)
    fill(engine, frame)
    at = AppTest.from_function(section, args=(db_url,), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    fleet = table(at, FLEET).set_index("unit")
    with engine.connect() as conn:
        rows = pd.read_sql(sa.select(predictions).where(
            predictions.c.model_version_id == champion(engine, TASK.name).id), conn)
    latest = rows.sort_values("step").groupby("entity_key").last()
    assert sorted(fleet.index) == sorted(frame[data.UNIT].unique())
    assert fleet["RUL (cycles)"].to_dict() == pytest.approx(latest["score"].to_dict())
    assert fleet["cycle"].to_dict() == latest["step"].to_dict()


def test_before_training_and_before_scoring_the_section_says_what_to_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    url = f"sqlite:///{tmp_path / 'verticals.db'}"
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    engine = make_engine(url)
    migrate(engine)
    ingest(engine, TASK, lambda: TASK.sample(1500, 1), source="sample")
    at = _open(url, monkeypatch)
    assert [i.value for i in at.info] == [f"No champion yet: run `verticals train {TASK.name}` "
                                          "first."]
    train(engine, TASK, profile="smoke", models=MODELS)
    engine.dispose()
    st.cache_data.clear()  # the champion query is cached for a minute, as on a server
    at = _open(url, monkeypatch)
    assert [i.value for i in at.info] == [
        f"The champion v1 has scored nothing yet: run `verticals score {TASK.name}`."]


def test_the_task_page_serves_the_section(store: str, monkeypatch: pytest.MonkeyPatch):
    from dashboards.testing import open_page

    monkeypatch.setenv("VERTICALS_HOME", str(Path(sa.make_url(store).database).parent))
    at = open_page(TASK.name, store, registry={TASK.name: TASK}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert any("Fleet remaining useful life" in h.value for h in at.header)
    assert "Predicted against true RUL" in [s.value for s in at.subheader]


def test_pure_parts():
    latest = pd.DataFrame({
        "entity_key": ["a", "b", "c", "d"], "step": [9, 7, 3, 4],
        "score": [12.0, 40.0, 8.0, 30.0], "p_fail": [0.4, 0.1, 0.4, 0.1]})
    fleet = fleet_frame(latest)
    # Ties on P(fail) go to the shorter RUL.
    assert fleet["entity_key"].tolist() == ["c", "a", "d", "b"]
    cycles = np.arange(1, 21)
    trends = pd.DataFrame({"flat": np.ones(20), "up": cycles * 2.0,
                           "noisy": np.tile([0.0, 1.0], 10), "down": -(cycles ** 2.0)},
                          index=cycles)
    assert moving_sensors(trends, 2) == ["up", "down"]
    assert candidate_frame([])["RMSE"].tolist() == []
