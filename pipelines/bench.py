"""Bench: evaluate a Task's candidates on a public dataset and return one JSON-able dict."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from core import progress
from core.kinds.base import Benchmark
from core.store.runs import track_run
from core.task import Task


class BenchError(RuntimeError):
    """The benchmark cannot run (unknown dataset, missing data, bad options)."""


def data_root() -> Path | None:
    """VERTICALS_DATA, else ../shared/datasets next to the working directory when it exists."""
    env = os.environ.get("VERTICALS_DATA")
    if env:
        return Path(env).expanduser()
    default = Path.cwd().parent / "shared" / "datasets"
    return default if default.is_dir() else None


def resolve_data(dataset: str, data: Path | None) -> Path:
    if data is not None:
        path = data.expanduser()
    else:
        root = data_root()
        if root is None:
            raise BenchError(
                f"no data for dataset {dataset!r}: pass --data PATH or set VERTICALS_DATA "
                "to the folder holding the public datasets"
            )
        path = root / dataset
    if not path.exists():
        raise BenchError(f"data for dataset {dataset!r} not found at {path}: pass --data PATH")
    return path


def finite(value: Any) -> Any:
    """NaN/inf are not JSON: they become null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Keep stdout for the one JSON line: library chatter (Python or C level) goes to stderr."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real fd 1 (embedded runners): the Python-level redirect still holds
        saved = None
    if saved is not None:
        os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


# Named benchmarks every Task has besides its Kind's: pipelines run them, not the Kind.
TASK_BENCHMARKS = {"dashboards": Benchmark(
    "dashboards", "first paint and completion of every dashboard page in headless Chromium, "
    "on a fresh store holding --rows generated rows of the Task, scored",
    dataset=False, options=("rows", "chunk_size"))}


def named_benchmarks(task: Task) -> dict[str, Benchmark]:
    return {**TASK_BENCHMARKS, **task.kind.benchmarks()}


def _menu(task: Task) -> str:
    datasets = ", ".join(sorted(task.datasets)) or "(none)"
    named = ", ".join(sorted(named_benchmarks(task))) or "(none)"
    return f"datasets (--dataset): {datasets}; named benchmarks (--bench): {named}"


def load_dataset(task: Task, dataset: str, data: Path | None, options: Mapping[str, Any]) -> Any:
    if dataset not in task.datasets:
        hint = (f" ('{dataset}' is a named benchmark: --bench {dataset})"
                if dataset in named_benchmarks(task) else "")
        raise BenchError(f"Task {task.name} has no dataset {dataset!r}{hint}; {_menu(task)}")
    adapter = task.datasets[dataset]
    given = {key: value for key, value in options.items() if value is not None}
    unknown = sorted(set(given) - set(adapter.options))
    if unknown:
        raise BenchError(
            f"dataset {dataset!r} takes no option(s) {', '.join('--' + k for k in unknown)}; "
            f"it accepts: {', '.join('--' + k for k in adapter.options) or 'none'}"
        )
    path = resolve_data(dataset, data)
    try:
        return adapter.load(path, **given)
    except (KeyError, ValueError, FileNotFoundError) as error:
        raise BenchError(f"dataset {dataset!r} could not load {path}: {error}") from error


def _store_benchmark(name: str) -> Callable[..., dict[str, Any]]:
    """Benchmarks of the store and pipelines a Kind names with `Benchmark(run=None)`: core
    cannot run them (it never imports pipelines), so they are looked up here by name."""
    if name == "throughput":
        from pipelines.throughput import throughput

        return throughput
    if name == "dashboards":
        from pipelines.page_bench import page_bench

        return page_bench
    raise BenchError(f"no pipeline runs the store benchmark {name!r}: known: throughput, "
                     "dashboards")


def bench(
    engine: Engine, task: Task, dataset: str | None = None, *, benchmark: str | None = None,
    data: Path | None = None, options: Mapping[str, Any] | None = None, profile: str = "full",
    seed: int = 0, seeds: int | None = None, log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The Kind's dataset protocol on an adapter's frame, or one of its named benchmarks
    (`Kind.benchmarks`), with a bench run row in the store (store benchmarks use their own)."""
    given = {k: v for k, v in (options or {}).items() if v is not None}
    if benchmark is None and dataset is None:
        raise BenchError(f"say what to run for {task.name}: {_menu(task)}")
    if benchmark is not None:
        named = named_benchmarks(task)
        if benchmark not in named:
            raise BenchError(f"Task {task.name} has no named benchmark {benchmark!r}; "
                             f"{_menu(task)}")
        with progress.task(f"bench {task.name}: {benchmark} ({profile})"):
            return _named(engine, task, named[benchmark], dataset, data=data, options=given,
                          profile=profile, seed=seed, seeds=seeds, log=log)
    extra: dict[str, Any] = {}
    if seeds is not None:  # only Kinds whose protocol repeats over seeds take it
        if "seeds" not in task.kind.bench_options:
            raise BenchError(f"the {task.kind.name} bench of {task.name} takes no --seeds: its "
                             "protocol fixes its own repetitions")
        extra["seeds"] = seeds
    params = {"dataset": dataset, "data": str(data) if data else None, "profile": profile,
              **extra, **given}
    with (progress.task(f"bench {task.name}: {dataset} ({profile})"),
          track_run(engine, task.name, "bench", params) as run):
        frame = task.feature_frame(load_dataset(task, dataset, data, given))
        run.rows_in = len(frame)
        result = task.kind.bench(task, frame, dataset=dataset, profile=profile, seed=seed,
                                 **extra)
        run.rows_out = len(result.get("models", {}))
    return finite(result)


def _named(
    engine: Engine, task: Task, spec: Benchmark, dataset: str | None, *, data: Path | None,
    options: Mapping[str, Any], profile: str, seed: int, seeds: int | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    if seeds is not None:
        raise BenchError(f"benchmark {spec.name!r} takes no --seeds")
    own = {k: v for k, v in options.items() if k in spec.options}
    adapter_options = {k: v for k, v in options.items() if k not in spec.options}
    if spec.dataset and dataset is None:
        raise BenchError(f"benchmark {spec.name!r} of {task.name} runs on a dataset: add "
                         f"--dataset NAME ({', '.join(sorted(task.datasets)) or 'none'})")
    if not spec.dataset and (dataset is not None or adapter_options):
        raise BenchError(f"benchmark {spec.name!r} makes its own data: it takes no --dataset "
                         f"or adapter options; it accepts: "
                         f"{', '.join('--' + o for o in spec.options) or 'none'}")
    if spec.run is None:
        return finite(_store_benchmark(spec.name)(task, seed=seed, log=log, **own))
    params = {"benchmark": spec.name, "dataset": dataset, "data": str(data) if data else None,
              "profile": profile, **options}
    with track_run(engine, task.name, "bench", params) as run:
        frame = (task.feature_frame(load_dataset(task, dataset, data, adapter_options))
                 if spec.dataset else None)
        run.rows_in = 0 if frame is None else len(frame)
        try:
            result = spec.run(task, frame, profile=profile, seed=seed, **own)
        except ValueError as error:  # a benchmark refuses its options or data in words
            raise BenchError(f"benchmark {spec.name!r} of {task.name}: {error}") from error
        run.rows_out = len(result.get("models", {}))
    return finite(result)
