"""The generic Task page rendered with Streamlit's AppTest against a populated store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.kinds.base import ALL_SECTIONS
from core.monitor import reference_profile
from core.store.engine import make_engine, migrate
from core.store.schema import model_versions
from dashboards.components.formats import points
from dashboards.components.ledger import ledger_table
from dashboards.task_page import SECTION_TABS, sections_of
from dashboards.testing import open_page
from tests.dashboards.handmade import OTHER_OUTPUT, OTHER_OUTPUT_ROWS, ROWS, Store, populate
from tests.fakes import FakeKind, make_task
from verticals.finance.credit_scoring import TASK as credit
from verticals.manufacturing.failure_prediction import TASK as failures

TIMEOUT = 30


def texts(at: AppTest) -> str:
    """Everything the page wrote as text (markdown, captions, metric tiles, alerts)."""
    parts = [e.value for e in (*at.markdown, *at.caption, *at.title, *at.info, *at.warning,
                               *at.success)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def run_page(url: str) -> AppTest:
    """The fake Task's page, through the router, on the store at `url`."""
    task = make_task()
    return open_page(task.name, url, registry={task.name: task}, timeout=TIMEOUT)


def test_task_page_shows_champion_and_every_tab(handmade: tuple[str, Store]) -> None:
    url, store = handmade
    at = run_page(url)
    assert not at.exception, at.exception
    text = texts(at)
    assert "AUC 0.812" in text  # tile and sentence
    assert "Champion **boosting v2**: AUC 0.812 on held-out data" in text
    assert "Champion v2" in text and "KS 0.406" in text
    assert "Brier" not in text  # stored, but not among the Kind's display_metrics
    assert [t.label for t in at.tabs][:5] == [
        ":material/table_chart: Data", ":material/leaderboard: Models",
        ":material/query_stats: Predictions", ":material/monitoring: Drift",
        ":material/history: Runs"]
    # Leaderboard lists every version, champion marked.
    versions = next(df.value for df in at.dataframe if "champion" in df.value.columns)
    assert versions["version"].tolist() == [2, 1]
    assert versions["champion"].tolist() == [True, False]
    # Data explorer: counts computed in SQL; the id (one row per entity) is no column to chart.
    assert f"Rows stored {ROWS:,}" in text
    assert "application_id" not in at.selectbox(key="test_fake-column").options
    # Predictions: a page of the ledger with readable reasons.
    ledger = next(df.value for df in at.dataframe if "top reasons" in df.value.columns)
    assert len(ledger) == 50 and ledger["top reasons"].iloc[0].startswith("months = ")
    assert ledger["points"].iloc[0] == 600 - (ROWS - 1)  # highest score first; a scorecard's
    # Drift: the last batch flags months.
    assert any("months (PSI 0.31)" in w.value for w in at.warning)


def test_task_page_filters_and_lookup(handmade: tuple[str, Store]) -> None:
    url, store = handmade
    at = run_page(url)
    at.multiselect(key="test_fake-filter-by").set_value(["region"]).run()
    at.multiselect(key="test_fake-f-region").set_value(["north"]).run()
    assert not at.exception, at.exception
    north = int((store.frame["region"] == "north").sum())
    assert f"Rows matching {north:,}" in texts(at)
    key = store.frame["application_id"].iloc[7]
    at.text_input(key=f"test_fake-{store.champion_id}-lookup").set_value(key).run()
    assert not at.exception, at.exception
    assert "Score 0.0583" in texts(at)  # 7/120
    assert "Points 593" in texts(at) and "Label good" in texts(at)


def test_task_page_on_an_empty_store(tmp_path: Path) -> None:
    at = run_page(f"sqlite:///{tmp_path / 'empty.db'}")
    assert not at.exception, at.exception
    assert any("verticals demo" in i.value for i in at.info)


def test_the_page_draws_the_sections_and_metrics_the_kind_declares(
        handmade: tuple[str, Store]) -> None:
    url, _ = handmade
    # Two sections, runs first, and the Kind's own display metrics.
    kind = FakeKind(sections=("runs", "models"), display_metrics=("brier", "auc", "not_measured"))
    task = make_task(kind=kind)
    at = open_page(task.name, url, registry={task.name: task}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert [t.label for t in at.tabs] == [":material/history: Runs",
                                          ":material/leaderboard: Models"]
    assert not any("Rows stored" in m.label for m in at.metric)  # no Data section
    tiles = [f"{m.label} {m.value}" for m in at.metric]
    # In the Kind's order; a metric the champion lacks is left out, KS is not displayed.
    assert tiles == ["Champion v2", "Brier 0.200", "AUC 0.812"]


def test_every_section_name_has_a_tab_and_unknown_names_are_refused() -> None:
    assert set(SECTION_TABS) == set(ALL_SECTIONS)
    assert [s.title for s in sections_of(make_task())] == [
        "Data", "Models", "Predictions", "Drift", "Runs"]
    with pytest.raises(LookupError, match=r"\['timeline'\].*known: data, models"):
        sections_of(make_task(kind=FakeKind(sections=("data", "timeline"))))


def test_a_task_declaring_protected_attributes_gets_the_fairness_tab_last() -> None:
    assert [s.title for s in sections_of(credit)][-1] == "Fair lending"
    assert "Fair lending" not in [s.title for s in sections_of(failures)]


def test_ledger_shows_points_only_where_the_model_wrote_them() -> None:
    rows = pd.DataFrame({
        "entity_key": ["a", "b", "c"], "output": "", "as_of": pd.Timestamp("1970-01-01"),
        "step": 0, "horizon": 0, "score": [0.9, 0.5, 0.1], "label": ["decline", None, "approve"],
        "lower": None, "upper": None, "batch": 0,
        "payload": ['{"points": 512.4}', None, '{"quantiles": {}}'],
        "reasons": [None, None, None],
    })
    table = ledger_table(rows)
    # Missing points are NA in an integer column (a blank cell), never the text "None".
    assert str(table["points"].dtype) == "Int64"
    assert table["points"].iloc[0] == 512 and table["points"].isna().tolist() == [False, True, True]
    assert list(table.columns) == ["entity_key", "score", "points", "label", "batch",
                                   "top reasons"]
    # A LightGBM or blend champion: null payloads, no points column at all.
    lightgbm = ledger_table(rows.assign(payload=None))
    assert "points" not in lightgbm.columns
    assert [points(p) for p in ('{"points": 600}', "null", "{}", '{"points": NaN}', None)] == [
        600, None, None, None, None]


def test_a_kind_with_several_outputs_browses_each(handmade: tuple[str, Store]) -> None:
    url, store = handmade
    assert not any(s.label == "Output" for s in run_page(url).selectbox)  # one output: no picker
    task = make_task(kind=FakeKind(outputs=("", OTHER_OUTPUT)))
    at = open_page(task.name, url, registry={task.name: task}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert f"Predictions {ROWS:,}" in texts(at)  # the primary output first
    at.selectbox(key="test_fake-ledger-output").set_value(OTHER_OUTPUT).run()
    assert not at.exception, at.exception
    assert f"Predictions {OTHER_OUTPUT_ROWS}" in texts(at)
    ledger = next(df.value for df in at.dataframe if "top reasons" in df.value.columns)
    assert len(ledger) == OTHER_OUTPUT_ROWS and set(ledger["label"]) == {"flag"}
    assert "points" not in ledger.columns  # this output's payload is null


def test_a_looked_up_entity_outside_the_training_ranges_is_flagged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'verticals.db'}"
    engine = make_engine(url)
    migrate(engine)
    store = populate(engine, make_task())
    # The champion learned from the shorter loans only: the longest stored one lies outside.
    months = store.frame["months"]
    short = store.frame[months <= months.median()]
    with engine.begin() as conn:
        conn.execute(model_versions.update().where(model_versions.c.id == store.champion_id)
                     .values(reference=json.dumps(reference_profile(
                         short, ["amount", "months", "owner", "region"]))))
    engine.dispose()
    longest = store.frame.loc[months.idxmax()]
    at = run_page(url)
    lookup = f"test_fake-{store.champion_id}-lookup"
    at.text_input(key=lookup).set_value(longest["application_id"]).run()
    assert not at.exception, at.exception
    flagged = [w.value for w in at.warning if "extrapolation" in w.value]
    assert len(flagged) == 1 and f"months = {int(longest['months'])}" in flagged[0]
    assert "above the training range" in flagged[0]
    inside = short.loc[short["months"].idxmin(), "application_id"]
    at.text_input(key=lookup).set_value(inside).run()
    assert not [w.value for w in at.warning if "extrapolation" in w.value]
