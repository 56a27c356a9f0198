"""Reliability through the real CLI on SQLite and PostgreSQL (issue #15, store and runs):
identifier widths, long source paths, config errors, two runs at once, and kill -9 of score
and ingest followed by an exactly-once rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from core.store.engine import make_engine, migrate
from core.store.schema import pipeline_runs, predictions, quarantine
from core.task import get_task
from pipelines import cli
from pipelines.cli import app

TASK = get_task("finance.credit_scoring")
TABLE = "input_finance_credit_scoring"
runner = CliRunner()

# A `verticals` process whose pipeline pauses where a kill -9 tells the most: score after each
# committed batch (so the kill lands between batches), ingest after its rows committed and
# before the run is finished (so the killed run has rows to its name).
SLOW_CLI = """
import sys, time
import pipelines.ingest, pipelines.score
beat = pipelines.score.heartbeat
def slow_beat(*args):
    beat(*args)
    time.sleep(0.25)
pipelines.score.heartbeat = slow_beat
pipelines.ingest.refresh_statistics = lambda *args: time.sleep(120)
from pipelines.cli import app
app(sys.argv[1:], prog_name="verticals")
"""


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.out, "width", 200)
    monkeypatch.setattr(cli.err, "width", 200)


@pytest.fixture
def store(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    migrate(engine)  # the tables exist before the first subprocess polls them
    yield engine
    engine.dispose()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    # A clean message is a SystemExit; anything else would be the traceback the user sees.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _csv(tmp_path: Path, rows: int, name: str = "applications.csv", **cells: object) -> Path:
    """The Task's sample, with `cells` ("row:column": value) overwritten."""
    frame = TASK.sample(rows, 3).astype(object)
    for where, value in cells.items():
        row, column = where.split(":")
        frame.loc[int(row), column] = value
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def _train() -> None:
    code, out, err = invoke("train", TASK.name, "--profile", "smoke", "--model", "lightgbm")
    assert code == 0, out + err


def _scalar(engine: sa.Engine, statement: sa.Executable) -> object:
    with engine.connect() as conn:
        return conn.execute(statement).scalar()


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SLOW_CLI, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ))


def _wait_for(check, process: subprocess.Popen[str], timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"the run ended before it could be killed:\n{process.stdout.read()}")
        time.sleep(0.05)
    process.kill()
    pytest.fail("the run did not reach the point to kill it at")


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)  # reaped: the pid is gone, not a zombie
    assert process.returncode == -signal.SIGKILL


def _running(engine: sa.Engine, pipeline: str) -> int | None:
    return _scalar(engine, sa.select(pipeline_runs.c.id).where(
        pipeline_runs.c.pipeline == pipeline, pipeline_runs.c.status == "running"))


def _run(engine: sa.Engine, run_id: int) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(sa.select(pipeline_runs).where(pipeline_runs.c.id == run_id)).one()


def test_an_identifier_too_long_for_the_ledger_is_quarantined_and_the_rest_scores(
        store, tmp_path):
    long_id = "X" * 299 + "Y"
    code, out, err = invoke("ingest", TASK.name, str(_csv(tmp_path, 400,
                                                          **{"5:application_id": long_id})))
    assert code == 0, out + err
    assert "399 new rows accepted" in out and "1 quarantined" in out
    assert "application_id" in out and "too_long(200)" in out
    with store.connect() as conn:
        [row] = conn.execute(sa.select(quarantine)).all()
    assert (row.column, row.rule, row.row_number) == ("application_id", "too_long(200)", 6)
    assert row.value == "X" * 60 + "… (300 characters)"  # shortened; the payload keeps it all
    assert json.loads(row.payload)["application_id"] == long_id
    _train()
    code, out, err = invoke("score", TASK.name, "--chunk-size", "150")
    assert code == 0, out + err
    assert "scored 399 row(s)" in out


def test_a_source_path_longer_than_the_store_column_is_digested(store, tmp_path):
    folder = tmp_path.joinpath(*(f"{part}" * 150 for part in "abcd"))  # 600+ characters
    path = _csv(folder, 20, **{"2:duration_months": "twelve"})
    assert len(str(path)) > 500
    code, out, err = invoke("ingest", TASK.name, str(path))
    assert code == 0, out + err
    assert "19 new rows accepted" in out and "1 quarantined" in out
    with store.connect() as conn:
        source = conn.execute(sa.select(quarantine.c.source)).scalar_one()
        params = json.loads(conn.execute(sa.select(pipeline_runs.c.params)).scalar_one())
    assert len(source) == 500 and source.startswith("sha256:")
    assert source.endswith("/applications.csv") and params["source"] == source


@pytest.mark.parametrize("variable, value, message", [
    ("VERTICALS_DB_URL", "mysql://user@localhost/verticals",
     "error: unsupported database URL 'mysql://user@localhost/verticals' (VERTICALS_DB_URL): "
     "the store runs on SQLite or PostgreSQL only; use sqlite:///"),
    ("VERTICALS_DB_URL", "not a url", "cannot read the database URL 'not a url'"),
    ("VERTICALS_HOME", "FILE", "is a file, not a directory: point it at a directory"),
])
def test_a_store_setting_that_names_no_store_is_a_clear_message(home, tmp_path, variable, value,
                                                                message):
    if value == "FILE":
        value = str(tmp_path / "home.txt")
        Path(value).write_text("not a directory")
    code, out, err = invoke("runs", env={variable: value})
    assert code == 1 and message in " ".join(err.split())
    assert "Traceback" not in out + err


def test_a_killed_score_is_interrupted_and_the_rerun_scores_every_row_once(store, tmp_path):
    assert invoke("ingest", TASK.name, str(_csv(tmp_path, 3000)))[0] == 0
    _train()
    process = _start("score", TASK.name, "--chunk-size", "100")
    try:
        killed = _wait_for(lambda: (run := _running(store, "score")) and _scalar(
            store, sa.select(sa.func.count()).where(predictions.c.run_id == run)) and run,
            process)
        # A second score while the first runs: a message, exit 1, nothing written.
        code, out, err = invoke("score", TASK.name, "--chunk-size", "100")
        assert code == 1 and "Traceback" not in out + err
        assert f"run {killed} (score of {TASK.name}) is in progress since " in err
        assert "wait for it to finish" in err
    finally:
        _kill(process)
    left = _scalar(store, sa.select(sa.func.count()).where(predictions.c.run_id == killed))
    assert 0 < left < 3000
    code, out, err = invoke("score", TASK.name, "--chunk-size", "100")
    assert code == 0, out + err
    assert f"scored {3000 - left} row(s)" in out
    with store.connect() as conn:
        rows, keys = conn.execute(sa.select(sa.func.count(),
                                            sa.func.count(sa.distinct(predictions.c.entity_key)))
                                  ).one()
        inputs = conn.execute(sa.text(f"SELECT COUNT(*) FROM {TABLE}")).scalar_one()
    assert rows == keys == inputs == 3000  # exactly once, every row
    run = _run(store, killed)
    assert run.status == "interrupted" and run.rows_out == left and run.batches == left // 100
    assert run.error.startswith("interrupted: its process (pid ")
    code, out, _ = invoke("runs", "--task", TASK.name)
    assert code == 0 and "interrupted" in out


def test_a_killed_ingest_is_interrupted_with_its_rows_and_the_rerun_adds_none(store, tmp_path):
    path = _csv(tmp_path, 2000)
    process = _start("ingest", TASK.name, str(path))
    try:
        killed = _wait_for(lambda: (run := _running(store, "ingest")) and _scalar(
            store, sa.text(f"SELECT COUNT(*) FROM {TABLE} WHERE _run_id = {run}")) and run,
            process)
        code, out, err = invoke("ingest", TASK.name, str(path))
        assert code == 1 and "Traceback" not in out + err
        assert f"run {killed} (ingest of {TASK.name}) is in progress since " in err
    finally:
        _kill(process)
    code, out, err = invoke("ingest", TASK.name, str(path))
    assert code == 0, out + err
    assert "0 new rows accepted, 2000 already in store" in out
    with store.connect() as conn:
        rows, keys = conn.execute(sa.text(
            f"SELECT COUNT(*), COUNT(DISTINCT application_id) FROM {TABLE}")).one()
    assert rows == keys == 2000
    run = _run(store, killed)
    assert (run.status, run.rows_out, run.rows_in) == ("interrupted", 2000, 2000)
    assert pd.notna(run.finished_at)
