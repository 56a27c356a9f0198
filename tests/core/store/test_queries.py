"""core.store.queries on a hand-made store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from core.kinds.base import EPOCH, PRIMARY_OUTPUT
from core.store import input_queries, queries, schema
from core.store.schema import task_table
from tests.dashboards.handmade import OTHER_OUTPUT, OTHER_OUTPUT_ROWS, ROWS, Store, populate
from tests.fakes import make_task


@pytest.fixture
def store(engine: sa.Engine) -> Store:
    return populate(engine, make_task())


def test_empty_store_is_detected(db_url: str) -> None:
    from core.store.engine import make_engine

    assert not queries.has_store(make_engine(db_url))


def test_registry_queries(engine: sa.Engine, store: Store) -> None:
    assert queries.has_store(engine)
    versions = queries.versions(engine, "test.fake")
    assert [v.version for v in versions] == [2, 1]
    assert [v.is_champion for v in versions] == [True, False]
    champion = queries.champion(engine, "test.fake")
    assert champion is not None and champion.model == "boosting"
    assert champion.primary_value == pytest.approx(0.8123)
    assert champion.metrics["ks"] == pytest.approx(0.4062)
    assert champion.created_at.tzinfo is not None
    assert queries.champion(engine, "no.such") is None
    assert set(queries.reference_profile(engine, store.champion_id)) == {
        "amount", "months", "owner", "region"}


def test_runs_and_counts(engine: sa.Engine, store: Store) -> None:
    last = queries.last_runs(engine, "test.fake")
    assert list(last["pipeline"]) == ["ingest", "score", "train"]
    assert set(last["status"]) == {"succeeded"}
    assert len(queries.run_history(engine, "test.fake")) == 3
    table = task_table(store.task, sa.MetaData()).name
    assert queries.row_counts(engine, "test.fake", table) == {
        "predictions": ROWS, "quarantined": 2, "input_rows": ROWS}
    rules = queries.quarantine_rules(engine, "test.fake")
    assert rules.to_dict("records") == [{"column": "months", "rule": "in_range(1, 72)", "rows": 2}]


def test_drift(engine: sa.Engine, store: Store) -> None:
    by_batch = queries.drift_by_batch(engine, "test.fake")
    assert len(by_batch) == 4 and list(by_batch["batch"]) == [0, 0, 1, 1]
    latest = queries.latest_drift(engine, "test.fake")
    assert latest.to_dict("records") == [
        {"feature": "months", "psi": 0.31, "flag": True},
        {"feature": "region", "psi": 0.1, "flag": False}]


def test_prediction_queries(engine: sa.Engine, store: Store) -> None:
    version = store.champion_id
    assert queries.predicted_versions(engine, "test.fake") == [version]
    assert queries.score_range(engine, "test.fake", version) == pytest.approx((0, 119 / 120))
    edges = list(np.linspace(0, 1, 5))  # scores i/120 -> 30 per quarter
    hist = queries.score_histogram(engine, "test.fake", version, edges)
    assert hist.groupby("bin")["rows"].sum().to_dict() == {0: 30, 1: 30, 2: 30, 3: 30}
    assert set(hist[hist["bin"] >= 2]["label"]) == {"bad"}
    labels = queries.label_counts(engine, "test.fake", version).set_index("label")
    assert labels["rows"].to_dict() == {"bad": 60, "good": 60}
    page = queries.prediction_page(engine, "test.fake", version, page=1, size=50)
    assert len(page) == 50 and page["score"].iloc[0] == pytest.approx(69 / 120)
    last = queries.prediction_page(engine, "test.fake", version, page=2, size=50, label="good")
    assert last.empty
    key = store.frame["application_id"].iloc[7]
    found = queries.predictions_for(engine, "test.fake", key)
    assert len(found) == 1 and found["score"].iloc[0] == pytest.approx(7 / 120)
    with pytest.raises(ValueError, match="unknown order"):
        queries.prediction_page(engine, "test.fake", version, order="random")


def test_input_table_aggregates(engine: sa.Engine, store: Store) -> None:
    table = task_table(store.task, sa.MetaData())
    frame = store.frame
    counts = input_queries.category_counts(engine, table, "region", target="default")
    known = counts.dropna(subset=["value"])
    assert dict(zip(known["value"], known["rows"], strict=True)) == frame["region"].value_counts(
        ).to_dict()
    assert counts[counts["value"].isna()]["rows"].tolist() == [frame["region"].isna().sum()]
    north = frame[frame["region"] == "north"]["default"].astype(float).mean()
    assert counts.set_index("value").loc["north", "target_rate"] == pytest.approx(north)
    owner = input_queries.category_counts(engine, table, "owner", target="owner")
    assert owner.set_index("value")["target_rate"].to_dict() == {True: 1.0, False: 0.0}

    north_rate = input_queries.column_mean(engine, table, "default", {"region": ["north"]})
    assert north_rate == pytest.approx(north)
    assert input_queries.column_mean(engine, table, "months") == pytest.approx(
        frame["months"].mean())
    assert input_queries.column_mean(engine, table, "owner") == pytest.approx(
        frame["owner"].astype(float).mean())
    assert input_queries.column_mean(engine, table, "months", {"region": ["nowhere"]}) is None

    low, high = input_queries.numeric_range(engine, table, "months")
    assert (low, high) == (frame["months"].min(), frame["months"].max())
    edges = [6, 24, 48, 72]
    hist = input_queries.numeric_histogram(engine, table, "months", edges, {"region": ["north"]})
    months = frame[frame["region"] == "north"]["months"]
    assert hist["rows"].tolist() == [int(((months >= 6) & (months < 24)).sum()),
                                     int(((months >= 24) & (months < 48)).sum()),
                                     int((months >= 48).sum())]
    assert input_queries.count_rows(engine, table, {"months": (10.0, 20.0)}) == int(
        frame["months"].between(10, 20).sum())
    sample = input_queries.sample_rows(engine, table, {"owner": [True]}, limit=5)
    assert len(sample) == 5 and sample["owner"].all()
    assert input_queries.distinct_keys(engine, table, "application_id", 3) == [
        "A0000000", "A0000001", "A0000002"]


def test_months_on_both_dialects(engine: sa.Engine, store: Store) -> None:
    table = task_table(store.task, sa.MetaData())
    frame = store.frame
    monthly = input_queries.monthly_counts(engine, table, "applied_at", target="default")
    expected = frame["applied_at"].dt.strftime("%Y-%m").value_counts().sort_index()
    assert monthly["month"].tolist() == expected.index.tolist()
    assert monthly["rows"].tolist() == expected.tolist()
    edges = [12.0, 40.0]
    buckets = input_queries.monthly_profile_counts(engine, table, "applied_at", "months", edges)
    first = buckets[buckets["month"] == expected.index[0]].set_index("value")["rows"]
    in_month = frame[frame["applied_at"].dt.strftime("%Y-%m") == expected.index[0]]["months"]
    assert first.get(0, 0) == int((in_month <= 12).sum())
    assert first.get(1, 0) == int(((in_month > 12) & (in_month <= 40)).sum())
    assert first.get(2, 0) == int((in_month > 40).sum())


def test_prediction_queries_show_the_primary_output_unless_asked(engine: sa.Engine,
                                                                 store: Store) -> None:
    """A second output (a failure mode beside the failure) and step-indexed rows of the same
    entities stay out of "the" prediction's counts, bins and pages; asked for, they are there."""
    version = store.champion_id
    keys = store.frame["application_id"].iloc[:10].tolist()
    ledger = schema.predictions
    with engine.begin() as conn:
        conn.execute(ledger.insert(), [
            {"task": "test.fake", "model_version_id": version, "batch": 0, "entity_key": key,
             "output": output, "as_of": EPOCH.to_pydatetime(), "step": step, "horizon": 0,
             "score": 0.995, "label": "TWF" if output else "bad"}
            for key in keys for output, step in (("TWF", 0), ("TWF", 3), (PRIMARY_OUTPUT, 3))])
    assert queries.row_counts(engine, "test.fake")["predictions"] == ROWS + 10
    assert (queries.row_counts(engine, "test.fake", output=None)["predictions"]
            == ROWS + OTHER_OUTPUT_ROWS + 30)
    assert queries.row_counts(engine, "test.fake", output="TWF")["predictions"] == 20
    assert queries.predicted_versions(engine, "test.fake") == [version]
    assert queries.predicted_versions(engine, "test.fake", output="nope") == []
    assert queries.outputs(engine, "test.fake", version) == [PRIMARY_OUTPUT, "TWF", OTHER_OUTPUT]
    assert queries.score_range(engine, "test.fake", version) == pytest.approx((0, 0.995))
    assert queries.score_range(engine, "test.fake", version, output="TWF") == pytest.approx(
        (0.995, 0.995))
    assert queries.score_range(engine, "test.fake", version, output="nope") is None
    labels = queries.label_counts(engine, "test.fake", version).set_index("label")
    assert labels["rows"].to_dict() == {"bad": 70, "good": 60}
    failure_mode = queries.label_counts(engine, "test.fake", version, output="TWF")
    assert failure_mode[["label", "rows"]].to_dict("records") == [{"label": "TWF", "rows": 20}]
    hist = queries.score_histogram(engine, "test.fake", version, [0.0, 0.5, 1.0], output="TWF")
    assert hist[["bin", "rows"]].to_dict("records") == [{"bin": 1, "rows": 20}]
    page = queries.prediction_page(engine, "test.fake", version, size=1000, order="entity")
    assert len(page) == ROWS + 10 and set(page["output"]) == {PRIMARY_OUTPUT}
    assert page["entity_key"].iloc[:2].tolist() == [keys[0], keys[0]]
    assert page["step"].iloc[:2].tolist() == [0, 3]
    twf = queries.prediction_page(engine, "test.fake", version, output="TWF", order="entity")
    assert len(twf) == 20 and (twf["label"] == "TWF").all()
    found = queries.predictions_for(engine, "test.fake", keys[0])
    assert found["output"].tolist() == [PRIMARY_OUTPUT, PRIMARY_OUTPUT]
    assert found["step"].tolist() == [3, 0]  # newest first
    every = queries.predictions_for(engine, "test.fake", keys[0], output=None)
    assert sorted(zip(every["output"], every["step"], strict=True)) == [
        ("", 0), ("", 3), ("TWF", 0), ("TWF", 3), (OTHER_OUTPUT, 0)]
