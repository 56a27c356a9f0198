"""Fair lending on a pipeline-filled credit store: protected attributes stay out of the models
and their reasons, the fairness report counts every scored row, the page shows it, and the
what-if warns on a value outside the training range."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from core import registry
from core.fairness import report_from_counts
from core.kinds.tabular_predictor import TabularPredictor
from core.store.engine import make_engine
from core.store.schema import predictions, task_table
from core.task import get_task
from dashboards.components.fairness import fairness_counts
from tests.dashboards.demo import DemoStore, credit_section

TIMEOUT = 60
CREDIT = "finance.credit_scoring"
PROTECTED = ("personal_status_sex", "age_years", "foreign_worker")


def test_no_model_reads_or_gives_a_protected_attribute_as_a_reason(
        on_credit_store: DemoStore) -> None:
    task = get_task(CREDIT)
    engine = make_engine(on_credit_store.url)
    try:
        for version in registry.versions(engine, CREDIT):
            assert not set(PROTECTED) & set(version.params["features"]), version.model
            assert not set(PROTECTED) & set(version.reference), version.model
        predictor = registry.load_predictor(engine, task)
        with engine.connect() as connection:
            reasons = connection.execute(sa.select(predictions.c.reasons).where(
                predictions.c.task == CREDIT)).scalars().all()
    finally:
        engine.dispose()
    assert isinstance(predictor, TabularPredictor)
    assert not set(PROTECTED) & set(predictor.features)
    named = {r["feature"] for text in reasons for r in json.loads(text)}
    assert named and not set(PROTECTED) & named


def test_the_report_counts_every_scored_application_per_group(
        on_credit_store: DemoStore) -> None:
    task = get_task(CREDIT)
    engine = make_engine(on_credit_store.url)
    try:
        champion = registry.champion(engine, CREDIT)
        table = task_table(task, sa.MetaData())
        counts = {a: fairness_counts(engine, table, task=CREDIT, model_version_id=champion.id,
                                     entity=task.kind.entity, attribute=a,
                                     outcome=task.kind.target) for a in PROTECTED}
        with engine.connect() as connection:
            stored = pd.read_sql(sa.select(predictions.c.entity_key, predictions.c.label).where(
                predictions.c.model_version_id == champion.id), connection)
            inputs = pd.read_sql(sa.select(table.c.application_id, table.c.age_years,
                                           table.c.default), connection)
    finally:
        engine.dispose()
    report = report_from_counts(counts, approve="approve", positive=1,
                                bands=task.protected.bands)
    assert set(report["attribute"]) == set(PROTECTED)
    per_attribute = report.groupby("attribute")[["scored", "approved"]].sum()
    assert (per_attribute["scored"] == len(stored)).all()
    assert (per_attribute["approved"] == int((stored["label"] == "approve").sum())).all()
    ages = report[report["attribute"] == "age_years"].set_index("group")
    assert set(ages.index) <= {"<25", "25–<35", "35–<50", "50–<65", "≥65"}
    young = inputs[inputs["age_years"] < 25]
    assert ages.loc["<25", "outcomes"] == young["default"].notna().sum()
    assert ages.loc["<25", "default_rate"] == pytest.approx(young["default"].mean())
    assert report["adverse_impact_ratio"].max() == pytest.approx(1.0)
    assert (report["below_four_fifths"] == (report["adverse_impact_ratio"] < 0.8)).all()


def fairness_page(url: str) -> None:
    from core.task import get_task
    from dashboards.components.fairness import fairness_section
    from dashboards.context import make_context

    fairness_section(make_context(get_task("finance.credit_scoring"), url))


def test_the_fairness_section_names_its_rows_and_cut_off(on_credit_store: DemoStore) -> None:
    at = AppTest.from_function(fairness_page, args=(on_credit_store.url,),
                               default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "no model reads them" in captions
    assert "at its cut-off PD 0.50" in captions
    assert re.search(r"Approval rate: on all [\d,]+ scored applications", captions), captions
    assert "with a realised outcome" in captions and "four-fifths rule" in captions
    assert "`age_years` in bands <25, 25–<35, 35–<50, 50–<65, ≥65" in captions
    assert len(at.dataframe) == 1


def test_the_what_if_warns_outside_the_training_range(on_credit_store: DemoStore) -> None:
    at = AppTest.from_function(credit_section, args=(on_credit_store.url,),
                               default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    applicant = at.selectbox(key="credit-applicant").value
    assert not any("Outside the champion's training data" in w.value for w in at.warning)
    at = at.number_input(key=f"credit-{applicant}-duration_months").set_value(120).run()
    assert not at.exception, at.exception
    warning = next(w.value for w in at.warning if "Outside the champion's training" in w.value)
    assert "duration_months = 120 is above the training range" in warning
    assert any("are protected attributes" in c.value for c in at.caption)


def champion_reading_age() -> None:
    from types import SimpleNamespace

    import pandas as pd

    import dashboards.components.fairness as fairness
    from core.fairness import REPORT_COLUMNS
    from core.kinds.tabular_predictor import TabularPredictor
    from core.task import get_task

    # a champion trained before the Task declared its protected attributes
    old = TabularPredictor(features=["duration_months", "age_years"], model=None,
                           calibrator=None, id="application_id")
    fairness.fairness_report_for = lambda ctx, **_: pd.DataFrame(columns=list(REPORT_COLUMNS))
    scored = pd.DataFrame({"label": ["approve"], "rows": [10], "mean_score": [0.2]})
    ctx = SimpleNamespace(task=get_task("finance.credit_scoring"), predictor=lambda: old,
                          champion=SimpleNamespace(version=3, id=1,
                                                   params={"features": old.features}),
                          query=lambda name, *args, **kwargs: scored)
    fairness.fairness_section(ctx)


def test_a_champion_that_reads_a_protected_attribute_is_called_out() -> None:
    at = AppTest.from_function(champion_reading_age, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert "Champion v3 reads protected attributes age_years" in at.error[0].value
    assert not any("no model reads them" in c.value for c in at.caption)
