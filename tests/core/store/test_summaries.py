"""core.store.summaries.covers: when the dashboards may read the summaries instead of the ledger."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.store import summaries
from core.store.schema import predictions
from tests.dashboards.handmade import Store, populate
from tests.fakes import make_task


@pytest.fixture
def store(engine: sa.Engine) -> Store:
    return populate(engine, make_task())  # a ledger written straight, as no score run does


def test_a_ledger_without_summaries_is_not_covered_until_counted(engine: sa.Engine,
                                                                  store: Store) -> None:
    version = store.champion_id
    with engine.begin() as conn:
        assert not summaries.covers(conn, "test.fake", version)
        assert not summaries.covers(conn, "test.fake")
        batches = conn.execute(sa.select(predictions.c.batch).where(
            predictions.c.model_version_id == version).distinct()).scalars().all()
        summaries.refresh_score_bins(conn, "test.fake", version, batches)
        assert summaries.covers(conn, "test.fake", version)
        assert summaries.covers(conn, "test.fake", version, exact=True)
        # A deleted row: only the exact count sees it (score runs that one; pages the lookup).
        first = conn.execute(sa.select(sa.func.min(predictions.c.id)).where(
            predictions.c.model_version_id == version)).scalar_one()
        conn.execute(predictions.delete().where(predictions.c.id == first))
        assert summaries.covers(conn, "test.fake", version)
        assert not summaries.covers(conn, "test.fake", version, exact=True)


def test_no_ledger_is_covered_and_reads_empty(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert summaries.covers(conn, "no.such", 999)
    assert summaries.score_range(engine, "no.such", 999) is None
    assert summaries.label_counts(engine, "no.such", 999).empty
    assert summaries.predicted_versions(engine, "no.such") == []


def test_counting_a_written_frame_gives_the_ledgers_own_bins(engine: sa.Engine,
                                                             store: Store) -> None:
    """add_score_bins (from the frame score just wrote) and refresh_score_bins (SQL over the
    ledger) agree on every bin, edges and out-of-range scores included."""
    import pandas as pd

    from core.kinds.base import EPOCH, PRIMARY_OUTPUT
    from core.store.bulk import insert_frame
    from core.store.schema import score_bins

    scores = [0.0, 0.04, 0.08, 0.5, 0.96, 1.0, None, 1.5, -0.1]
    ledger = pd.DataFrame({
        "task": "test.fake", "model_version_id": store.champion_id, "batch": 7,
        "entity_key": [f"E{i}" for i in range(len(scores))], "output": PRIMARY_OUTPUT,
        "as_of": EPOCH, "step": 0, "horizon": 0, "score": scores,
        "label": ["a", "a", None, "b", "b", "b", None, "a", "a"]})

    def bins(conn: sa.Connection) -> list[tuple]:
        return sorted(conn.execute(sa.select(
            score_bins.c.label, score_bins.c.bin, score_bins.c.rows, score_bins.c.score_sum,
            score_bins.c.score_min, score_bins.c.score_max)
            .where(score_bins.c.batch == 7)).all(), key=repr)

    with engine.begin() as conn:
        insert_frame(conn, predictions, ledger)
        summaries.add_score_bins(conn, "test.fake", store.champion_id, 7, ledger)
        from_frame = bins(conn)
        summaries.refresh_score_bins(conn, "test.fake", store.champion_id, [7])
        from_sql = bins(conn)
    assert [row[:3] for row in from_frame] == [row[:3] for row in from_sql]
    assert [row[3:] for row in from_frame] == [
        tuple(pytest.approx(v) if v is not None else None for v in row[3:]) for row in from_sql]
    assert {(row[1], row[2]) for row in from_sql} >= {(0, 1), (1, 1), (2, 1), (24, 2),
                                                      (summaries.NO_SCORE, 1),
                                                      (summaries.OUTSIDE, 2)}
