"""Bench: evaluate a Task's candidates on a public dataset and return one JSON-able dict."""

from __future__ import annotations

import inspect
import math
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from core.store.runs import track_run
from core.task import Task

THROUGHPUT = "throughput"


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


def load_dataset(task: Task, dataset: str, data: Path | None, options: Mapping[str, Any]) -> Any:
    if dataset not in task.datasets:
        known = ", ".join(sorted(task.datasets)) or "(none)"
        raise BenchError(
            f"Task {task.name} has no dataset {dataset!r}; datasets: {known}, {THROUGHPUT}"
        )
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


def bench(
    engine: Engine, task: Task, dataset: str, *, data: Path | None = None,
    options: Mapping[str, Any] | None = None, profile: str = "full", seed: int = 0,
    seeds: int | None = None,
) -> dict[str, Any]:
    """The Kind's benchmark protocol on an adapter's frame (a bench run row in the store)."""
    extra: dict[str, Any] = {}
    if seeds is not None:  # only Kinds whose protocol repeats over seeds take it
        if "seeds" not in inspect.signature(task.kind.bench).parameters:
            raise BenchError(f"the {task.kind.name} bench of {task.name} takes no --seeds: its "
                             "protocol fixes its own repetitions")
        extra["seeds"] = seeds
    params = {"dataset": dataset, "data": str(data) if data else None, "profile": profile,
              **extra, **{k: v for k, v in (options or {}).items() if v is not None}}
    with track_run(engine, task.name, "bench", params) as run:
        frame = task.feature_frame(load_dataset(task, dataset, data, options or {}))
        run.rows_in = len(frame)
        result = task.kind.bench(task, frame, dataset=dataset, profile=profile, seed=seed,
                                 **extra)
        run.rows_out = len(result.get("models", {}))
    return finite(result)
