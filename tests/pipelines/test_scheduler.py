"""The scheduler under an injected clock: a day of 15-minute slots, the missed-run rule,
failures that do not stop it, the run claim across two processes, and bad schedules."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.store.engine import make_engine
from core.store.runs import track_run
from core.store.schema import pipeline_runs
from pipelines import schedule

TASK = "finance.credit_scoring"
ROOT = Path(__file__).resolve().parents[2]
DAY = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def store(engine: sa.Engine) -> sa.Engine:
    return engine


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "batch.csv"
    path.write_text("id\n1\n")
    return path


def recording_runner(calls: list[str]):
    def run(engine: sa.Engine, task, options) -> None:
        with track_run(engine, task, "ingest", {"path": options["path"]}) as record:
            record.rows_in = 1
        calls.append(task.name)
    return run


def _runs(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(pipeline_runs)
                                              .order_by(pipeline_runs.c.id)).mappings()]


def test_a_day_of_15_minute_slots_runs_each_slot_once(store: sa.Engine, source: Path) -> None:
    schedule.add(store, TASK, "ingest", "*/15 * * * *", options={"path": str(source)}, now=DAY)
    calls: list[str] = []
    runners = {"ingest": recording_runner(calls)}
    clock = DAY
    while clock < DAY + timedelta(days=1):
        schedule.run_due(store, clock, runners)
        clock += timedelta(minutes=5)  # polled three times per slot: each slot runs once
    assert len(calls) == 95  # 00:15 .. 23:45 (the 00:00 slot is the creation time itself)
    runs = _runs(store)
    assert len(runs) == 95
    assert {json.loads(r["params"])["trigger"] for r in runs} == {"schedule"}
    assert {r["status"] for r in runs} == {"succeeded"}
    item = schedule.listing(store)[0]
    assert item.last_slot == DAY + timedelta(hours=23, minutes=45)
    assert item.next_run(clock) == DAY + timedelta(days=1, minutes=15)


def test_slots_missed_while_down_run_once_on_start(store: sa.Engine, source: Path) -> None:
    schedule.add(store, TASK, "ingest", "*/15 * * * *", options={"path": str(source)}, now=DAY)
    calls: list[str] = []
    runners = {"ingest": recording_runner(calls)}
    schedule.run_due(store, DAY + timedelta(hours=6), runners)
    assert len(calls) == 1
    # Down from 06:00 to 09:07: twelve slots passed, one run on start.
    outcomes = schedule.run_due(store, DAY + timedelta(hours=9, minutes=7), runners)
    assert [o.status for o in outcomes] == ["succeeded"] and len(calls) == 2
    assert schedule.run_due(store, DAY + timedelta(hours=9, minutes=14), runners) == []
    assert len(schedule.run_due(store, DAY + timedelta(hours=9, minutes=15), runners)) == 1


def test_a_failing_pipeline_marks_its_run_failed_and_the_scheduler_goes_on(
        store: sa.Engine, source: Path) -> None:
    schedule.add(store, TASK, "ingest", "*/15 * * * *", options={"path": str(source)}, now=DAY)
    attempts: list[datetime] = []

    def broken(engine, task, options) -> None:
        attempts.append(datetime.now(UTC))
        if len(attempts) == 1:
            raise RuntimeError("the source share is not mounted")  # before any run row
        with track_run(engine, task, "ingest"):
            raise ValueError("row 3, column amount: not a number")

    first = schedule.run_due(store, DAY + timedelta(minutes=15), {"ingest": broken})
    second = schedule.run_due(store, DAY + timedelta(minutes=30), {"ingest": broken})
    assert [o.status for o in first + second] == ["failed", "failed"]
    runs = _runs(store)
    assert [r["status"] for r in runs] == ["failed", "failed"]
    assert "the source share is not mounted" in runs[0]["error"]
    assert "row 3, column amount" in runs[1]["error"]
    assert second[0].run_id == runs[1]["id"]


def test_paused_schedules_do_not_run_and_removed_ones_are_gone(
        store: sa.Engine, source: Path) -> None:
    item = schedule.add(store, TASK, "ingest", "0 * * * *", options={"path": str(source)},
                        now=DAY)
    schedule.pause(store, item.id)
    calls: list[str] = []
    assert schedule.run_due(store, DAY + timedelta(hours=3), {"ingest": recording_runner(calls)}
                            ) == []
    schedule.pause(store, item.id, paused=False)
    assert len(schedule.run_due(store, DAY + timedelta(hours=3),
                                {"ingest": recording_runner(calls)})) == 1
    schedule.remove(store, item.id)
    assert schedule.listing(store) == []
    with pytest.raises(schedule.ScheduleError, match="no schedule"):
        schedule.remove(store, item.id)


@pytest.mark.parametrize(("task", "pipeline", "cron", "options", "message"), [
    (TASK, "ingest", "*/15 * * *", None, "not a cron expression"),
    (TASK, "ingest", "61 * * * *", None, "not a cron expression"),
    ("nowhere.task", "ingest", "* * * * *", None, "nowhere.task"),
    (TASK, "deploy", "* * * * *", None, "unknown pipeline 'deploy'"),
    (TASK, "ingest", "* * * * *", {"path": "/no/such/file.csv"}, "no such file"),
    (TASK, "ingest", "* * * * *", {}, "needs the file"),
    (TASK, "score", "* * * * *", {}, "no champion"),
])
def test_bad_schedules_are_refused_at_add(store: sa.Engine, task: str, pipeline: str, cron: str,
                                          options: dict | None, message: str, source: Path
                                          ) -> None:
    options = {"path": str(source)} if options is None else options
    with pytest.raises(schedule.ScheduleError, match=message):
        schedule.add(store, task, pipeline, cron, options=options)
    assert schedule.listing(store) == []


def test_export_prints_crontab_and_systemd_timers(store: sa.Engine, source: Path) -> None:
    item = schedule.add(store, TASK, "ingest", "*/15 6-18 * * 1-5",
                        options={"path": str(source)})
    assert schedule.crontab_line(item).startswith(
        f"*/15 6-18 * * 1-5 verticals schedule run {item.id}")
    units = schedule.systemd_units(item)
    assert "OnCalendar=Mon..Fri *-*-* 6..18:0/15:00" in units
    assert f"ExecStart=verticals schedule run {item.id}" in units


def _slow_runner(engine, task, options) -> None:
    with track_run(engine, task, "ingest"):
        time.sleep(6.0)  # longer than the other process takes to start and claim


COMPETE = """
import sys
from datetime import datetime
from core.store.engine import make_engine
from pipelines import schedule
from tests.pipelines.test_scheduler import _slow_runner
engine = make_engine(sys.argv[1])
item = schedule.get(engine, int(sys.argv[2]))
outcome = schedule.run_schedule(engine, item, datetime.fromisoformat(sys.argv[3]),
                                {"ingest": _slow_runner})
print(outcome.status)
"""


@pytest.mark.postgres
def test_two_scheduler_processes_never_run_one_task_pipeline_twice(
        pg_url: str, source: Path) -> None:
    from core.store.engine import migrate

    engine = make_engine(pg_url)
    migrate(engine)
    item = schedule.add(engine, TASK, "ingest", "*/15 * * * *", options={"path": str(source)},
                        now=DAY)
    now = (DAY + timedelta(minutes=15)).isoformat()
    # Two separate processes (not threads): each has its own connections and process id.
    workers = [subprocess.Popen([sys.executable, "-c", COMPETE, pg_url, str(item.id), now],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
    statuses = sorted(w.communicate(timeout=120)[0].strip().splitlines()[-1] for w in workers)
    assert statuses == ["skipped", "succeeded"]
    assert [r["status"] for r in _runs(engine)] == ["succeeded"]
    engine.dispose()
