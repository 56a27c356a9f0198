"""Score writes each batch's summaries (score_bins, profile_counts) in the batch's transaction:
right counts, no double count on a re-score, the same numbers as the scans the pages ran."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from core import registry
from core.store import input_queries, queries, summaries
from core.store.schema import predictions, profile_counts, score_bins, task_table
from pipelines.ingest import ingest
from pipelines.score import period_column, score
from tests.fakes import fake_sample
from tests.pipelines.test_score import FEATURES, TASK, _ingest
from verticals.finance.credit_page import _bucket_counts, psi_from_counts

DATE = "applied_at"


@pytest.fixture
def trained(engine: sa.Engine) -> sa.Engine:
    from pipelines.train import train

    _ingest(engine, fake_sample(120, seed=3))
    train(engine, TASK, profile="smoke")
    return engine


def _version(engine: sa.Engine) -> tuple[int, dict]:
    champion = registry.champion(engine, TASK.name)
    reference = champion.reference
    return champion.id, json.loads(reference) if isinstance(reference, str) else reference


def _bin_rows(engine: sa.Engine) -> dict[int, int]:
    with engine.connect() as conn:
        return {b: int(n) for b, n in conn.execute(
            sa.select(score_bins.c.batch, sa.func.sum(score_bins.c.rows))
            .group_by(score_bins.c.batch)).all()}


def _profile_rows(engine: sa.Engine) -> dict[tuple[str, int], int]:
    with engine.connect() as conn:
        return {(f, b): int(n) for f, b, n in conn.execute(
            sa.select(profile_counts.c.feature, profile_counts.c.batch,
                      sa.func.sum(profile_counts.c.rows))
            .group_by(profile_counts.c.feature, profile_counts.c.batch)).all()}


def _profile_table(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(
            profile_counts.c.batch, profile_counts.c.month, profile_counts.c.feature,
            profile_counts.c.bucket, profile_counts.c.rows)).all(), key=repr)


def _monthly_psi(frame: pd.DataFrame, entry: dict) -> dict[str, float]:
    return {month: psi_from_counts(entry["proportions"], _bucket_counts(entry, part))
            for month, part in frame.groupby("month")}


def _scan(engine: sa.Engine, feature: str, entry: dict) -> pd.DataFrame:
    edges = entry["edges"] if entry["kind"] == "numeric" else None
    return input_queries.monthly_profile_counts(engine, task_table(TASK, sa.MetaData()), DATE,
                                                feature, edges)


def test_the_period_is_the_schemas_first_date_column() -> None:
    assert period_column(TASK) == DATE


def test_each_batch_writes_its_summaries(trained: sa.Engine,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    score(trained, TASK, chunk_size=50)
    assert _bin_rows(trained) == {0: 50, 1: 50, 2: 20}
    assert _profile_rows(trained) == {(f, b): n for f in FEATURES
                                      for b, n in ((0, 50), (1, 50), (2, 20))}
    version, reference = _version(trained)
    table = task_table(TASK, sa.MetaData())
    scans = {f: _scan(trained, f, entry) for f, entry in reference.items()}
    # Read from profile_counts, never from the input table: the scan may not run.
    monkeypatch.setattr(input_queries, "monthly_profile_counts",
                        lambda *_, **__: pytest.fail("scanned the input table"))
    for feature, entry in reference.items():
        kept = summaries.monthly_profile(trained, table, TASK.name, version, DATE, feature, entry)
        assert kept["rows"].sum() == 120 - int(fake_sample(120, seed=3)[DATE].isna().sum())
        # One truth: the PSI of every month is the scan's, to the last digit.
        assert _monthly_psi(kept, entry) == _monthly_psi(scans[feature], entry)
        assert sorted(_monthly_psi(kept, entry)) == sorted(scans[feature]["month"].unique())


def test_the_ledger_queries_read_the_same_numbers_from_score_bins(
        trained: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    score(trained, TASK, chunk_size=50)
    version, _ = _version(trained)
    edges = summaries.SCORE_EDGES
    expected = {
        "histogram": queries.score_histogram(trained, TASK.name, version, edges),
        "labels": queries.label_counts(trained, TASK.name, version),
        "range": queries.score_range(trained, TASK.name, version),
        "versions": queries.predicted_versions(trained, TASK.name),
        "counts": queries.row_counts(trained, TASK.name, "input_test_score"),
    }
    for name in ("score_histogram", "label_counts", "score_range", "predicted_versions"):
        monkeypatch.setattr(queries, name, lambda *_, **__: pytest.fail("scanned the ledger"))
    pd.testing.assert_frame_equal(summaries.score_histogram(trained, TASK.name, version, edges),
                                  expected["histogram"], check_dtype=False)
    got = summaries.label_counts(trained, TASK.name, version)
    assert got["rows"].tolist() == expected["labels"]["rows"].tolist() == [120]
    assert got["mean_score"].tolist() == pytest.approx(expected["labels"]["mean_score"].tolist())
    assert summaries.score_range(trained, TASK.name, version) == pytest.approx(expected["range"])
    assert summaries.predicted_versions(trained, TASK.name) == expected["versions"] == [version]
    assert summaries.row_counts(trained, TASK.name, "input_test_score") == expected["counts"]
    assert expected["counts"]["predictions"] == 120


def test_rescoring_a_batch_does_not_count_it_twice(trained: sa.Engine) -> None:
    score(trained, TASK, chunk_size=50)
    bins, profile = _bin_rows(trained), _profile_table(trained)
    score(trained, TASK, chunk_size=50, force=True, batches=[1])
    score(trained, TASK, chunk_size=50, force=True)
    assert _bin_rows(trained) == bins == {0: 50, 1: 50, 2: 20}
    assert _profile_table(trained) == profile


def test_rows_added_to_a_scored_batch_are_counted_once(trained: sa.Engine) -> None:
    score(trained, TASK, chunk_size=50)
    _ingest(trained, fake_sample(130, seed=3).iloc[120:].reset_index(drop=True)
            .assign(application_id=lambda f: "B" + f["application_id"]))
    again = score(trained, TASK, chunk_size=50)  # batch 2 again: only its 10 new rows
    assert (again.rows, again.batches) == (10, [2])
    assert _bin_rows(trained) == {0: 50, 1: 50, 2: 30}
    assert _profile_rows(trained) == {(f, b): n for f in FEATURES
                                      for b, n in ((0, 50), (1, 50), (2, 30))}


def test_ledger_rows_deleted_past_score_are_recounted_by_the_next_score(
        trained: sa.Engine) -> None:
    score(trained, TASK, chunk_size=50)
    whole = _profile_table(trained)
    with trained.begin() as conn:  # 20 predictions of batch 1 gone behind the summaries' back
        conn.execute(predictions.delete().where(predictions.c.entity_key.in_(
            [f"A{i:07d}" for i in range(50, 70)])))
    resumed = score(trained, TASK, chunk_size=50)
    assert resumed.rows == 20 and _bin_rows(trained) == {0: 50, 1: 50, 2: 20}
    assert _profile_rows(trained) == {(f, b): n for f in FEATURES
                                      for b, n in ((0, 50), (1, 50), (2, 20))}

    def merged(rows: list[tuple]) -> dict[tuple, int]:
        out: dict[tuple, int] = {}
        for batch, month, feature, bucket, n in rows:
            out[batch, month, feature, bucket] = out.get((batch, month, feature, bucket), 0) + n
        return out

    assert merged(_profile_table(trained)) == merged(whole)


def test_rows_written_past_score_fall_back_to_the_scan(trained: sa.Engine) -> None:
    score(trained, TASK, chunk_size=50)
    version, reference = _version(trained)
    with trained.begin() as conn:  # a ledger row no summary counted
        conn.execute(predictions.insert().values(
            task=TASK.name, model_version_id=version, batch=9, entity_key="X1",
            as_of=pd.Timestamp("1970-01-01").to_pydatetime(), horizon=0, score=1.5,
            label="bad"))
    labels = summaries.label_counts(trained, TASK.name, version)
    assert labels["rows"].tolist() == [121]
    assert summaries.score_range(trained, TASK.name, version)[1] == pytest.approx(1.5)
    assert summaries.row_counts(trained, TASK.name)["predictions"] == 121
    table = task_table(TASK, sa.MetaData())
    entry = reference["months"]
    pd.testing.assert_frame_equal(
        summaries.monthly_profile(trained, table, TASK.name, version, DATE, "months", entry),
        _scan(trained, "months", entry))


def test_a_store_scored_before_the_summaries_is_backfilled_by_the_next_score(
        trained: sa.Engine) -> None:
    score(trained, TASK, chunk_size=50)
    profile = _profile_table(trained)
    with trained.begin() as conn:  # what revision 0008 finds: a ledger, no profile counts
        conn.execute(profile_counts.delete())
    version, reference = _version(trained)
    table = task_table(TASK, sa.MetaData())
    entry = reference["region"]
    # Until then the page counts from the input table, with the same numbers.
    before = summaries.monthly_profile(trained, table, TASK.name, version, DATE, "region", entry)
    assert before.equals(_scan(trained, "region", entry))
    again = score(trained, TASK, chunk_size=50)
    assert again.rows == 0
    assert _profile_table(trained) == profile
    assert _profile_rows(trained) == {(f, b): n for f in FEATURES
                                      for b, n in ((0, 50), (1, 50), (2, 20))}
    after = summaries.monthly_profile(trained, table, TASK.name, version, DATE, "region", entry)
    assert _monthly_psi(after, entry) == _monthly_psi(before, entry)


def test_profile_rows_follow_core_monitors_buckets() -> None:
    frame = pd.DataFrame({
        "when": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-01", None]),
        "x": [1.0, 2.0, np.nan, 5.0], "c": ["a", "z", None, "a"]})
    reference = {"x": {"kind": "numeric", "edges": [1.0, 3.0]},
                 "c": {"kind": "categorical", "categories": ["a", "b"]},
                 "derived": {"kind": "numeric", "edges": [0.0]}}
    rows = summaries.profile_rows(frame, reference, "when")
    got = {(m, f, int(b)): int(n) for m, f, b, n in rows.itertuples(index=False)}
    # x <= 1 -> 0, 1 < x <= 3 -> 1, above -> 2, missing -> 3; c: a, b, other, missing.
    assert got == {("2024-01", "x", 0): 1, ("2024-01", "x", 1): 1, ("2024-02", "x", 3): 1,
                   (None, "x", 2): 1, ("2024-01", "c", 0): 1, ("2024-01", "c", 2): 1,
                   ("2024-02", "c", 3): 1, (None, "c", 0): 1}


def test_the_credit_pages_psi_by_month_is_the_scans(engine: sa.Engine, db_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The page itself (verticals/finance/credit_page.monthly_psi) on a scored credit store:
    every (month, feature) PSI equals the one counted from the whole input table."""
    from core.task import tasks
    from dashboards.context import make_context
    from pipelines.train import train
    from verticals.finance.credit_page import monthly_psi

    credit = tasks()["finance.credit_scoring"]
    frame = credit.sample(3000, 1)
    ingest(engine, credit, lambda: frame, source="frame")
    train(engine, credit, profile="smoke", models=("lightgbm",))
    score(engine, credit, chunk_size=1000)
    ctx = make_context(credit, db_url)
    reference, table = ctx.reference(), task_table(credit, sa.MetaData())
    date = period_column(credit)
    expected = []
    for feature, entry in reference.items():
        if feature not in table.c:
            continue
        edges = entry["edges"] if entry["kind"] == "numeric" else None
        scan = input_queries.monthly_profile_counts(engine, table, date, feature, edges)
        expected += [{"month": month, "feature": feature, "psi": value}
                     for month, value in _monthly_psi(scan, entry).items()]
    monkeypatch.setattr(input_queries, "monthly_profile_counts",
                        lambda *_, **__: pytest.fail("scanned the input table"))
    shown, derived = monthly_psi(ctx, date)
    assert derived == ["monthly_payment"]
    assert len(shown) == len(expected) > 20
    got = shown.set_index(["month", "feature"])["psi"].sort_index()
    want = pd.DataFrame(expected).set_index(["month", "feature"])["psi"].sort_index()
    pd.testing.assert_series_equal(got, want)
