"""Failure prediction's own section (queue, fleet, metrics, cost curve, what-if) with AppTest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from core.store import work_orders
from core.store.engine import make_engine, migrate
from pipelines.ingest import ingest
from pipelines.score import score
from pipelines.train import train
from verticals.manufacturing.failure_page import metric_table
from verticals.manufacturing.failure_prediction import TASK

TIMEOUT = 60


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """1500 sample runs ingested, a smoke LightGBM champion, every run scored."""
    home: Path = tmp_path_factory.mktemp("failure-home")
    url = f"sqlite:///{home / 'verticals.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_HOME", str(home))
        patch.delenv("VERTICALS_DB_URL", raising=False)
        engine = make_engine(url)
        migrate(engine)
        ingest(engine, TASK, lambda: TASK.sample(1500, 0), source="sample")
        train(engine, TASK, profile="smoke", models=("lightgbm",))
        score(engine, TASK)
        engine.dispose()
    return url


def failure_section(url: str) -> None:
    from dashboards.context import make_context
    from verticals.manufacturing.failure_page import render
    from verticals.manufacturing.failure_prediction import TASK

    render(make_context(TASK, url))


def _open(url: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("VERTICALS_HOME", str(Path(sa.make_url(url).database).parent))
    at = AppTest.from_function(failure_section, args=(url,), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def test_queue_is_ranked_and_a_status_change_persists(store: str,
                                                      monkeypatch: pytest.MonkeyPatch):
    engine = make_engine(store)
    queue = work_orders.queue(engine, TASK.name)
    assert len(queue) > 0, "the sample should have runs the champion stops"
    at = _open(store, monkeypatch)
    shown = at.dataframe[0].value
    assert shown["machine"].tolist() == queue["entity_key"].tolist()
    assert shown["rank"].tolist() == list(range(1, len(queue) + 1))
    assert shown["expected cost of waiting"].is_monotonic_decreasing
    assert shown["expected cost of waiting"].tolist() == pytest.approx(
        (queue["probability"] * 5000.0).tolist())
    assert set(shown["mode"]) <= set(TASK.kind.outputs[1:])  # the most likely mode of each

    top = queue["entity_key"].iloc[0]
    assert at.selectbox(key="orders-entity").value == top
    at.text_input(key="orders-operator").set_value("ana")
    at.selectbox(key="orders-status-open").set_value("scheduled")
    at.text_input(key="orders-note").set_value("Tue 06:00")
    at = at.button(key="orders-apply").click().run()
    assert not at.exception, at.exception
    assert any("open → scheduled (by ana)" in s.value for s in at.success)
    assert at.dataframe[0].value.iloc[0]["status"] == "scheduled"
    history = at.dataframe[1].value
    assert history[["to_status", "actor"]].values.tolist() == [["open", "score"],
                                                                ["scheduled", "ana"]]
    events = work_orders.history(make_engine(store), TASK.name, top)  # a fresh engine
    assert events["note"].tolist()[-1] == "Tue 06:00"
    engine.dispose()


def test_fleet_costs_and_what_if_render(store: str, monkeypatch: pytest.MonkeyPatch):
    at = _open(store, monkeypatch)
    fleet = at.dataframe[2].value
    # A column per declared output, in Kind.outputs order: failure, then each mode.
    assert fleet.columns.tolist() == ["machine", "failure", *TASK.kind.outputs[1:]]
    assert fleet["failure"].is_monotonic_decreasing
    labels = [m.label for m in at.metric]
    assert "Champion's cut-off" in labels and "Cheapest cut-off for these costs" in labels
    cheapest = next(m.value for m in at.metric if m.label == "Cheapest cut-off for these costs")
    at = at.number_input(key="cost-needless").set_value(4000.0).run()  # stops cost more now
    assert next(m.value for m in at.metric if m.label == "Cheapest cut-off for these costs") \
        >= cheapest

    # A stored run with no order (low risk): worn tool, high torque -> overstrain risk.
    machine = at.selectbox(key="whatif-machine").options[-1]
    at = at.selectbox(key="whatif-machine").set_value(machine).run()
    before = next(m.value for m in at.metric if m.label == "failure risk")
    at = at.number_input(key=f"whatif-{machine}-wear").set_value(240).run()
    at = at.number_input(key=f"whatif-{machine}-torque").set_value(70.0).run()
    assert not at.exception, at.exception
    after = next(m for m in at.metric if m.label == "failure risk")
    assert float(after.value.rstrip("%")) > float(before.rstrip("%")), (before, after.value)
    assert after.delta.startswith("+")
    risks = at.dataframe[-1].value  # the what-if table closes the section
    assert risks["output"].tolist()[0] == "failure"


def test_metric_table_shows_the_keys_that_exist():
    table = metric_table({"auc": 0.9, "recall": 0.8, "precision_TWF": 0.5, "recall_TWF": 0.25,
                          "recall_HDF": 1.0})
    assert table["output"].tolist() == ["failure", "HDF", "TWF"]
    assert table.set_index("output").loc["TWF"].tolist() == [0.25, 0.5]
    assert pd.isna(table.set_index("output").loc["failure", "precision"])


def test_the_task_page_serves_the_section(store: str, monkeypatch: pytest.MonkeyPatch):
    from dashboards.testing import open_page

    monkeypatch.setenv("VERTICALS_HOME", str(Path(sa.make_url(store).database).parent))
    at = open_page(TASK.name, store, registry={TASK.name: TASK}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    headers = [h.value for h in at.header]
    assert any("Work-order queue" in h for h in headers), headers
    assert any("What-if" in h for h in headers), headers
