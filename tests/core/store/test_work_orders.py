"""The work-order queue on SQLite and PostgreSQL: orders from scored batches, ranking,
idempotent rescoring, status changes with their audit trail."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from core.kinds.base import EPOCH, PRIMARY_OUTPUT
from core.store import schema, work_orders
from core.store.bulk import insert_frame
from core.store.engine import make_engine
from core.store.work_orders import WorkOrderError, WorkOrders

TASK = "t.failures"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOOK = WorkOrders(act="stop", missed_cost=1000.0)


def _version(engine: sa.Engine, version: int = 1) -> int:
    with engine.begin() as conn:
        return conn.execute(schema.model_versions.insert().values(
            task=TASK, version=version, model="m", format="f", created_at=T0,
            primary_metric="auc", metrics="{}", params="{}", artifact_path="a",
            artifact_sha256="0" * 64).returning(schema.model_versions.c.id)).scalar_one()


def _ledger(version_id: int, scores: dict[str, float], modes: dict[str, dict[str, float]],
            batch: int = 0) -> pd.DataFrame:
    """Ledger rows as write_batch hands them to the hook: primary rows (stop at p >= 0.5)
    and one row per entity and mode."""
    rows = [{"entity_key": k, "output": PRIMARY_OUTPUT, "score": p,
             "label": "stop" if p >= 0.5 else "run", "reasons": f'[{{"feature": "{k}"}}]'}
            for k, p in scores.items()]
    rows += [{"entity_key": k, "output": m, "score": p, "label": None, "reasons": None}
             for k, by_mode in modes.items() for m, p in by_mode.items()]
    return pd.DataFrame(rows).assign(task=TASK, model_version_id=version_id, run_id=None,
                                     batch=batch, as_of=EPOCH, step=0, horizon=0)


def _score(engine: sa.Engine, ledger: pd.DataFrame) -> None:
    """What pipelines.score.write_batch does: predictions and the hook in one transaction."""
    with engine.begin() as conn:
        conn.execute(schema.predictions.delete().where(
            schema.predictions.c.model_version_id == int(ledger["model_version_id"].iloc[0]),
            schema.predictions.c.entity_key.in_(ledger["entity_key"].unique().tolist())))
        insert_frame(conn, schema.predictions, ledger)
        HOOK(conn, ledger)


SCORES = {"M1": 0.6, "M2": 0.9, "M3": 0.2, "M4": 0.75}
MODES = {"M1": {"TWF": 0.1, "HDF": 0.5}, "M2": {"TWF": 0.7, "HDF": 0.2},
         "M3": {"TWF": 0.0, "HDF": 0.1}, "M4": {"OSF": 0.6, "PWF": 0.6}}


def test_stop_rows_become_ranked_orders_and_rescoring_updates_them(engine: sa.Engine):
    v1 = _version(engine)
    _score(engine, _ledger(v1, SCORES, MODES))
    q = work_orders.queue(engine, TASK)
    assert q["entity_key"].tolist() == ["M2", "M4", "M1"]  # M3 is below the cut-off
    assert q["rank"].tolist() == [1, 2, 3]
    assert q["mode"].tolist() == ["TWF", "OSF", "HDF"]  # a tie goes to the first name
    assert q["expected_cost_of_waiting"].tolist() == pytest.approx([900.0, 750.0, 600.0])
    assert set(q["status"]) == {"open"}
    assert q.loc[q["entity_key"] == "M2", "reasons"].item() == '[{"feature": "M2"}]'
    assert work_orders.history(engine, TASK)["to_status"].tolist() == ["open"] * 3

    # The same batch again, then with M1 worse, M2 better and M3 now at risk: no duplicates.
    _score(engine, _ledger(v1, SCORES, MODES))
    _score(engine, _ledger(v1, {"M1": 0.95, "M2": 0.55, "M3": 0.7, "M4": 0.75},
                           {"M1": {"TWF": 0.9}}, batch=3))
    q = work_orders.queue(engine, TASK)
    assert q["entity_key"].tolist() == ["M1", "M4", "M3", "M2"]
    assert q["rank"].tolist() == [1, 2, 3, 4]
    first = q.iloc[0]
    assert (first["probability"], first["mode"], first["batch"]) == (0.95, "TWF", 3)
    assert len(work_orders.history(engine, TASK)) == 4  # figures changed, no status did
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.work_orders)
                            ).scalar_one() == 4


def test_status_changes_are_audited_checked_and_survive_a_new_engine(engine: sa.Engine,
                                                                     db_url: str):
    v1 = _version(engine)
    _score(engine, _ledger(v1, SCORES, MODES))
    order = work_orders.set_status(engine, TASK, "M2", "scheduled", " ana ", note="Tue 06:00")
    assert (order["status"], order["rank"]) == ("scheduled", 1)
    with pytest.raises(WorkOrderError, match="is scheduled; it cannot go to scheduled"):
        work_orders.set_status(engine, TASK, "M2", "scheduled", "ana")
    with pytest.raises(WorkOrderError, match="is open; it cannot go to done"):
        work_orders.set_status(engine, TASK, "M1", "done", "ana")
    with pytest.raises(WorkOrderError, match="unknown status 'closed'"):
        work_orders.set_status(engine, TASK, "M1", "closed", "ana")
    with pytest.raises(WorkOrderError, match="who acted"):
        work_orders.set_status(engine, TASK, "M1", "scheduled", "  ")
    with pytest.raises(WorkOrderError, match="M3.*has no work order"):
        work_orders.set_status(engine, TASK, "M3", "scheduled", "ana")
    done = work_orders.set_status(engine, TASK, "M2", "done", "bo")
    assert (done["status"], done["rank"]) == ("done", None)
    with pytest.raises(WorkOrderError, match="done orders are not reopened"):
        work_orders.set_status(engine, TASK, "M2", "open", "bo")

    reopened = make_engine(db_url)
    try:
        q = work_orders.queue(reopened, TASK)
        assert q["entity_key"].tolist() == ["M4", "M1", "M2"]
        assert q["rank"].tolist()[:2] == [1, 2] and pd.isna(q["rank"].iloc[2])
        assert work_orders.queue(reopened, TASK, status="done")["entity_key"].tolist() == ["M2"]
        events = work_orders.history(reopened, TASK, "M2")
        assert events[["from_status", "to_status", "actor"]].fillna("-").values.tolist() == [
            ["-", "open", "score"], ["open", "scheduled", "ana"], ["scheduled", "done", "bo"]]
        assert events["note"].tolist()[1] == "Tue 06:00"
        assert all(at.tzinfo is not None for at in events["at"])
        # The same version rescoring M2 leaves the done order alone; a new version reopens none
        # but opens a fresh order beside it.
        _score(reopened, _ledger(v1, SCORES, MODES))
        assert work_orders.queue(reopened, TASK, status="done")["entity_key"].tolist() == ["M2"]
        assert "M2" not in work_orders.queue(reopened, TASK, status="open")["entity_key"].tolist()
        _score(reopened, _ledger(_version(reopened, 2), SCORES, MODES))
        q = work_orders.queue(reopened, TASK)
        assert q["entity_key"].tolist() == ["M2", "M4", "M1", "M2"]
        assert q["status"].tolist() == ["open", "open", "open", "done"]
    finally:
        reopened.dispose()


def test_the_database_refuses_a_second_active_order(engine: sa.Engine):
    v1 = _version(engine)
    _score(engine, _ledger(v1, {"M1": 0.9}, {}))
    row = work_orders.queue(engine, TASK).drop(columns=["id"]).iloc[0].to_dict()
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(schema.work_orders.insert().values(**{**row, "rank": None}))


def test_a_failing_batch_leaves_no_order(engine: sa.Engine):
    v1 = _version(engine)
    ledger = _ledger(v1, {"M1": 0.9}, {})
    with pytest.raises(RuntimeError, match="disk full"), engine.begin() as conn:
        insert_frame(conn, schema.predictions, ledger)
        HOOK(conn, ledger)
        raise RuntimeError("disk full")
    assert work_orders.queue(engine, TASK).empty
    assert work_orders.history(engine, TASK).empty


def test_unknown_status_filter_is_refused(engine: sa.Engine):
    with pytest.raises(WorkOrderError, match="use one of open, scheduled, done"):
        work_orders.queue(engine, TASK, status="closed")


def test_fleet_pivots_the_latest_outputs_per_entity(engine: sa.Engine):
    v1 = _version(engine)
    _score(engine, _ledger(v1, SCORES, MODES))
    _score(engine, _ledger(v1, {"M3": 0.99}, {"M3": {"TWF": 0.8}}))  # M3 rescored
    wide = work_orders.fleet(engine, TASK, v1, limit=3)
    assert wide.index.tolist() == ["M3", "M2", "M4"]
    assert wide.columns.tolist() == [PRIMARY_OUTPUT, "HDF", "OSF", "PWF", "TWF"]
    assert wide.loc["M3", "TWF"] == 0.8 and pd.isna(wide.loc["M3", "HDF"])
    assert wide.loc["M2"].tolist()[:2] == [0.9, 0.2]
    assert work_orders.fleet(engine, TASK, v1 + 1).empty
