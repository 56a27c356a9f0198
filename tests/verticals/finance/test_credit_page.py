"""Credit scoring's own section (what-if form, PSI by month) rendered with AppTest."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from core import registry
from core.monitor import reference_profile
from core.store.bulk import insert_frame
from core.store.engine import ensure_task_table, make_engine, migrate
from tests.dashboards.demo import DemoStore, credit_section
from tests.fakes import candidate, fake_sample, make_task
from verticals.finance.credit_page import psi_from_counts, score_applicant

TIMEOUT = 30


@pytest.fixture(scope="module")
def fake_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fake Task's rows and two registered fake models, under a module-wide VERTICALS_HOME."""
    home: Path = tmp_path_factory.mktemp("credit-home")
    url = f"sqlite:///{home / 'verticals.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_HOME", str(home))
        patch.delenv("VERTICALS_DB_URL", raising=False)
        engine = make_engine(url)
        migrate(engine)
        task = make_task()
        frame = fake_sample(200, seed=1)
        with engine.begin() as conn:
            insert_frame(conn, ensure_task_table(engine, task), frame)
        for name, auc, weight in (("weak", 0.6, 0.2), ("strong", 0.8, 0.5)):
            model = candidate(name, auc, weight)
            model.reference = reference_profile(frame, ["amount", "months", "region", "owner"])
            registry.register(engine, task, model, profile="smoke")
        registry.promote_best(engine, task)
        engine.dispose()
    return url


def fake_credit_section(url: str) -> None:
    from dashboards.context import make_context
    from tests.fakes import make_task
    from verticals.finance.credit_page import render

    render(make_context(make_task(), url))


def test_what_if_changes_the_pd(fake_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_HOME", str(Path(sa.make_url(fake_store).database).parent))
    at = AppTest.from_function(fake_credit_section, args=(fake_store,),
                               default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    pd_before = next(m.value for m in at.metric if m.label == "PD")
    # The fake model writes no payload: no points tile (never "None" or "n/a").
    assert [m.label for m in at.metric] == ["PD", "Decision"]
    applicant = at.selectbox(key="credit-applicant").value
    months = at.number_input(key=f"credit-{applicant}-months")
    at = months.set_value(months.value + 30).run()
    assert not at.exception, at.exception
    pd_after = next(m for m in at.metric if m.label == "PD")
    assert pd_after.value != pd_before
    assert any("months changed" in c.value for c in at.caption), [c.value for c in at.caption]
    # The cut-off decides: everything is declined at 0, approved at 1.
    at.slider(key="credit-cutoff").set_value(0.0).run()
    assert next(m.value for m in at.metric if m.label == "Decision") == "decline"
    at.slider(key="credit-cutoff").set_value(1.0).run()
    assert next(m.value for m in at.metric if m.label == "Decision") == "approve"
    # PSI by month: a heatmap over the stored months.
    assert any("PSI of each feature" in c.value for c in at.caption)


@pytest.mark.parametrize(("payload", "points"), [
    ('{"points": 612}', 612), (None, None), (np.nan, None), ('{"points": null}', None)])
def test_score_applicant_reads_points_only_from_a_scorecard_payload(payload: object,
                                                                    points: int | None) -> None:
    from types import SimpleNamespace

    from core.kinds.base import ledger_frame

    ledger = ledger_frame(1, ["A1"], [0.25], label=["approve"],
                          payload=np.array([payload], dtype=object))
    predictor = SimpleNamespace(predict=lambda frame: ledger)
    ctx = SimpleNamespace(predictor=lambda: predictor,
                          task=SimpleNamespace(feature_frame=lambda frame: frame))
    scored = score_applicant(ctx, fake_sample(1))
    assert scored["points"] == points and scored["pd"] == 0.25 and scored["reasons"] == []


def test_psi_from_counts_matches_the_formula() -> None:
    assert psi_from_counts([0.5, 0.5], np.array([50.0, 50.0])) == 0
    shifted = psi_from_counts([0.5, 0.5], np.array([90.0, 10.0]))
    assert shifted == pytest.approx(0.4 * math.log(0.9 / 0.5) - 0.4 * math.log(0.1 / 0.5))


def test_credit_what_if_with_the_real_champion(on_credit_store: DemoStore) -> None:
    at = AppTest.from_function(credit_section, args=(on_credit_store.url,),
                               default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    pd_before = next(m.value for m in at.metric if m.label == "PD")
    engine = make_engine(on_credit_store.url)
    best = registry.champion(engine, "finance.credit_scoring")
    engine.dispose()
    points = [m.value for m in at.metric if m.label == "Score points"]
    if best.model == "scorecard":  # its points come through the payload
        assert len(points) == 1 and points[0].isdigit()
    else:  # a LightGBM or blend champion's payload is null: no points tile
        assert points == []
    applicant = at.selectbox(key="credit-applicant").value
    # Moving one numeric field to the other end of its range moves the PD.
    changed = False
    for box in at.number_input:
        if not box.key or not box.key.startswith(f"credit-{applicant}-"):
            continue
        target = box.min if box.value != box.min else box.max
        if target is None:
            continue
        at = box.set_value(target).run()
        assert not at.exception, at.exception
        if next(m.value for m in at.metric if m.label == "PD") != pd_before:
            changed = True
            break
    assert changed, "no numeric field changed the PD"
    assert any("PSI of each feature" in c.value for c in at.caption)


def test_the_what_if_reaches_an_applicant_beyond_the_picker(
        fake_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_HOME", str(Path(sa.make_url(fake_store).database).parent))
    monkeypatch.setattr("verticals.finance.credit_page.APPLICANT_CHOICES", 50)
    at = AppTest.from_function(fake_credit_section, args=(fake_store,),
                               default_timeout=TIMEOUT).run()
    assert "A0000150" not in at.selectbox(key="credit-applicant").options  # first 50 only
    at = at.text_input(key="credit-find").set_value("A0000150").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="credit-applicant").value == "A0000150"
    assert at.number_input(key="credit-A0000150-months").value == int(
        fake_sample(200, seed=1)["months"].iloc[150])
    at = at.text_input(key="credit-find").set_value("NOPE").run()
    assert any("No stored applicant id" in w.value for w in at.warning)


def credit_section_counting_loads(url: str) -> None:
    """The credit section on a context that counts model loads in the session state."""
    from dataclasses import fields

    import streamlit as st

    from core.task import get_task
    from dashboards.context import CachedPageContext, make_context
    from verticals.finance.credit_page import render

    class Counting(CachedPageContext):
        def predictor(self, version: int | None = None):  # noqa: ANN202
            st.session_state["loads"] = st.session_state.get("loads", 0) + 1
            return super().predictor(version)

    ctx = make_context(get_task("finance.credit_scoring"), url)
    render(Counting(**{f.name: getattr(ctx, f.name) for f in fields(ctx)}))


def test_a_stored_applicant_is_shown_from_the_ledger_without_loading_the_model(
        on_credit_store: DemoStore) -> None:
    at = AppTest.from_function(credit_section_counting_loads, args=(on_credit_store.url,),
                               default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert "loads" not in at.session_state  # PD, decision, reasons and cut-off: all stored
    applicant = at.selectbox(key="credit-applicant").value
    shown = next(m.value for m in at.metric if m.label == "PD")
    # ... and they are what the champion says of the stored application.
    from core.task import get_task
    from dashboards.context import make_context

    engine = make_engine(on_credit_store.url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT p.score FROM predictions p JOIN aliases a ON a.model_version_id = "
            "p.model_version_id AND a.task = p.task AND a.alias = 'champion' "
            "WHERE p.task = 'finance.credit_scoring' AND p.output = '' "
            "AND p.entity_key = :key"), {"key": str(applicant)}).scalar_one()
    engine.dispose()
    assert shown == f"{stored:.2%}"
    ctx = make_context(get_task("finance.credit_scoring"), on_credit_store.url)
    assert score_applicant(ctx, ctx.row(applicant))["pd"] == pytest.approx(stored, abs=1e-9)
    box = next(b for b in at.number_input if b.key == f"credit-{applicant}-duration_months")
    at = box.set_value(box.value + 12).run()
    assert not at.exception, at.exception
    assert at.session_state["loads"] >= 1  # an edited application needs the model
