"""Demo: a store with every Task ingested from data_samples/, trained (quick) and scored."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

from sqlalchemy.engine import Engine

from core.store.engine import ensure_task_table
from core.task import Task
from pipelines.ingest import IngestResult, attrs_path, ingest_file
from pipelines.score import ScoreResult, score
from pipelines.train import TrainResult, train

REPO_ROOT = Path(__file__).resolve().parent.parent
# From the installed package, so `verticals dashboard` works outside a clone too; found, not
# imported (pipelines and dashboards never import each other: Streamlit runs it in its process).
DASHBOARD_APP = Path(find_spec("dashboards").origin).resolve().parent / "app.py"
# What `streamlit run` serves: DASHBOARD_APP, its modules imported before the first visitor.
DASHBOARD_SERVER = DASHBOARD_APP.with_name("server.py")


# The ingest-run parameter that marks rows from a Task's seeded sample generator.
SYNTHETIC = {"synthetic": True}


class SampleNotFoundError(FileNotFoundError):
    """A Task's data_samples/ file is missing."""


def sample_file(task: Task, file: Path | None = None) -> Path:
    """The given file, or data_samples/<slug>.csv found from the cwd or the package root."""
    if file is not None:
        return file
    roots = [Path.cwd() / "data_samples", REPO_ROOT / "data_samples"]
    for root in roots:
        path = task.sample_path(root)
        if path.is_file():
            return path
    raise SampleNotFoundError(
        f"no sample file for Task {task.name}: looked for {task.sample_path(roots[0])} and "
        f"{task.sample_path(roots[1])}. Pass FILE, or write it with `verticals sample {task.name}`."
    )


def write_sample(task: Task, *, out: Path, rows: int | None = None,
                 seed: int = 0) -> tuple[Path, int]:
    """Write the Task's seeded sample (what demo and tests ingest) as CSV, and the Kind's
    frame_attrs as FILE.attrs.json beside it when the Task has any; returns path and rows."""
    rows = task.sample_rows if rows is None else rows
    if rows < 1:
        raise ValueError(f"--rows must be at least 1, got {rows}")
    path = out
    path.parent.mkdir(parents=True, exist_ok=True)
    generated = task.sample(rows, seed)
    frame = task.schema.validate(generated, lazy=True)
    partial = path.with_name(path.name + ".partial")  # never leave a half-written sample behind
    frame.to_csv(partial, index=False)
    attrs = {name: generated.attrs[name] for name in task.kind.frame_attrs
             if name in generated.attrs}
    if attrs:  # what a CSV cannot hold (a graph's adjacency) goes beside it
        side = attrs_path(path)
        side_partial = side.with_name(side.name + ".partial")
        side_partial.write_text(json.dumps(attrs, separators=(",", ":")) + "\n",
                                encoding="utf-8")
        side_partial.replace(side)
    partial.replace(path)
    return path, len(frame)


def run_demo(
    engine: Engine, tasks: list[Task], *, profile: str = "quick",
    report: Callable[[Task, str, object], None] | None = None,
) -> dict[str, tuple[IngestResult, TrainResult, ScoreResult]]:
    """Ingest, train and score every Task; `report(task, step, result)` after each step."""
    done: dict[str, tuple[IngestResult, TrainResult, ScoreResult]] = {}
    for task in tasks:
        ensure_task_table(engine, task)
        # Recorded on the ingest run: the dashboards say on every page of a Task whose
        # champion learned from these seeded samples rather than real data.
        ingested = ingest_file(engine, task, sample_file(task), params=SYNTHETIC)
        if report:
            report(task, "ingest", ingested)
        trained = train(engine, task, profile=profile)
        if report:
            report(task, "train", trained)
        scored = score(engine, task)
        if report:
            report(task, "score", scored)
        done[task.name] = (ingested, trained, scored)
    return done


def streamlit_command(port: int = 8501) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(DASHBOARD_SERVER),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]


def serve(port: int = 8501) -> int:
    """Run the dashboard in the foreground until interrupted; returns Streamlit's exit code."""
    if not DASHBOARD_SERVER.is_file():
        raise FileNotFoundError(f"dashboard app not found at {DASHBOARD_SERVER}")
    try:
        return subprocess.call(streamlit_command(port))
    except KeyboardInterrupt:
        return 0
