"""Tests of core.store.runs: succeeded and failed runs with counts, duration and error."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from core.store import schema
from core.store.runs import runs, track_run
from tests.fakes import make_task


def test_a_successful_run_records_counts_and_duration(engine):
    with track_run(engine, make_task(), "score", {"chunk": 1000}) as run:
        with engine.connect() as connection:
            status = connection.execute(sa.select(schema.pipeline_runs.c.status)).scalar_one()
        assert status == "running"
        run.rows_in, run.rows_out, run.batches = 10, 9, 2
        run.rows_rejected += 1
    [row] = runs(engine)
    assert row["id"] == run.id and row["task"] == "test.fake" and row["pipeline"] == "score"
    assert row["status"] == "succeeded" and row["error"] is None
    assert (row["rows_in"], row["rows_out"], row["rows_rejected"], row["batches"]) == (10, 9, 1, 2)
    assert row["duration_s"] >= 0 and row["finished_at"] >= row["started_at"]
    assert row["started_at"].tzinfo is not None
    assert json.loads(row["params"]) == {"chunk": 1000, "trigger": "hand"}  # by hand: no scheduler


def test_a_failed_run_keeps_its_error_and_re_raises(engine):
    with pytest.raises(ZeroDivisionError):
        with track_run(engine, "test.fake", "ingest", {}) as run:
            run.rows_in = 5
            with engine.begin() as connection:  # the batch's own transaction rolls back
                connection.execute(schema.quarantine.insert().values(
                    task="test.fake", rule="r", run_id=run.id))
                1 / 0  # noqa: B018
    [row] = runs(engine, "test.fake")
    assert row["status"] == "failed" and row["rows_in"] == 5
    assert row["error"].startswith("ZeroDivisionError: division by zero")
    assert "Traceback" in row["error"]
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.quarantine)
                                  ).scalar_one() == 0
    assert runs(engine, "other.task") == []


def test_unknown_pipeline_is_refused(engine):
    with pytest.raises(ValueError, match="unknown pipeline 'scoring'"):
        with track_run(engine, "test.fake", "scoring", {}):
            pass
