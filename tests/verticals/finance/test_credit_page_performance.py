"""Credit's performance charts (ROC, KS, gains, calibration, confusion, approval against the
cut-off) on the pipeline-filled store: each number on the rows it names."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import roc_auc_score
from streamlit.testing.v1 import AppTest

from core import registry
from core.kinds.base import SECTIONS
from core.kinds.tabular import TabularClassification
from core.store.engine import make_engine
from core.task import get_task
from dashboards.components.formats import percent
from dashboards.testing import open_page
from tests.dashboards.demo import DEMO_ROWS, DemoStore

TIMEOUT = 60
CREDIT = "finance.credit_scoring"
ROWS_KEY = "finance_credit_scoring-performance-rows"


def performance(url: str) -> None:
    from core.task import get_task
    from dashboards.components.classifier_section import performance_section
    from dashboards.context import make_context

    performance_section(make_context(get_task("finance.credit_scoring"), url))


def joined(url: str) -> pd.DataFrame:
    """The champion's scores beside the stored outcomes, read here independently of the page."""
    engine = make_engine(url)
    best = registry.champion(engine, CREDIT)
    frame = pd.read_sql(sa.text(
        'SELECT i._row_id, i._run_id, i.application_date AS at, i."default" AS y, p.score '
        "FROM input_finance_credit_scoring i JOIN predictions p "
        "ON p.entity_key = i.application_id "
        "WHERE p.model_version_id = :v AND p.output = '' AND i.\"default\" IS NOT NULL"),
        engine, params={"v": best.id})
    engine.dispose()
    frame["at"] = pd.to_datetime(frame["at"])
    return frame.sort_values(["at", "_row_id"], kind="mergesort")


def tile(at: AppTest, label: str) -> tuple[str, str]:
    found = next(m for m in at.metric if m.label == label)
    return found.value, found.help or ""


def figure(at: AppTest, key: str) -> dict:
    """The Plotly figure a chart element drew (its JSON spec)."""
    chart = next(e for e in at.get("plotly_chart") if e.proto.id.endswith(key)
                 or key in e.proto.id)
    return json.loads(chart.proto.spec)


def test_the_charts_on_the_champions_test_rows_reproduce_its_recorded_metrics(
        on_credit_store: DemoStore) -> None:
    at = AppTest.from_function(performance, args=(on_credit_store.url,),
                               default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    engine = make_engine(on_credit_store.url)
    best = registry.champion(engine, CREDIT)
    cutoff = registry.load_predictor(engine, get_task(CREDIT), best.version).cutoff
    engine.dispose()
    radio = at.radio(key=ROWS_KEY)
    # No outcome arrived after training: the test rows (reproduced) and all rows are offered.
    assert radio.options == ["the champion's held-out test rows",
                             "every scored row with an outcome (includes the rows it was trained "
                             "on: optimistic)"]
    test_rows = best.params["test_rows"]
    rows = joined(on_credit_store.url).tail(test_rows)  # the time split's last part
    auc, auc_help = tile(at, "AUC")
    # One truth: the same number as the champion tile, because they are the same rows.
    assert auc == f"{best.metrics['auc']:.3f}" == f"{roc_auc_score(rows['y'], rows['score']):.3f}"
    assert f"On {test_rows} rows ({int(rows['y'].sum())} positive" in auc_help
    assert tile(at, "KS")[0] == f"{best.metrics['ks']:.3f}"
    approved = rows["score"] < cutoff
    assert tile(at, "Approve rate")[0] == percent(approved.mean())
    bad_rate = tile(at, "Default rate among approve")[0]
    assert bad_rate == percent(rows.loc[approved, "y"].mean())
    # The confusion matrix: every test row once, split at the same cut-off.
    z = np.array(figure(at, "confusion")["data"][0]["z"])
    assert z.sum() == test_rows
    assert z[:, 0].sum() == approved.sum()  # the approve column
    assert z[0].sum() == rows["y"].sum()  # the default row
    caption = next(c.value for c in at.caption if c.value.startswith("On "))
    assert f"cut-off **{cutoff:.2f}**" in caption


def test_all_rows_are_said_to_include_the_training_rows(on_credit_store: DemoStore) -> None:
    at = AppTest.from_function(performance, args=(on_credit_store.url,),
                               default_timeout=TIMEOUT).run()
    at = at.radio(key=ROWS_KEY).set_value("all").run()
    assert not at.exception, at.exception
    assert any("include the ones the champion was fit and calibrated on" in w.value
               for w in at.warning)
    rows = joined(on_credit_store.url)
    assert len(rows) == DEMO_ROWS
    assert tile(at, "AUC")[0] == f"{roc_auc_score(rows['y'], rows['score']):.3f}"
    assert f"On {DEMO_ROWS} rows" in tile(at, "AUC")[1]
    assert np.array(figure(at, "confusion")["data"][0]["z"]).sum() == DEMO_ROWS


def test_outcomes_ingested_after_training_are_their_own_rows(
        on_credit_store: DemoStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.ingest import ingest_file
    from pipelines.score import score

    home = tmp_path / "later"
    shutil.copytree(on_credit_store.home, home)
    url = f"sqlite:///{home / 'verticals.db'}"
    monkeypatch.setenv("VERTICALS_HOME", str(home))
    monkeypatch.setenv("VERTICALS_DB_URL", url)
    task = get_task(CREDIT)
    later = home / "later.csv"
    task.sample(DEMO_ROWS + 150, 1).iloc[DEMO_ROWS:].to_csv(later, index=False)  # new ids
    engine = make_engine(url)
    ingest_file(engine, task, later)
    score(engine, task)
    engine.dispose()
    at = AppTest.from_function(performance, args=(url,), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert "outcomes ingested after the champion was trained" in at.radio(key=ROWS_KEY).options
    at = at.radio(key=ROWS_KEY).set_value("after").run()
    rows = joined(url)
    first_ingest = rows["_run_id"].min()
    after = rows[rows["_run_id"] > first_ingest + 1]  # runs: ingest, train, score, ingest
    assert len(after) == 150
    assert tile(at, "AUC")[0] == f"{roc_auc_score(after['y'], after['score']):.3f}"
    assert "On 150 rows" in tile(at, "AUC")[1]


def test_a_kind_that_declares_the_section_gets_its_tab(on_credit_store: DemoStore) -> None:
    class Declaring(TabularClassification):
        sections = (*SECTIONS, "performance")

    task = get_task(CREDIT)
    kind = Declaring(**{f.name: getattr(task.kind, f.name)
                        for f in dataclasses.fields(task.kind)})
    declared = dataclasses.replace(task, kind=kind)
    at = open_page(CREDIT, on_credit_store.url, registry={CREDIT: declared}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert ":material/insights: Performance" in [t.label for t in at.tabs]
    assert any(m.label == "Approve rate" for m in at.metric)


def test_the_test_rows_are_found_again_on_both_dialects(engine: sa.Engine,
                                                        tmp_path: Path) -> None:
    """On SQLite and PostgreSQL: ingest, train, score, then the reader finds the champion's
    held-out rows (their AUC is the recorded one) and every scored row."""
    from core.store.engine import ensure_task_table
    from core.store.queries import champion
    from dashboards.components.classifier_section import ALL, TEST, labelled_scores
    from dashboards.components.model_card import training_of
    from pipelines.ingest import ingest_file
    from pipelines.score import score
    from pipelines.train import train

    task = get_task(CREDIT)
    sample = tmp_path / "applications.csv"
    task.sample(400, 3).to_csv(sample, index=False)
    ensure_task_table(engine, task)
    ingest_file(engine, task, sample)
    train(engine, task, profile="smoke", models=("scorecard",))
    score(engine, task)
    model = champion(engine, task.name)
    training = training_of(engine, task, model)
    kind = task.kind
    test = labelled_scores(engine, task, kind, model, training, TEST)
    every = labelled_scores(engine, task, kind, model, training, ALL)
    assert len(test) == model.params["test_rows"] == 80 and len(every) == 400
    assert roc_auc_score(test["actual"], test["score"]) == pytest.approx(model.metrics["auc"],
                                                                         abs=1e-6)
    # The latest fifth by application date: the time split's test part.
    assert test["at"].min() >= every["at"].sort_values().iloc[-80]
    assert len(labelled_scores(engine, task, kind, model, training, ALL, limit=1)) == 1
