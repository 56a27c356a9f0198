"""Train: fit every candidate on the labelled rows, register each version, promote the best."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import progress, registry
from core.store.engine import ensure_task_table, read_task_frame
from core.store.runs import track_run
from core.task import PROFILES, Task


class TrainError(RuntimeError):
    """Training cannot start (no labelled rows, unknown profile or model)."""


@dataclass
class TrainResult:
    run_id: int
    versions: list[Any]  # registry.ModelVersion, in registration order
    champion: Any
    rows: int


def labelled_rows(engine: Engine, task: Task) -> pd.DataFrame:
    """Rows of the input table whose (first) label is known, in ingest order."""
    table = ensure_task_table(engine, task)
    labels = task.kind.label_columns
    where = table.c[labels[0]].is_not(None) if labels else sa.true()
    with engine.connect() as conn:
        return read_task_frame(conn, task, where)


def train(
    engine: Engine, task: Task, *, profile: str = "quick", seed: int = 0,
    models: tuple[str, ...] | None = None, frame: pd.DataFrame | None = None,
    dataset: str = "store",
) -> TrainResult:
    """Fit candidates on `frame` (default: the labelled rows of the store) and register them.

    `dataset` names where the rows came from ("store" or "<adapter>:<path>") on each version.
    """
    if profile not in PROFILES:
        raise TrainError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
    params = {"profile": profile, "seed": seed, "models": list(models or []), "dataset": dataset}
    with (progress.task(f"train {task.name} ({profile})"),
          track_run(engine, task.name, "train", params) as run):
        rows = labelled_rows(engine, task) if frame is None else frame
        run.rows_in = len(rows)
        if rows.empty:
            raise TrainError(
                f"no labelled rows for Task {task.name}: ingest a file with the target column "
                f"filled (verticals ingest {task.name} FILE), or train from a file with --dataset"
            )
        candidates = task.kind.train(task, task.feature_frame(rows), profile=profile, seed=seed,
                                     models=models)
        versions = [
            registry.register(engine, task, candidate, run_id=run.id, profile=profile,
                              dataset=dataset)
            for candidate in candidates
        ]
        champion = registry.promote_best(engine, task)
        run.rows_out = len(versions)
    return TrainResult(run_id=run.id, versions=versions, champion=champion, rows=len(rows))
