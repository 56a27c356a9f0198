"""The maintenance work-order queue: filled from scored batches, ranked by the expected cost of
waiting, moved open -> scheduled -> done by planners, every change kept with who and when.

Rules (docs: issue #9):
- An entity has at most one order that is not done (a partial unique index enforces it). A
  newer score updates that order's figures (probability, mode, cost, reasons, version, run)
  and never its status, so rescoring a batch never duplicates an order.
- Only a row whose decision is the Task's acting one (its label, e.g. "stop": the probability
  is at or above the champion's cut-off) opens an order.
- Done is final: a done order is never reopened; a score above the cut-off from another model
  version opens a fresh order, the same version's rescoring does not (it saw the same row).
- Transitions: open -> scheduled, scheduled -> done, scheduled -> open (the slot fell through).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from core.kinds.base import PRIMARY_OUTPUT
from core.store.schema import predictions, utcnow, work_order_events, work_orders

STATUSES = ("open", "scheduled", "done")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("scheduled",),
    "scheduled": ("done", "open"),
    "done": (),
}
SCORER = "score"  # the actor of the event that creates an order
FIGURES = ("model_version_id", "run_id", "batch", "mode", "probability",
           "expected_cost_of_waiting", "reasons")


class WorkOrderError(ValueError):
    """A status change the queue refuses (unknown status, invalid transition, no order)."""


@dataclass(frozen=True)
class WorkOrders:
    """A Task's `after_score` hook: queue the rows the champion decided to act on.

    `act` is the decision word that raises an order (the Kind's second decision, e.g. "stop");
    `missed_cost` what running into a failure costs, so expected cost of waiting = p x it.
    """

    act: str
    missed_cost: float

    def __post_init__(self) -> None:
        if not self.act:
            raise ValueError("WorkOrders needs the decision word that raises an order (act)")
        if self.missed_cost < 0:
            raise ValueError(f"missed_cost must be non-negative, got {self.missed_cost}")

    def __call__(self, conn: sa.Connection, ledger: pd.DataFrame) -> None:
        fill_queue(conn, ledger, act=self.act, missed_cost=self.missed_cost)


def _most_likely_mode(ledger: pd.DataFrame) -> pd.Series:
    """Entity -> the further output (failure mode) with the highest score."""
    modes = ledger[ledger["output"] != PRIMARY_OUTPUT]
    modes = modes[modes["score"].notna()]
    if modes.empty:
        return pd.Series(dtype=object)
    top = modes.sort_values(["entity_key", "score", "output"], ascending=[True, False, True])
    return top.drop_duplicates("entity_key").set_index("entity_key")["output"]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def fill_queue(conn: sa.Connection, ledger: pd.DataFrame, *, act: str,
               missed_cost: float) -> dict[str, int]:
    """Open or update orders for one scored batch, in the caller's transaction; re-rank.

    `ledger` is the batch as written to `predictions` (task, model_version_id, run_id, batch
    columns added). Returns {"opened": n, "updated": n}.
    """
    if ledger.empty:
        return {"opened": 0, "updated": 0}
    task = str(ledger["task"].iloc[0])
    version_id = int(ledger["model_version_id"].iloc[0])
    primary = ledger[ledger["output"] == PRIMARY_OUTPUT].drop_duplicates("entity_key", keep="last")
    active = dict(conn.execute(sa.select(work_orders.c.entity_key, work_orders.c.id).where(
        work_orders.c.task == task, work_orders.c.status != "done")).all())
    # Only rows that touch an order are looked at row by row: a 50k-row batch with a few stops
    # costs a few dicts, not 50k.
    is_live = primary["entity_key"].isin(list(active)).to_numpy()
    live = primary[is_live]
    acting = primary[((primary["label"] == act) & primary["score"].notna()).to_numpy()
                     & ~is_live]
    done = set(conn.execute(sa.select(work_orders.c.entity_key).where(
        work_orders.c.task == task, work_orders.c.status == "done",
        work_orders.c.model_version_id == version_id)).scalars()) if len(acting) else set()
    if done:
        acting = acting[~acting["entity_key"].isin(list(done))]
    touched = [*live["entity_key"], *acting["entity_key"]]
    mode = _most_likely_mode(ledger[ledger["entity_key"].isin(touched)]).to_dict()
    now = utcnow()
    run = ledger["run_id"].iloc[0]
    run_id = None if pd.isna(run) else int(run)
    batch = int(ledger["batch"].iloc[0])

    def figures(row: Any) -> dict[str, Any]:
        p = float(row.score) if not pd.isna(row.score) else 0.0
        return {"model_version_id": version_id, "run_id": run_id, "batch": batch,
                "mode": mode.get(row.entity_key), "probability": p,
                "expected_cost_of_waiting": p * missed_cost, "reasons": _text(row.reasons),
                "updated_at": now}

    updates = [{"order_id": active[row.entity_key],
                **{f"new_{k}": v for k, v in figures(row).items()}}
               for row in live.itertuples()]
    fresh = [{"task": task, "entity_key": row.entity_key, "status": "open", "created_at": now,
              **figures(row)} for row in acting.itertuples()]
    if updates:
        conn.execute(work_orders.update().where(work_orders.c.id == sa.bindparam("order_id"))
                     .values({c: sa.bindparam(f"new_{c}") for c in (*FIGURES, "updated_at")}),
                     updates)
    if fresh:
        ids = conn.execute(work_orders.insert().returning(
            work_orders.c.id, sort_by_parameter_order=True), fresh).scalars().all()
        note = f"run {run_id}, batch {batch}" if run_id is not None else f"batch {batch}"
        conn.execute(work_order_events.insert(), [
            {"order_id": i, "from_status": None, "to_status": "open", "actor": SCORER,
             "at": now, "note": note} for i in ids])
    if updates or fresh:
        rerank(conn, task)
    return {"opened": len(fresh), "updated": len(updates)}


def rerank(conn: sa.Connection, task: str) -> None:
    """rank = 1.. over the Task's orders not done, by expected cost of waiting (ties: oldest
    first); done orders lose their rank. One statement each, whatever the queue's size."""
    order = sa.func.row_number().over(order_by=(
        work_orders.c.expected_cost_of_waiting.desc(), work_orders.c.id)).label("position")
    ranked = (sa.select(work_orders.c.id, order)
              .where(work_orders.c.task == task, work_orders.c.status != "done").subquery())
    conn.execute(work_orders.update().where(work_orders.c.id == ranked.c.id)
                 .values(rank=ranked.c.position))
    conn.execute(work_orders.update().where(work_orders.c.task == task,
                                            work_orders.c.status == "done",
                                            work_orders.c.rank.is_not(None)).values(rank=None))


ORDER_COLUMNS = [c.name for c in work_orders.columns]


def queue(engine: sa.Engine, task: str, status: str | None = None) -> pd.DataFrame:
    """The Task's orders: those not done by rank, then done ones newest first."""
    if status is not None and status not in STATUSES:
        raise WorkOrderError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    statement = sa.select(work_orders).where(work_orders.c.task == task)
    if status is not None:
        statement = statement.where(work_orders.c.status == status)
    statement = statement.order_by(work_orders.c.rank.is_(None), work_orders.c.rank,
                                   work_orders.c.updated_at.desc(), work_orders.c.id.desc())
    with engine.connect() as conn:
        rows = conn.execute(statement).mappings().all()
    return pd.DataFrame(rows, columns=ORDER_COLUMNS)


def set_status(engine: sa.Engine, task: str, entity_key: str, status: str, actor: str,
               note: str | None = None, *, at: datetime | None = None) -> dict[str, Any]:
    """Move the entity's order (the one not done) to `status`, recording who and when; the
    whole change or nothing. Returns the updated order."""
    if status not in STATUSES:
        raise WorkOrderError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    if not actor or not actor.strip():
        raise WorkOrderError(f"changing the order of {entity_key} needs the name of who acted "
                             "(--by NAME)")
    when = at or utcnow()
    with engine.begin() as conn:
        order = conn.execute(
            sa.select(work_orders).where(work_orders.c.task == task,
                                         work_orders.c.entity_key == str(entity_key),
                                         work_orders.c.status != "done")
            .with_for_update()).mappings().first()
        if order is None:
            latest = conn.execute(sa.select(work_orders.c.status).where(
                work_orders.c.task == task, work_orders.c.entity_key == str(entity_key))
                .order_by(work_orders.c.id.desc()).limit(1)).scalar()
            why = ("its orders are all done, and done orders are not reopened"
                   if latest == "done" else "it has no work order")
            raise WorkOrderError(f"{task}: cannot set {entity_key} to {status}: {why}")
        current = order["status"]
        if status not in TRANSITIONS[current]:
            allowed = ", ".join(TRANSITIONS[current]) or "none"
            raise WorkOrderError(f"{task}: order {order['id']} of {entity_key} is {current}; "
                                 f"it cannot go to {status} (allowed: {allowed})")
        conn.execute(work_orders.update().where(work_orders.c.id == order["id"])
                     .values(status=status, updated_at=when))
        conn.execute(work_order_events.insert().values(
            order_id=order["id"], from_status=current, to_status=status, actor=actor.strip(),
            at=when, note=note.strip() if note and note.strip() else None))
        rerank(conn, task)
        return dict(conn.execute(sa.select(work_orders).where(
            work_orders.c.id == order["id"])).mappings().one())


EVENT_COLUMNS = ["order_id", "entity_key", "from_status", "to_status", "actor", "at", "note"]


def history(engine: sa.Engine, task: str, entity_key: str | None = None) -> pd.DataFrame:
    """Status changes of the Task's orders (of one entity), oldest first."""
    statement = (sa.select(work_order_events.c.order_id, work_orders.c.entity_key,
                           work_order_events.c.from_status, work_order_events.c.to_status,
                           work_order_events.c.actor, work_order_events.c.at,
                           work_order_events.c.note)
                 .join(work_orders, work_orders.c.id == work_order_events.c.order_id)
                 .where(work_orders.c.task == task))
    if entity_key is not None:
        statement = statement.where(work_orders.c.entity_key == str(entity_key))
    statement = statement.order_by(work_order_events.c.id)
    with engine.connect() as conn:
        rows = conn.execute(statement).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=EVENT_COLUMNS)


# --- what the manufacturing page reads beside the queue ----------------------------------------


def fleet(engine: sa.Engine, task: str, model_version_id: int, limit: int = 200) -> pd.DataFrame:
    """The latest score of every output per entity (rows) of one version, the `limit` entities
    with the highest primary score first: a column per output, PRIMARY_OUTPUT ('') first."""
    p = predictions
    top = (sa.select(p.c.entity_key).where(p.c.task == task,
                                           p.c.model_version_id == model_version_id,
                                           p.c.output == PRIMARY_OUTPUT)
           .order_by(p.c.score.desc(), p.c.entity_key).limit(limit))
    statement = (sa.select(p.c.id, p.c.entity_key, p.c.output, p.c.score)
                 .where(p.c.task == task, p.c.model_version_id == model_version_id,
                        p.c.entity_key.in_(top.scalar_subquery())))
    with engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(statement).all(),
                            columns=["id", "entity_key", "output", "score"])
    if rows.empty:
        return pd.DataFrame(columns=[PRIMARY_OUTPUT])
    latest = rows.sort_values("id").drop_duplicates(["entity_key", "output"], keep="last")
    wide = latest.pivot(index="entity_key", columns="output", values="score")
    columns = [PRIMARY_OUTPUT, *sorted(c for c in wide.columns if c != PRIMARY_OUTPUT)]
    wide = wide.reindex(columns=columns)
    wide.columns.name = None
    return wide.sort_values(PRIMARY_OUTPUT, ascending=False, kind="stable")


def outcomes(engine: sa.Engine, table: sa.Table, task: str, model_version_id: int, *,
             id_column: str, target: str, limit: int = 50_000) -> pd.DataFrame:
    """(target, score) of the version's primary predictions whose outcome is stored: what a
    cost curve over thresholds is computed on."""
    p = predictions
    statement = (sa.select(table.c[target].label("target"), p.c.score)
                 .join(p, sa.and_(p.c.entity_key == sa.cast(table.c[id_column], sa.String),
                                  p.c.task == task, p.c.model_version_id == model_version_id,
                                  p.c.output == PRIMARY_OUTPUT))
                 .where(table.c[target].is_not(None), p.c.score.is_not(None))
                 .order_by(p.c.id).limit(limit))
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(statement).all(), columns=["target", "score"])
