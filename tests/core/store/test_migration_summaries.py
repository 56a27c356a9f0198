"""Revision 0008 on a store scored before it: score_bins counted from the ledger on upgrade,
profile_counts left to the next score (the pages count from the input table until then)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command

from core.kinds.base import EPOCH, PRIMARY_OUTPUT
from core.store import queries, schema, summaries
from core.store.bulk import insert_frame
from core.store.engine import alembic_config, make_engine, migrate

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def store_0007(db_url: str) -> sa.Engine:
    """A store at revision 0007 holding two versions' ledgers, one with a second output."""
    engine = make_engine(db_url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0007")
        ids = [connection.execute(schema.model_versions.insert().values(
            task="tab", version=v, model="m", format="f", created_at=T0, primary_metric="auc",
            metrics="{}", params="{}", artifact_path=f"a{v}", artifact_sha256="0" * 64)
            .returning(schema.model_versions.c.id)).scalar_one() for v in (1, 2)]
        scores = [0.0, 0.04, 0.2, 0.5, 0.96, 1.0, None, 0.7]
        ledger = pd.DataFrame({
            "task": "tab", "model_version_id": ids[0], "batch": [0, 0, 0, 0, 1, 1, 1, 1],
            "entity_key": [f"A{i}" for i in range(8)], "output": PRIMARY_OUTPUT, "as_of": EPOCH,
            "step": 0, "horizon": 0, "score": scores,
            "label": ["good", "good", "good", "bad", "bad", "bad", None, "bad"]})
        insert_frame(connection, schema.predictions, pd.concat([
            ledger, ledger.head(3).assign(output="TWF", score=[1.5, 0.1, 0.2]),
            ledger.head(2).assign(model_version_id=ids[1])], ignore_index=True))
    yield engine
    engine.dispose()


def test_upgrade_counts_the_stored_ledger_into_score_bins(store_0007: sa.Engine) -> None:
    migrate(store_0007)
    version = queries.versions(store_0007, "tab")[-1].id  # v1
    with store_0007.connect() as conn:
        assert summaries.covers(conn, "tab") and summaries.covers(conn, "tab", version)
        per_batch = dict(conn.execute(
            sa.select(schema.score_bins.c.batch, sa.func.sum(schema.score_bins.c.rows))
            .where(schema.score_bins.c.model_version_id == version,
                   schema.score_bins.c.output == PRIMARY_OUTPUT)
            .group_by(schema.score_bins.c.batch)).all())
    assert {b: int(n) for b, n in per_batch.items()} == {0: 4, 1: 4}
    edges = summaries.SCORE_EDGES
    for output in (PRIMARY_OUTPUT, "TWF"):
        pd.testing.assert_frame_equal(
            summaries.score_histogram(store_0007, "tab", version, edges, output=output),
            queries.score_histogram(store_0007, "tab", version, edges, output=output),
            check_dtype=False)
        assert summaries.score_range(store_0007, "tab", version, output=output) == \
            pytest.approx(queries.score_range(store_0007, "tab", version, output=output))
        got = summaries.label_counts(store_0007, "tab", version, output=output)
        want = queries.label_counts(store_0007, "tab", version, output=output)
        assert dict(zip(got["label"], got["rows"], strict=True)) == dict(
            zip(want["label"], want["rows"], strict=True))
        assert got["mean_score"].tolist() == pytest.approx(want["mean_score"].tolist(),
                                                           nan_ok=True)
    # The first bin holds 0.0 and 0.04 is the second bin's low edge, as in the scan.
    hist = summaries.score_histogram(store_0007, "tab", version, edges)
    assert hist.groupby("bin")["rows"].sum().to_dict() == {0: 1, 1: 1, 5: 1, 12: 1, 17: 1,
                                                            24: 2}
    assert summaries.predicted_versions(store_0007, "tab") == \
        queries.predicted_versions(store_0007, "tab")
    assert summaries.row_counts(store_0007, "tab") == queries.row_counts(store_0007, "tab")
    with store_0007.connect() as conn:  # nothing the migration could count without the Task
        assert conn.execute(sa.select(sa.func.count()).select_from(
            schema.profile_counts)).scalar_one() == 0


def test_downgrade_drops_the_summaries(store_0007: sa.Engine) -> None:
    migrate(store_0007)
    with store_0007.begin() as connection:
        command.downgrade(alembic_config(connection), "0007")
    assert not {"score_bins", "profile_counts"} & set(sa.inspect(store_0007).get_table_names())
    migrate(store_0007)  # and up again, counted afresh
    with store_0007.connect() as conn:
        assert summaries.covers(conn, "tab")
