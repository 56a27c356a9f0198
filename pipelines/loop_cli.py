"""The `verticals schedule …`, `scheduler`, `monitor` and `live` commands (the scheduled loop)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipelines.cli import TaskArg, _table, app, err, open_store, out, user_errors

schedule_app = typer.Typer(help="Schedules in the store: add, list, pause, remove, export, run.",
                           no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")
IdArg = Annotated[int, typer.Argument(help="schedule id (see `verticals schedule list`)")]


@schedule_app.command("add")
def schedule_add(
    task: TaskArg,
    pipeline: Annotated[str, typer.Argument(help="ingest, train, score or monitor")],
    cron: Annotated[str, typer.Option("--cron", help="cron expression, e.g. '*/15 * * * *'")],
    path: Annotated[str | None, typer.Option(help="ingest: the file or folder to read")] = None,
    dataset: Annotated[str | None, typer.Option(help="ingest: the Task's adapter")] = None,
    profile: Annotated[str | None, typer.Option(help="train/monitor: the profile")] = None,
) -> None:
    """Add a schedule; a malformed cron, unknown Task/pipeline or missing input is refused."""
    with user_errors():
        from pipelines import schedule

        options = {k: v for k, v in {"path": path, "dataset": dataset, "profile": profile}.items()
                   if v is not None}
        engine = open_store()
        item = schedule.add(engine, task, pipeline, cron, options=options)
        out.print(f"schedule {item.id}: {item.pipeline} of {item.task} at {item.cron!r}; "
                  f"next run {item.next_run(schedule.utcnow()):%Y-%m-%d %H:%M} UTC")


@schedule_app.command("list")
def schedule_list() -> None:
    """Schedules with their next run and last run."""
    with user_errors():
        from pipelines import schedule

        engine = open_store()
        now = schedule.utcnow()
        table = _table("id", "task", "pipeline", "cron", "options", "next run (UTC)", "last run",
                       "paused")
        for item in schedule.listing(engine):
            table.add_row(str(item.id), item.task, item.pipeline, item.cron,
                          json.dumps(item.options), f"{item.next_run(now):%Y-%m-%d %H:%M}",
                          str(item.last_run_id or ""), "yes" if item.paused else "")
        out.print(table)


@schedule_app.command("remove")
def schedule_remove(schedule_id: IdArg) -> None:
    """Delete a schedule."""
    with user_errors():
        from pipelines import schedule

        schedule.remove(open_store(), schedule_id)
        out.print(f"schedule {schedule_id} removed")


@schedule_app.command("pause")
def schedule_pause(schedule_id: IdArg, resume: Annotated[bool, typer.Option(
        help="resume a paused schedule")] = False) -> None:
    """Pause a schedule (or --resume it)."""
    with user_errors():
        from pipelines import schedule

        schedule.pause(open_store(), schedule_id, paused=not resume)
        out.print(f"schedule {schedule_id} {'resumed' if resume else 'paused'}")


@schedule_app.command("export")
def schedule_export(
    crontab: Annotated[bool, typer.Option("--crontab", help="crontab lines")] = False,
    systemd: Annotated[bool, typer.Option("--systemd", help="systemd .service/.timer units")
                       ] = False,
) -> None:
    """Print the schedules for cron or systemd timers (each runs `verticals schedule run ID`)."""
    with user_errors():
        from pipelines import schedule

        if crontab == systemd:
            raise typer.BadParameter("choose one of --crontab or --systemd")
        for item in schedule.listing(open_store()):
            if item.paused:
                continue
            typer.echo(schedule.crontab_line(item) if crontab else schedule.systemd_units(item))


@schedule_app.command("run")
def schedule_run(schedule_id: IdArg) -> None:
    """Run one schedule now (what cron/systemd call), under the Task+pipeline claim."""
    with user_errors():
        from pipelines import schedule

        engine = open_store()
        outcome = schedule.run_schedule(engine, schedule.get(engine, schedule_id),
                                        schedule.utcnow())
        out.print(f"schedule {schedule_id}: {outcome.status} (run {outcome.run_id})"
                  + (f": {outcome.error}" if outcome.error else ""))
        if outcome.status == "failed":
            raise typer.Exit(1)


@app.command()
def scheduler(poll: Annotated[float, typer.Option(help="seconds between checks at most")] = 30.0
              ) -> None:
    """Run due schedules until stopped (Ctrl-C); missed slots run once on start."""
    with user_errors():
        from pipelines import schedule

        engine = open_store()
        err.print(f"scheduler: {len(schedule.listing(engine))} schedule(s); Ctrl-C stops")

        def report(o: schedule.Outcome) -> None:
            out.print(f"{schedule.utcnow():%Y-%m-%d %H:%M:%S} schedule {o.schedule_id} "
                      f"{o.pipeline} {o.task}: {o.status} (run {o.run_id})"
                      + (f": {o.error}" if o.error else ""))

        try:
            schedule.serve(engine, report=report, poll_s=poll)
        except KeyboardInterrupt:
            err.print("scheduler stopped")


@app.command()
def monitor(
    task: TaskArg,
    profile: Annotated[str, typer.Option(help="retrain profile")] = "quick",
    model: Annotated[list[str] | None, typer.Option(help="retrain only these candidates")] = None,
    threshold: Annotated[float | None, typer.Option(help="override the gate's threshold")] = None,
    min_outcomes: Annotated[int | None, typer.Option(help="override the gate's minimum")] = None,
) -> None:
    """Live accuracy and drift against the gate: retrain, promote or keep back (a row each)."""
    with user_errors():
        from dataclasses import replace

        from core.task import get_task
        from pipelines.gate import monitor as run_monitor

        spec = get_task(task)
        gate = spec.live_gate
        if threshold is not None or min_outcomes is not None:
            gate = replace(gate, threshold=gate.threshold if threshold is None else threshold,
                           min_outcomes=gate.min_outcomes if min_outcomes is None
                           else min_outcomes)
            spec = replace(spec, gate=gate)
        decision = run_monitor(open_store(), spec, profile=profile,
                               models=tuple(model) if model else None)
        out.print(f"{spec.name}: {decision.decision}: {decision.reason}")


@app.command()
def live(task: TaskArg, scope: Annotated[str, typer.Option(help="month, batch or all")] = "month"
         ) -> None:
    """Live accuracy per model version and month (or batch) from the arrived outcomes."""
    with user_errors():
        from core.live import live_frame, refresh_live
        from core.task import get_task

        spec = get_task(task)
        engine = open_store()
        refresh_live(engine, spec)
        frame = live_frame(engine, spec.name, scope)
        if frame.empty:
            out.print(f"no outcomes joined with predictions of {spec.name} yet")
            return
        wide = frame.pivot_table(index=["version", "period"], columns="metric", values="value")
        counts = frame.groupby(["version", "period"])["n"].max()
        table = _table("version", "period", "n", *wide.columns)
        for (version, period), row in wide.iterrows():
            table.add_row(f"v{version}", period, str(int(counts[(version, period)])),
                          *[f"{v:.4f}" for v in row])
        out.print(table)


@app.command()
def release(task: TaskArg, run: Annotated[int, typer.Argument(help="the held ingest run id")],
            by: Annotated[str, typer.Option(help="who releases it")] = "cli") -> None:
    """Release a batch the data-quality gate held back: the next score scores it."""
    with user_errors():
        from core.task import get_task
        from pipelines.quality import release as release_batch

        spec = get_task(task)
        release_batch(open_store(), spec, run, by)
        out.print(f"ingest run {run} of {spec.name} released: the next score scores its rows")


@app.command()
def held(task: TaskArg) -> None:
    """Batches the data-quality gate holds back (and those released), with the reason."""
    with user_errors():
        from core.task import get_task
        from pipelines.quality import held as held_frame

        spec = get_task(task)
        table = _table("ingest run", "held at", "reason", "released")
        for row in held_frame(open_store(), spec.name).itertuples():
            table.add_row(str(row.run_id), f"{row.held_at:%Y-%m-%d %H:%M}", row.reason,
                          "" if row.released_at is None or str(row.released_at) == "NaT"
                          else f"{row.released_at:%Y-%m-%d %H:%M} by {row.released_by}")
        out.print(table)
