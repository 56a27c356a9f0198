"""The run lock of core.store.runs: one live ingest/train/score run per Task, dead ones marked
interrupted with what they committed; and planner statistics after bulk writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from core.kinds.base import EPOCH
from core.store import schema
from core.store.bulk import insert_frame, refresh_statistics
from core.store.runs import RunInProgress, fit_width, runs, track_run
from core.store.schema import utcnow
from tests.fakes import make_task

TASK = make_task()


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def _running_row(engine: sa.Engine, pipeline: str = "score", **values: object) -> int:
    row = {"task": TASK.name, "pipeline": pipeline, "status": "running",
           "started_at": utcnow() - timedelta(minutes=5), "host": socket.gethostname(),
           "pid": _dead_pid(), **values}
    with engine.begin() as conn:
        return conn.execute(schema.pipeline_runs.insert().values(**row)
                            .returning(schema.pipeline_runs.c.id)).scalar_one()


def _ledger(engine: sa.Engine, run_id: int, rows: int, batches: int) -> None:
    with engine.begin() as conn:
        version = conn.execute(schema.model_versions.insert().values(
            task=TASK.name, version=1, model="m", format="f", created_at=utcnow(),
            primary_metric="auc", metrics="{}", params="{}", artifact_path="a",
            artifact_sha256="0" * 64).returning(schema.model_versions.c.id)).scalar_one()
        insert_frame(conn, schema.predictions, pd.DataFrame({
            "task": TASK.name, "model_version_id": version, "run_id": run_id,
            "batch": [i % batches for i in range(rows)],
            "entity_key": [f"A{i}" for i in range(rows)],
            "as_of": EPOCH, "horizon": 0, "score": 0.5}))


def test_a_second_live_run_of_the_task_and_pipeline_is_refused(engine):
    with track_run(engine, TASK, "score") as first:
        with pytest.raises(RunInProgress) as refused:
            with track_run(engine, TASK, "score"):
                pass
        message = str(refused.value)
        assert message.startswith(f"run {first.id} (score of test.fake) is in progress since ")
        assert "wait for it to finish" in message and f"pid {os.getpid()}" in message
        with track_run(engine, TASK, "ingest"), track_run(engine, "other.task", "score"):
            pass  # another pipeline, another Task: not locked
        with track_run(engine, TASK, "bench"), track_run(engine, TASK, "bench"):
            pass  # benches may run side by side
    with track_run(engine, TASK, "score"):  # released when the first finished
        pass
    statuses = [row["status"] for row in runs(engine, TASK.name)]
    assert "running" not in statuses and len(statuses) == 5  # the refused run left no row


def test_a_run_whose_process_died_is_marked_interrupted_with_its_rows(engine):
    dead = _running_row(engine)
    _ledger(engine, dead, rows=30, batches=3)
    with track_run(engine, TASK, "score") as run:
        pass
    rows = {row["id"]: row for row in runs(engine, TASK.name)}
    assert rows[run.id]["status"] == "succeeded"
    killed = rows[dead]
    assert killed["status"] == "interrupted" and killed["finished_at"] is not None
    assert (killed["rows_out"], killed["batches"]) == (30, 3)
    assert killed["error"].startswith("interrupted: its process (pid ")
    assert "30 row(s) in 3 batch(es)" in killed["error"]


def test_a_killed_ingest_counts_its_committed_input_rows(engine):
    from core.store.engine import ensure_task_table

    table = ensure_task_table(engine, TASK)
    dead = _running_row(engine, pipeline="ingest")
    with engine.begin() as conn:
        insert_frame(conn, table, TASK.sample(12, 0).assign(_run_id=dead))
        conn.execute(schema.quarantine.insert().values(task=TASK.name, run_id=dead, row_number=3,
                                                       rule="r"))
    with track_run(engine, TASK, "ingest"):
        pass
    killed = next(row for row in runs(engine, TASK.name) if row["id"] == dead)
    assert (killed["status"], killed["rows_out"], killed["rows_rejected"]) == ("interrupted", 12, 1)


def test_a_reused_pid_or_a_row_before_revision_0007_counts_as_dead(engine):
    # Our own pid, but the process (this one) started after the run did: the pid was reused.
    reused = _running_row(engine, pid=os.getpid(), started_at=utcnow() - timedelta(days=400))
    with track_run(engine, TASK, "score"):
        pass
    legacy = _running_row(engine, pid=None, host=None)
    with track_run(engine, TASK, "score"):
        pass
    rows = {row["id"]: row["status"] for row in runs(engine, TASK.name)}
    assert rows[reused] == rows[legacy] == "interrupted"


def test_another_hosts_run_is_trusted_until_its_heartbeat_is_stale(engine, monkeypatch):
    live = _running_row(engine, host="elsewhere", pid=1, heartbeat_at=utcnow())
    with pytest.raises(RunInProgress, match=r"pid 1 on elsewhere.*VERTICALS_RUN_STALE_S"):
        with track_run(engine, TASK, "score"):
            pass
    monkeypatch.setenv("VERTICALS_RUN_STALE_S", "60")
    with engine.begin() as conn:
        conn.execute(schema.pipeline_runs.update().where(schema.pipeline_runs.c.id == live)
                     .values(heartbeat_at=utcnow() - timedelta(minutes=2)))
    with track_run(engine, TASK, "score"):
        pass
    assert next(r for r in runs(engine, TASK.name) if r["id"] == live)["status"] == "interrupted"


def test_a_dead_bench_run_is_marked_too(engine):
    dead = _running_row(engine, pipeline="bench")
    with track_run(engine, TASK, "bench"):
        pass
    assert next(r for r in runs(engine, TASK.name) if r["id"] == dead)["status"] == "interrupted"


def test_fit_width_keeps_short_text_and_digests_long_text():
    assert fit_width("csv:/data/a.csv", 500) == "csv:/data/a.csv"
    long = "/" + "d" * 600 + "/applications.csv"
    shown = fit_width(long, 500)
    assert len(shown) == 500 and shown.startswith("sha256:") and shown.endswith("applications.csv")
    assert fit_width(long + "x", 500) != shown


@pytest.mark.postgres
def test_statistics_are_refreshed_when_missing_or_stale_only(pg_url):
    from core.store.engine import make_engine, migrate

    engine = make_engine(pg_url)
    migrate(engine)

    def tuples() -> float:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = "
                                        "to_regclass('predictions')")).scalar_one()

    run = _running_row(engine)
    _ledger(engine, run, rows=500, batches=5)
    assert tuples() < 0  # never analysed: the planner guesses
    assert refresh_statistics(engine, [schema.predictions]) == ["predictions"]
    assert tuples() == 500
    assert refresh_statistics(engine, [schema.predictions]) == []  # fresh: no second ANALYZE
    engine.dispose()


def test_sqlite_needs_no_statistics(engine):
    if engine.dialect.name == "sqlite":
        assert refresh_statistics(engine, [schema.predictions]) == []


def test_revision_0007_keeps_the_newest_running_row_of_each_task_and_pipeline(db_url):
    from alembic import command

    from core.store.engine import alembic_config, make_engine, migrate

    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0006")
    rows = [("t", "score"), ("t", "score"), ("t", "ingest"), ("u", "score"), ("t", "bench"),
            ("t", "bench")]
    with engine.begin() as conn:
        for task, pipeline in rows:  # runs killed before 0007: no host, no pid
            conn.execute(sa.text(
                "INSERT INTO pipeline_runs (task, pipeline, status, started_at) "
                "VALUES (:task, :pipeline, 'running', :at)"),
                {"task": task, "pipeline": pipeline, "at": utcnow().replace(tzinfo=None)})
    migrate(engine)
    with engine.connect() as conn:
        statuses = conn.execute(sa.text("SELECT status FROM pipeline_runs ORDER BY id")
                                ).scalars().all()
    assert statuses == ["interrupted", "running", "running", "running", "running", "running"]
    with track_run(engine, "t", "score"):  # the legacy holder has no pid: presumed dead
        pass
    assert [r["status"] for r in runs(engine, "t") if r["pipeline"] == "score"] == [
        "succeeded", "interrupted", "interrupted"]
    engine.dispose()
