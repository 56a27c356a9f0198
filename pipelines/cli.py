"""The `verticals` command line (Typer): store, ingest, train, score, registry, demo; the
bench, loop and work-order commands live beside it (bench_cli, loop_cli, orders_cli)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.engine import Engine

from core import progress
from core.task import Task, TaskRegistryError, get_task, tasks
from pipelines.progress_lines import ProgressLines

if TYPE_CHECKING:
    from pipelines.train import TrainResult

app = typer.Typer(
    help="Verticals: machine learning for industry — ingest, train, score, bench, dashboards.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

TaskArg = Annotated[str, typer.Argument(help="Task name, e.g. finance.credit_scoring")]
# `smoke` is accepted but hidden: it exists for tests, not for users.
PROFILE_HELP = "quick (minutes) or full (benchmarks)"
QUIET_HELP = "no progress on stderr (errors still print)"
LEADERBOARD_METRICS = ("ks", "brier", "ece", "rmse", "mae")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean the input or the environment is wrong, not the code."""
    from core.store.engine import StoreConfigError, StoreSchemaError
    from core.store.runs import RunInProgress
    from pipelines.bench import BenchError
    from pipelines.ingest import IngestError
    from pipelines.quality import QualityError
    from pipelines.schedule import ScheduleError
    from pipelines.score import ScoreError
    from pipelines.train import TrainError

    errors: list[type[BaseException]] = [
        TaskRegistryError, StoreSchemaError, StoreConfigError, RunInProgress, IngestError,
        TrainError, ScoreError, BenchError, ScheduleError, QualityError,
        FileNotFoundError, sa.exc.OperationalError, sa.exc.ArgumentError,
    ]
    from core import registry

    errors += [value for name, value in vars(registry).items()
               if isinstance(value, type) and issubclass(value, Exception)
               and name.endswith("Error") and value.__module__ == registry.__name__]
    return tuple(errors)


@contextmanager
def user_errors() -> Iterator[None]:
    """A user error becomes one clear message and exit code 1; bugs keep their traceback."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as error:
        if not isinstance(error, _user_errors()):
            raise
        message = str(error).strip() or type(error).__name__
        if isinstance(error, sa.exc.OperationalError):
            message = (f"cannot use the store: {str(error.orig).strip()}. Check VERTICALS_DB_URL "
                       "(or VERTICALS_HOME for the default SQLite file).")
        err.print(f"[bold red]error:[/] {message}")
        raise typer.Exit(1) from None


def open_store() -> Engine:
    """The store named by VERTICALS_DB_URL / VERTICALS_HOME, migrated to head (idempotent)."""
    from core.store.engine import make_engine, migrate

    engine = make_engine()
    migrate(engine)
    return engine


def _task(name: str) -> Task:
    return get_task(name)


def _check_profile(profile: str) -> str:
    from core.task import PROFILES

    if profile not in PROFILES:
        raise typer.BadParameter(f"use one of {', '.join(p for p in PROFILES if p != 'smoke')}",
                                 param_hint="--profile")
    return profile


def _table(*columns: str, title: str | None = None) -> Table:
    """A table that wraps long cells instead of cutting them (names must stay readable)."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _spinner(text: str) -> Progress:
    progress = Progress(SpinnerColumn(), TextColumn(text), TimeElapsedColumn(), console=err,
                        transient=True)
    progress.add_task(text, total=None)
    return progress


def _progress(quiet: bool) -> ProgressLines | None:
    return None if quiet else ProgressLines(err)


@app.command()
def init() -> None:
    """Create or upgrade the store and the input table of every registered Task."""
    with user_errors():
        from core.store.engine import ensure_task_table

        engine = open_store()
        for task in tasks().values():
            ensure_task_table(engine, task)
        out.print(f"store ready: {engine.url.render_as_string(hide_password=True)} "
                  f"({len(tasks())} task table(s))")


@app.command("tasks")
def list_tasks(as_json: Annotated[bool, typer.Option("--json", help="JSON list of names")] = False
               ) -> None:
    """List the registered Tasks."""
    with user_errors():
        registry = tasks()
        if as_json:
            typer.echo(json.dumps(list(registry)))
            return
        table = _table("task", "title", "kind", "candidates", "datasets")
        for task in registry.values():
            table.add_row(task.name, task.title, task.kind.name, ", ".join(task.candidates()),
                          ", ".join(task.datasets))
        out.print(table)


@app.command()
def ingest(
    task: TaskArg,
    file: Annotated[Path | None, typer.Argument(
        help="CSV in the Task's schema (default: data_samples/<task>.csv), or a file/folder an "
             "adapter reads by its suffix (e.g. .dcm)")] = None,
    dataset: Annotated[str | None, typer.Option(help="read FILE/--data with this adapter")] = None,
    data: Annotated[Path | None, typer.Option(help="file/folder for --dataset")] = None,
) -> None:
    """Validate rows against the Task's schema; bad rows go to quarantine with the reason."""
    with user_errors():
        from pipelines.bench import resolve_data
        from pipelines.demo import sample_file
        from pipelines.ingest import IngestError, adapter_for, ingest_dataset, ingest_file

        spec = _task(task)
        engine = open_store()
        with _spinner(f"ingesting {spec.name}"):
            if dataset is not None:
                if dataset not in spec.datasets:
                    raise IngestError(f"Task {spec.name} has no dataset {dataset!r}; datasets: "
                                      f"{', '.join(sorted(spec.datasets)) or '(none)'}")
                path = resolve_data(dataset, data or file)
                result = ingest_dataset(engine, spec, spec.datasets[dataset], path)
            elif file is not None and (adapter := adapter_for(spec, file)) is not None:
                result = ingest_dataset(engine, spec, adapter, file)
            else:
                result = ingest_file(engine, spec, sample_file(spec, file))
        summary = _table("rows read", "accepted (new)", "already in store", "quarantined",
                        title=f"ingest {spec.name} (run {result.run_id}) from {result.source}")
        summary.add_row(str(result.rows_read), str(result.accepted),
                        str(result.skipped_existing), str(result.quarantined))
        out.print(summary)
        key = " + ".join(result.key) or "key"
        out.print(f"{result.accepted} new rows accepted, {result.skipped_existing} already in "
                  f"store (same {key}: skipped), {result.quarantined} quarantined")
        if result.reasons:
            reasons = _table("column", "rule", "rows", title="top quarantine reasons")
            for (column, rule), count in result.reasons.most_common(10):
                reasons.add_row(column or "(row)", rule, str(count))
            out.print(reasons)
        if result.held:
            out.print(f"[yellow]held[/] {result.held}")


@app.command()
def train(
    task: TaskArg,
    profile: Annotated[str, typer.Option(help=PROFILE_HELP)] = "quick",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    model: Annotated[list[str] | None, typer.Option(help="train only these candidates")] = None,
    dataset: Annotated[str | None, typer.Option(help="train from an adapter file")] = None,
    data: Annotated[Path | None, typer.Option(help="file/folder for --dataset")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help=QUIET_HELP)] = False,
) -> None:
    """Fit every candidate, register the versions and promote the best as champion."""
    with user_errors():
        from core.store.runs import fit_width
        from core.store.schema import model_versions
        from pipelines.bench import load_dataset
        from pipelines.ingest import dataset_source
        from pipelines.train import train as train_task

        spec, profile = _task(task), _check_profile(profile)
        engine = open_store()
        frame = load_dataset(spec, dataset, data, {}) if dataset else None
        # As ingest names it (a private path digested); the column has a width: a longer
        # path is digested too.
        source = (fit_width(dataset_source(spec.datasets[dataset], data),
                            model_versions.c.dataset.type.length) if dataset else "store")
        with progress.listen(_progress(quiet)):
            result = train_task(engine, spec, profile=profile, seed=seed,
                                models=tuple(model) if model else None, frame=frame,
                                dataset=source)
        out.print(_leaderboard(spec, result))


def _leaderboard(task: Task, result: TrainResult) -> Table:
    versions, champion = result.versions, result.champion
    primary = task.kind.primary_metric
    shown = [primary, *[m for m in LEADERBOARD_METRICS if m != primary]]
    metrics = [m for m in shown if any(m in v.metrics for v in versions)]
    # The primary metric's bootstrap interval (core.intervals) right after it: how far apart
    # two versions' figures must be before the ranking means anything.
    recorded = [v.intervals[primary] for v in versions if primary in v.intervals]
    spread = [f"{primary} {recorded[0].level:.0%} CI"] if recorded and metrics[:1] == [
        primary] else []
    board = _table("version", "model", *metrics[:1], *spread, *metrics[1:], "champion",
                   title=f"leaderboard {task.name} ({result.rows} rows)")
    ranked = sorted(versions, key=lambda v: v.primary_value if v.primary_value is not None
                    else float("-inf"), reverse=task.kind.higher_is_better)
    for version in ranked:
        values = [f"{version.metrics[m]:.3f}" if m in version.metrics else "" for m in metrics]
        interval = version.intervals.get(primary)
        ci = [f"{interval.low:.3f}-{interval.high:.3f}" if interval is not None else ""
              for _ in spread]
        board.add_row(str(version.version), version.model, *values[:1], *ci, *values[1:],
                      "*" if version.id == champion.id else "")
    return board


@app.command()
def score(
    task: TaskArg,
    chunk_size: Annotated[int, typer.Option(help="rows per batch (one transaction each)")] = 50_000,
    scheduler: Annotated[str | None, typer.Option(help="Dask: 'local' or a scheduler address")
                         ] = None,
    force: Annotated[bool, typer.Option(help="re-score rows that already have predictions")
                     ] = False,
    batch: Annotated[list[int] | None, typer.Option(help="only these batch numbers")] = None,
) -> None:
    """Score unscored rows with the champion: predictions, top reasons and drift per batch."""
    with user_errors():
        from pipelines.score import score as score_task

        spec = _task(task)
        engine = open_store()
        with Progress(TextColumn("scoring {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as progress:
            bar = progress.add_task(spec.name, total=None)

            def advance(_rows: int, total: int) -> None:
                progress.update(bar, total=total, advance=1)

            result = score_task(engine, spec, chunk_size=chunk_size, scheduler=scheduler,
                                force=force, batches=batch, progress=advance)
        out.print(f"scored {result.rows} row(s) of {spec.name} with model version "
                  f"{result.model_version} in {len(result.batches)} batch(es), "
                  f"{result.duration_s:.1f} s (run {result.run_id})")
        if result.unscored:
            shown = ", ".join(result.unscored[:10]) + (" ..." if len(result.unscored) > 10 else "")
            out.print(f"[yellow]not forecast[/] {len(result.unscored)} series with too little "
                      f"history for the champion: {shown}")
        for number, features in sorted(result.flagged.items()):
            out.print(f"[yellow]drift[/] batch {number}: PSI >= 0.2 on {', '.join(features)}")


@app.command()
def runs(
    task: Annotated[str | None, typer.Option(help="only this Task")] = None,
    limit: Annotated[int, typer.Option(help="most recent N runs")] = 20,
) -> None:
    """Recent pipeline runs with status, counts, duration and error."""
    with user_errors():
        from core.store.schema import pipeline_runs as runs_table

        engine = open_store()
        query = sa.select(runs_table).order_by(runs_table.c.id.desc()).limit(limit)
        if task is not None:
            query = query.where(runs_table.c.task == task)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        # With --task the task column says nothing: leave it out so rows fit a terminal.
        columns = ["id", "task", "pipeline", "status", "started", "s", "in/out/rej", "batches",
                   "error"]
        if task is not None:
            columns.remove("task")
        table = _table(*columns, title=task)
        for row in rows:
            cells = {"id": str(row.id), "task": row.task, "pipeline": row.pipeline,
                     "status": row.status, "started": f"{row.started_at:%m-%d %H:%M:%S}",
                     "s": f"{row.duration_s or 0:.1f}",
                     "in/out/rej": f"{row.rows_in}/{row.rows_out}/{row.rows_rejected}",
                     "batches": str(row.batches),
                     "error": (row.error or "").split("\n", 1)[0][:100]}
            table.add_row(*(cells[c] for c in columns))
        out.print(table)


@app.command()
def models(task: TaskArg) -> None:
    """Registered model versions of a Task, newest first; * marks the champion."""
    with user_errors():
        from core.store.queries import versions

        spec = _task(task)
        engine = open_store()
        found = versions(engine, spec.name)
        if not found:
            out.print(f"no model versions for {spec.name}: run `verticals train {spec.name}`")
            return
        table = _table("version", "model", "profile", "dataset", "rows", "primary", "created",
                       "champion", title=f"models of {spec.name}")
        for v in found:
            table.add_row(str(v.version), v.model, v.profile or "", v.dataset or "",
                          str(v.train_rows or ""),
                          f"{v.primary_metric}={v.primary_value:.4f}"
                          if v.primary_value is not None else v.primary_metric,
                          f"{v.created_at:%Y-%m-%d %H:%M}", "*" if v.is_champion else "")
        out.print(table)


@app.command()
def promote(task: TaskArg, version: Annotated[int, typer.Argument(help="model version")]) -> None:
    """Make a registered version the Task's champion."""
    with user_errors():
        from core import registry

        spec = _task(task)
        engine = open_store()
        registry.promote(engine, spec.name, version)
        out.print(f"champion of {spec.name} is now version {version}")


@app.command()
def dashboard(port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8501) -> None:
    """Serve the Streamlit dashboards on 127.0.0.1."""
    with user_errors():
        from pipelines.demo import serve

        open_store()
        raise typer.Exit(serve(port))


@app.command()
def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="stop after scoring")] = False,
    port: Annotated[int, typer.Option(help="dashboard port")] = 8501,
    profile: Annotated[str, typer.Option(help=PROFILE_HELP)] = "quick",
) -> None:
    """Build a demo store (every Task: ingest samples, train, score), then serve the dashboard."""
    with user_errors():
        from pipelines.demo import run_demo, serve

        profile = _check_profile(profile)
        engine = open_store()
        out.print(f"store: {engine.url.render_as_string(hide_password=True)}")

        def report(task: Task, step: str, result: object) -> None:
            detail = {
                "ingest": lambda r: f"{r.accepted} accepted, {r.quarantined} quarantined, "
                                    f"{r.skipped_existing} already in store",
                "train": lambda r: f"{len(r.versions)} versions, champion v{r.champion.version} "
                                   f"{r.champion.model} {r.champion.primary_metric}="
                                   f"{r.champion.primary_value:.4f}",
                "score": lambda r: f"{r.rows} rows in {len(r.batches)} batch(es)",
            }[step](result)
            out.print(f"{task.name} {step}: {detail}")

        with _spinner("demo: ingest, train, score every Task"):
            run_demo(engine, list(tasks().values()), profile=profile, report=report)
        if no_serve:
            return
        out.print(f"dashboard on http://127.0.0.1:{port} (Ctrl+C stops it)")
        raise typer.Exit(serve(port))


# The benchmark commands (bench, sample), the scheduled loop's (schedule, scheduler, monitor,
# live) and the work-order queue's (orders list|set|history) register on `app`.
import pipelines.bench_cli  # noqa: E402,F401
import pipelines.loop_cli  # noqa: E402,F401
import pipelines.orders_cli  # noqa: E402,F401


def main() -> None:  # pragma: no cover - `python -m pipelines.cli`
    app(prog_name="verticals")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
