"""Grouped scoring: batches of whole series (SERIES) or whole time slices of a panel (SLICES).

Row-range batches (pipelines/score.py) suit Kinds whose rows are scored one by one. A forecast
needs each series' whole history, and a graph model needs every sensor at once: for those Kinds
batch b is the b-th group of `Kind.scoring_groups` over the entity values (SERIES) or over the
distinct values of `Kind.step_column` (SLICES), so a batch number means the same keys on every
run. A forecast at the same origin replaces the earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.kinds.base import Batching
from core.monitor import psi
from core.store.engine import ensure_task_table, read_task_frame
from core.store.schema import predictions
from core.task import Task
from pipelines.quality import held_clause


@dataclass(frozen=True)
class GroupResult:
    """One grouped batch: its ledger rows, PSI per feature, and what could not be scored."""

    ledger: pd.DataFrame
    drift: dict[str, float]
    unscored: list[str]


def batch_keys(engine: Engine, task: Task, chunk_size: int) -> list[list[Any]]:
    """The Kind's groups of entity values (SERIES) or step values (SLICES); [] when empty."""
    kind = task.kind
    column = kind.entity if kind.batching is Batching.SERIES else kind.step_column
    with engine.connect() as conn:
        values = read_task_frame(conn, task, columns=[column])[column]
    keys = values.dropna().drop_duplicates().tolist()  # Timestamps or ints, not numpy scalars
    if kind.batching is Batching.SERIES:
        keys = [str(k) for k in keys]  # ledger entity keys are text
    return kind.scoring_groups(keys, chunk_size)


def scored_origins(engine: Engine, task: Task, version_id: int) -> set[Any]:
    """The slices (step values) the version has forecast from already: a time step column's
    values are the ledger's as_of, an integer one's its step."""
    step_type = ensure_task_table(engine, task).c[task.kind.step_column].type
    column = (predictions.c.as_of if isinstance(step_type, sa.Date | sa.DateTime)
              else predictions.c.step)
    with engine.connect() as conn:
        values = conn.execute(sa.select(column).distinct().where(
            predictions.c.task == task.name,
            predictions.c.model_version_id == version_id)).scalars().all()
    return {_origin(v) for v in values}


def _origin(value: Any) -> Any:
    """A slice key in one comparable form: a Timestamp for times, an int for steps."""
    return int(value) if isinstance(value, int | np.integer) else pd.Timestamp(value)


def read_group(engine: Engine, task: Task, keys: list[Any]) -> pd.DataFrame:
    """SERIES: every stored row of the series `keys`. SLICES: every row up to the last slice
    of `keys` (the history each slice is forecast from)."""
    table = ensure_task_table(engine, task)  # the store's Table: clauses must share it
    kind = task.kind
    if kind.batching is Batching.SERIES:
        where = table.c[kind.entity].in_(keys)
    else:
        last = max(keys)
        where = table.c[kind.step_column] <= (last.to_pydatetime() if isinstance(
            last, pd.Timestamp) else last)
    with engine.connect() as conn:
        where = sa.and_(where, held_clause(conn, task, table))  # held batches wait
        return read_task_frame(conn, task, where, columns=kind.scoring_columns(task))


def predict_group(task: Task, predictor: Any, frame: pd.DataFrame, keys: list[Any],
                  reference: dict[str, Any]) -> GroupResult:
    """Ledger rows for one group. SERIES: one forecast per series from its latest row. SLICES:
    for each slice t of the group, every entity forecast from the panel up to t, kept when its
    origin is t (an entity without a row at t is reported, not forecast from an older row)."""
    if not len(frame):
        return GroupResult(frame.iloc[0:0], {}, [])
    features = task.feature_frame(frame)
    kind = task.kind
    if kind.batching is Batching.SERIES:
        ledger = predictor.predict(features)
        scored = set(ledger["entity_key"]) if len(ledger) else set()
        drift = psi(reference, features) if reference else {}
        return GroupResult(ledger, drift, sorted(set(map(str, keys)) - scored))
    step = kind.step_column
    parts, unscored = [], []
    origin_column = "as_of" if pd.api.types.is_datetime64_any_dtype(features[step]) else "step"
    for t in keys:
        history = features[features[step] <= t]
        ledger = predictor.predict(history)
        ledger = ledger[_same(ledger[origin_column], t)]
        present = set(history.loc[_same(history[step], t), kind.entity].astype(str))
        unscored += [f"{e}@{t}" for e in sorted(present - set(ledger["entity_key"]))]
        parts.append(ledger)
    in_group = features[features[step].isin(keys)]
    drift = psi(reference, in_group) if reference and len(in_group) else {}
    return GroupResult(pd.concat(parts, ignore_index=True), drift, unscored)


def _same(values: pd.Series, t: Any) -> np.ndarray:
    if isinstance(t, pd.Timestamp):
        return (pd.to_datetime(values) == t).to_numpy()
    return (values.astype(np.int64) == int(t)).to_numpy()


def replace_forecasts(conn: sa.Connection, task: Task, *, version_id: int,
                      ledger: pd.DataFrame) -> None:
    """Delete this version's earlier forecasts of the same entities at the same origins
    (same output, time and step)."""
    if not len(ledger):
        return
    for (output, as_of, step), keys in ledger.groupby(["output", "as_of", "step"])["entity_key"]:
        conn.execute(predictions.delete().where(
            predictions.c.task == task.name, predictions.c.model_version_id == version_id,
            predictions.c.output == output, predictions.c.as_of == as_of.to_pydatetime(),
            predictions.c.step == int(step), predictions.c.entity_key.in_(sorted(set(keys)))))


def fresh_slices(keys: list[Any], done: set[Any]) -> list[Any]:
    """SLICES without --force: the slices of a group the version has not forecast from yet."""
    return [k for k in keys if _origin(k) not in done]
