"""Schedules in the store and the scheduler that runs due pipelines (croniter under a loop).

croniter computes the slots; the loop is ours so the clock can be injected (tests drive a day
in a second) and the run claim is a database row (a second scheduler on the same PostgreSQL
sees the claim and skips). A run missed while the scheduler was down runs once on start: a
schedule is due when its latest slot is newer than the last slot it ran, however many passed.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import Engine

from core import registry
from core.store.runs import FAILED, TRIGGER, track_run
from core.store.schema import pipeline_runs, run_claims, schedules, utcnow
from core.task import Task, TaskRegistryError, get_task

# A claim older than this is a crashed scheduler's: it is taken over.
STALE_CLAIM = timedelta(hours=6)


class ScheduleError(ValueError):
    """A schedule cannot be added or found (malformed cron, unknown Task/pipeline, no inputs)."""


def _run_score(engine: Engine, task: Task, options: Mapping[str, Any]) -> None:
    from pipelines.gate import score_with_shadow

    score_with_shadow(engine, task, chunk_size=int(options.get("chunk_size", 50_000)))


def _run_ingest(engine: Engine, task: Task, options: Mapping[str, Any]) -> None:
    from core.live import refresh_live
    from pipelines.ingest import adapter_for, ingest_dataset, ingest_file

    path = Path(options["path"])
    dataset = (task.datasets[options["dataset"]] if options.get("dataset")
               else adapter_for(task, path))
    if dataset is not None:
        ingest_dataset(engine, task, dataset, path)
    else:
        ingest_file(engine, task, path)
    refresh_live(engine, task)


def _run_train(engine: Engine, task: Task, options: Mapping[str, Any]) -> None:
    from pipelines.train import train

    train(engine, task, profile=str(options.get("profile", "quick")))


def _run_monitor(engine: Engine, task: Task, options: Mapping[str, Any]) -> None:
    from pipelines.gate import monitor

    monitor(engine, task, profile=str(options.get("profile", "quick")))


RUNNERS: dict[str, Callable[[Engine, Task, Mapping[str, Any]], None]] = {
    "ingest": _run_ingest, "train": _run_train, "score": _run_score, "monitor": _run_monitor,
}


@dataclass
class Schedule:
    id: int
    task: str
    pipeline: str
    cron: str
    options: dict[str, Any]
    paused: bool
    created_at: datetime
    last_slot: datetime | None
    last_run_id: int | None

    def next_run(self, now: datetime) -> datetime:
        return croniter(self.cron, now).get_next(datetime)

    def latest_slot(self, now: datetime) -> datetime:
        """The newest slot at or before `now`."""
        return croniter(self.cron, now + timedelta(microseconds=1)).get_prev(datetime)

    def due(self, now: datetime) -> bool:
        since = self.last_slot or self.created_at
        return not self.paused and self.latest_slot(now) > since


def _row(row: Mapping[str, Any]) -> Schedule:
    return Schedule(id=row["id"], task=row["task"], pipeline=row["pipeline"], cron=row["cron"],
                    options=json.loads(row["options"] or "{}"), paused=bool(row["paused"]),
                    created_at=row["created_at"], last_slot=row["last_slot"],
                    last_run_id=row["last_run_id"])


def check_inputs(engine: Engine, task: Task, pipeline: str, options: Mapping[str, Any]) -> None:
    """Refuse now what would fail at 3 a.m.: a missing input file, no champion to score with."""
    if pipeline == "ingest":
        if not options.get("path"):
            raise ScheduleError(f"an ingest schedule needs the file or folder to read: "
                                f"--path PATH (Task {task.name})")
        if not Path(options["path"]).exists():
            raise ScheduleError(f"--path {options['path']}: no such file or folder; the ingest "
                                "schedule would fail on every run")
        if options.get("dataset") and options["dataset"] not in task.datasets:
            raise ScheduleError(f"Task {task.name} has no dataset {options['dataset']!r}; "
                                f"datasets: {', '.join(task.datasets) or 'none'}")
    if pipeline in ("score", "monitor") and registry.champion(engine, task.name) is None:
        raise ScheduleError(f"Task {task.name} has no champion to {pipeline} with: train it "
                            f"first (verticals train {task.name})")


def add(engine: Engine, task_name: str, pipeline: str, cron: str, *,
        options: Mapping[str, Any] | None = None, now: datetime | None = None) -> Schedule:
    """Store a schedule after checking the Task, the pipeline, the cron expression and inputs."""
    try:
        task = get_task(task_name)
    except TaskRegistryError as error:
        raise ScheduleError(str(error)) from None
    if pipeline not in RUNNERS:
        raise ScheduleError(f"unknown pipeline {pipeline!r}: schedulable pipelines are "
                            f"{', '.join(RUNNERS)}")
    if not croniter.is_valid(cron):
        raise ScheduleError(f"--cron {cron!r} is not a cron expression: five fields "
                            "'minute hour day-of-month month day-of-week', e.g. '*/15 * * * *'")
    options = dict(options or {})
    check_inputs(engine, task, pipeline, options)
    values = {"task": task.name, "pipeline": pipeline, "cron": cron,
              "options": json.dumps(options, sort_keys=True), "created_at": now or utcnow()}
    with engine.begin() as conn:
        clash = conn.execute(sa.select(schedules.c.id).where(
            schedules.c.task == task.name, schedules.c.pipeline == pipeline,
            schedules.c.cron == cron)).scalar()
        if clash is not None:
            raise ScheduleError(f"schedule {clash} already runs {pipeline} of {task.name} at "
                                f"{cron!r}")
        new_id = conn.execute(schedules.insert().values(**values)
                              .returning(schedules.c.id)).scalar_one()
    return get(engine, new_id)


def get(engine: Engine, schedule_id: int) -> Schedule:
    with engine.connect() as conn:
        row = conn.execute(sa.select(schedules).where(schedules.c.id == schedule_id)
                           ).mappings().first()
    if row is None:
        raise ScheduleError(f"no schedule {schedule_id}: see `verticals schedule list`")
    return _row(row)


def listing(engine: Engine, task_name: str | None = None) -> list[Schedule]:
    statement = sa.select(schedules).order_by(schedules.c.id)
    if task_name is not None:
        statement = statement.where(schedules.c.task == task_name)
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(statement).mappings()]


def remove(engine: Engine, schedule_id: int) -> None:
    get(engine, schedule_id)
    with engine.begin() as conn:
        conn.execute(schedules.delete().where(schedules.c.id == schedule_id))


def pause(engine: Engine, schedule_id: int, paused: bool = True) -> Schedule:
    get(engine, schedule_id)
    with engine.begin() as conn:
        conn.execute(schedules.update().where(schedules.c.id == schedule_id)
                     .values(paused=paused))
    return get(engine, schedule_id)


@contextmanager
def claim(engine: Engine, task_name: str, pipeline: str, now: datetime) -> Iterator[bool]:
    """Yield True when this process holds the Task+pipeline claim (a row whose primary key
    refuses a second), False when another run holds it; the claim is dropped afterwards."""
    owner = f"{socket.gethostname()}:{os.getpid()}"
    key = (run_claims.c.task == task_name) & (run_claims.c.pipeline == pipeline)
    try:
        with engine.begin() as conn:
            stale = run_claims.c.claimed_at < now - STALE_CLAIM
            conn.execute(run_claims.delete().where(key, stale))
            conn.execute(run_claims.insert().values(task=task_name, pipeline=pipeline,
                                                    owner=owner, claimed_at=now))
    except sa.exc.IntegrityError:
        yield False
        return
    try:
        yield True
    finally:
        with engine.begin() as conn:
            conn.execute(run_claims.delete().where(key))


@dataclass
class Outcome:
    schedule_id: int
    task: str
    pipeline: str
    status: str  # succeeded | failed | skipped (claimed elsewhere)
    run_id: int | None = None
    error: str | None = None


def _newest_run(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(pipeline_runs.c.id))).scalar() or 0)


def run_schedule(engine: Engine, item: Schedule, now: datetime,
                 runners: Mapping[str, Callable[..., None]] | None = None) -> Outcome:
    """Run one schedule now (trigger `schedule`) under the Task+pipeline claim. A failure is
    a failed run row (the pipeline's own, or one written here when it failed before starting
    one) and an Outcome, never an exception."""
    runner = (runners or RUNNERS)[item.pipeline]
    with claim(engine, item.task, item.pipeline, now) as held:
        if not held:
            return Outcome(item.id, item.task, item.pipeline, "skipped",
                           error="a run of this Task and pipeline is in progress")
        before = _newest_run(engine)
        token = TRIGGER.set("schedule")
        status, error = "succeeded", None
        try:
            runner(engine, get_task(item.task), item.options)
        except Exception as failure:  # the scheduler outlives any pipeline's failure
            status, error = FAILED, f"{type(failure).__name__}: {failure}"
            if _newest_run(engine) == before:  # it failed before recording a run
                try:
                    with track_run(engine, item.task, item.pipeline, {"schedule": item.id}):
                        raise failure
                except Exception:
                    pass
        finally:
            TRIGGER.reset(token)
        run_id = _newest_run(engine)
        run_id = run_id if run_id > before else None
    with engine.begin() as conn:
        conn.execute(schedules.update().where(schedules.c.id == item.id).values(
            last_slot=item.latest_slot(now), last_run_id=run_id))
    return Outcome(item.id, item.task, item.pipeline, status, run_id, error)


def run_due(engine: Engine, now: datetime,
            runners: Mapping[str, Callable[..., None]] | None = None) -> list[Outcome]:
    """Run every schedule due at `now` once (missed slots collapse into one run)."""
    return [run_schedule(engine, item, now, runners)
            for item in listing(engine) if item.due(now)]


def serve(engine: Engine, *, clock: Callable[[], datetime] = utcnow,
          sleep: Callable[[float], None] = time.sleep, stop: Callable[[], bool] = lambda: False,
          report: Callable[[Outcome], None] | None = None, poll_s: float = 30.0) -> None:
    """The scheduler loop: run what is due, sleep until the next slot (at most `poll_s`)."""
    while not stop():
        now = clock()
        for outcome in run_due(engine, now):
            if report is not None:
                report(outcome)
        upcoming = [s.next_run(now) for s in listing(engine) if not s.paused]
        wait = min([(n - now).total_seconds() for n in upcoming] + [poll_s])
        sleep(max(wait, 0.5))


_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _calendar_field(field: str, days: bool = False) -> str:
    """One cron field in systemd OnCalendar syntax ('*/15' -> '0/15', '1-5' -> '1..5')."""
    if field == "*":
        return "*"
    parts = []
    for part in field.split(","):
        part = part.replace("*/", "0/" if not days else "*/")
        if days:
            part = "..".join(_DAYS[int(p)] if p.isdigit() else p for p in part.split("-"))
        else:
            part = part.replace("-", "..")
        parts.append(part)
    return ",".join(parts)


def crontab_line(item: Schedule) -> str:
    return f"{item.cron} verticals schedule run {item.id}  # {item.task} {item.pipeline}"


def systemd_units(item: Schedule) -> str:
    """A .service and a .timer running `verticals schedule run ID` on the same slots."""
    minute, hour, dom, month, dow = item.cron.split()
    day = "" if dow == "*" else _calendar_field(dow, days=True) + " "
    calendar = (f"{day}*-{_calendar_field(month)}-{_calendar_field(dom)} "
                f"{_calendar_field(hour)}:{_calendar_field(minute)}:00")
    name = f"verticals-schedule-{item.id}"
    return (f"# {name}.service\n[Unit]\nDescription=Verticals {item.pipeline} of {item.task}\n\n"
            f"[Service]\nType=oneshot\nExecStart=verticals schedule run {item.id}\n\n"
            f"# {name}.timer\n[Unit]\nDescription=Verticals schedule {item.id} ({item.cron})\n\n"
            f"[Timer]\nOnCalendar={calendar}\nPersistent=true\n\n[Install]\n"
            "WantedBy=timers.target\n")
