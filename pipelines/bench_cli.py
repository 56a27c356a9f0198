"""The `verticals bench` and `verticals sample` commands: one JSON line of a Task's benchmark
(pipelines.bench) and the CSV of its seeded generator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from core import progress
from pipelines.cli import (
    PROFILE_HELP,
    QUIET_HELP,
    TaskArg,
    _check_profile,
    _progress,
    _task,
    app,
    err,
    open_store,
    out,
    user_errors,
)


@app.command()
def bench(
    task: TaskArg,
    dataset: Annotated[str | None, typer.Option(
        help="the Task's dataset adapter (its protocol, or the data of a --bench)")] = None,
    benchmark: Annotated[str | None, typer.Option(
        "--bench", help="a named benchmark (dashboards, or the Kind's: throughput, predict_speed)")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="file/folder (default $VERTICALS_DATA/NAME)")
                    ] = None,
    target: Annotated[str | None, typer.Option(help="target column (csv adapter)")] = None,
    id: Annotated[str | None, typer.Option("--id", help="id column (csv adapter)")] = None,
    rows: Annotated[int | None, typer.Option(
        min=1, help="rows the throughput and dashboards benches generate (default 10^6)")] = None,
    profile: Annotated[str, typer.Option(help=PROFILE_HELP)] = "full",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    chunk_size: Annotated[int | None, typer.Option(
        min=1, help="throughput: rows per batch (default 100,000)")] = None,
    positive: Annotated[str | None, typer.Option(
        help="target value meaning the bad outcome (csv adapter)")] = None,
    seeds: Annotated[int | None, typer.Option(
        min=1, help="train with this many seeds and report mean and std (Kinds that support it)")
    ] = None,
    adjacency: Annotated[str | None, typer.Option(
        help="adjacency CSV (speed_matrix adapter; default: *adj*.csv beside the data)")] = None,
    start: Annotated[str | None, typer.Option(
        help="first timestamp when the data has no date column (speed_matrix adapter)")] = None,
    freq: Annotated[str | None, typer.Option(
        help="time step when the data has no date column, e.g. 15min (speed_matrix)")] = None,
    subset: Annotated[str | None, typer.Option(
        help="C-MAPSS subset (FD001..FD004) when the folder holds several (cmapss adapter)")
    ] = None,
    sizes: Annotated[str | None, typer.Option(
        help="scaling: training rows per step, comma-separated (default 1000,10000,100000,"
             "1000000)")] = None,
    max_rows: Annotated[int | None, typer.Option(
        min=1, help="scaling: refuse sizes above this (default 1,000,000)")] = None,
    protected: Annotated[str | None, typer.Option(
        help="csv adapter: protected columns left out of the features, comma-separated "
             "(default: columns named like sex, marriage, age; 'none' for none)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help=QUIET_HELP)] = False,
) -> None:
    """Benchmark the Task's candidates: exactly one JSON line on stdout."""
    with user_errors():
        from pipelines.bench import bench as run_bench
        from pipelines.bench import stdout_to_stderr

        spec, profile = _task(task), _check_profile(profile)
        options = {"target": target, "id": id, "positive": positive, "rows": rows,
                   "chunk_size": chunk_size, "adjacency": adjacency, "start": start,
                   "freq": freq, "subset": subset, "sizes": sizes, "max_rows": max_rows,
                   "protected": protected}
        with stdout_to_stderr():
            engine = open_store()
            with progress.listen(_progress(quiet)):
                result = run_bench(engine, spec, dataset, benchmark=benchmark, data=data,
                                   options=options, profile=profile, seed=seed, seeds=seeds,
                                   log=(lambda _: None) if quiet else err.print)
        typer.echo(json.dumps(result))


@app.command()
def sample(
    task: TaskArg,
    rows: Annotated[int | None, typer.Option(
        min=1, help="rows (default: the Task's sample size)")] = None,
    seed: Annotated[int, typer.Option(help="generator seed")] = 0,
    file: Annotated[Path | None, typer.Option(
        "--out", help="file (default ./<task>.csv, e.g. ./finance_credit_scoring.csv)")] = None,
) -> None:
    """Write the Task's seeded sample as CSV to the current directory (or --out).

    Never into the installed package: the samples the demo ingests live in the checkout's
    data_samples/, refreshed with `--out data_samples/<task>.csv`.
    """
    with user_errors():
        from pipelines.demo import write_sample

        spec = _task(task)
        target = file if file is not None else spec.sample_path(Path.cwd())
        path, written = write_sample(spec, rows=rows, seed=seed, out=target)
        out.print(f"wrote {written} rows of {spec.name} to {path}")
