"""The data-quality gate at ingest: a batch whose quarantined or missing share exceeds the
Task's limit is held back from scoring, with the reason, until someone releases it."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from core.store.schema import RUN_ID, held_batches, utcnow
from core.task import Task


class QualityError(ValueError):
    """Nothing to release (unknown or already released batch)."""


def shares(task: Task, rows_read: int, quarantined: int, good: pd.DataFrame) -> tuple[float, float]:
    """(quarantined rows / rows read, missing cells / cells of the accepted rows' inputs);
    label columns are left out: an unlabelled row is normal, not missing data."""
    quarantined_share = quarantined / rows_read if rows_read else 0.0
    inputs = [c for c in good.columns if c not in task.kind.label_columns]
    cells = len(good) * len(inputs)
    missing_share = float(good[inputs].isna().to_numpy().sum()) / cells if cells else 0.0
    return quarantined_share, missing_share


def hold_if_poor(conn: sa.Connection, task: Task, run_id: int, rows_read: int,
                 quarantined: int, good: pd.DataFrame) -> str | None:
    """Hold the batch back (a held_batches row) when a share exceeds the limit; the reason."""
    if not rows_read:
        return None
    q, m = shares(task, rows_read, quarantined, good)
    limit = task.quality_limit
    problems = [f"{what} share {share:.1%} exceeds the limit {limit:.0%}"
                for what, share in (("quarantined", q), ("missing-value", m)) if share > limit]
    if not problems:
        return None
    reason = (f"{'; '.join(problems)}: held back from scoring; check the quarantine, then "
              f"`verticals release {task.name} {run_id}`")
    conn.execute(held_batches.insert().values(task=task.name, run_id=run_id, reason=reason,
                                              quarantined_share=q, missing_share=m,
                                              held_at=utcnow()))
    return reason


def held_clause(conn: sa.Connection, task: Task, table: sa.Table) -> sa.ColumnElement[bool]:
    """Rows not from a held batch."""
    held = sa.select(held_batches.c.run_id).where(held_batches.c.task == task.name,
                                                  held_batches.c.released_at.is_(None))
    return sa.or_(table.c[RUN_ID].is_(None), table.c[RUN_ID].not_in(held))


def release(engine: sa.Engine, task: Task, run_id: int, by: str) -> None:
    with engine.begin() as conn:
        done = conn.execute(held_batches.update().where(
            held_batches.c.task == task.name, held_batches.c.run_id == run_id,
            held_batches.c.released_at.is_(None)).values(released_at=utcnow(), released_by=by))
    if done.rowcount == 0:
        raise QualityError(f"no held batch of {task.name} from ingest run {run_id}: see "
                           f"`verticals held {task.name}`")


def held(engine: sa.Engine, task_name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(held_batches).where(held_batches.c.task == task_name)
                           .order_by(held_batches.c.id), conn)
