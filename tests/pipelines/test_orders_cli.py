"""`verticals orders list|set|history`: the ranked queue, audited status changes, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from core.kinds.base import EPOCH, PRIMARY_OUTPUT
from core.store import schema, work_orders
from core.store.work_orders import WorkOrders
from pipelines.cli import app

TASK = "manufacturing.failure_prediction"


@pytest.fixture
def queued(engine: sa.Engine) -> sa.Engine:
    """Three stopped runs of the manufacturing Task in the queue (M2 first, then M3, M1)."""
    with engine.begin() as conn:
        version = conn.execute(schema.model_versions.insert().values(
            task=TASK, version=1, model="m", format="f",
            created_at=datetime(2026, 1, 1, tzinfo=UTC), primary_metric="auc", metrics="{}",
            params="{}", artifact_path="a",
            artifact_sha256="0" * 64).returning(schema.model_versions.c.id)).scalar_one()
        ledger = pd.DataFrame({
            "entity_key": ["M1", "M2", "M3", "M4", "M2"],
            "output": [PRIMARY_OUTPUT] * 4 + ["TWF"], "score": [0.6, 0.9, 0.7, 0.1, 0.8],
            "label": ["stop", "stop", "stop", "run", None], "reasons": None,
        }).assign(task=TASK, model_version_id=version, run_id=None, batch=0, as_of=EPOCH)
        WorkOrders(act="stop", missed_cost=5000.0)(conn, ledger)
    return engine


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_list_set_and_history(queued: sa.Engine):
    code, output = _run("orders", "list", TASK)
    assert code == 0, output
    lines = [line for line in output.splitlines() if " M" in line]
    assert [next(w for w in line.split() if w.startswith("M")) for line in lines] == [
        "M2", "M3", "M1"]
    assert "4,500" in output and "TWF" in output

    code, output = _run("orders", "set", TASK, "M3", "scheduled", "--by", "ana",
                        "--note", "Tue 06:00")
    assert code == 0 and "scheduled (by ana)" in output, output
    code, output = _run("orders", "list", TASK, "--status", "scheduled")
    assert code == 0 and "M3" in output and "M2" not in output, output
    _run("orders", "set", TASK, "M3", "done", "--by", "bo")
    code, output = _run("orders", "history", TASK, "M3")
    assert code == 0, output
    for expected in ("(new)", "score", "ana", "Tue 06:00", "bo", "done"):
        assert expected in output, output
    events = work_orders.history(queued, TASK, "M3")
    assert events["to_status"].tolist() == ["open", "scheduled", "done"]


@pytest.mark.parametrize(("args", "message"), [
    (["set", TASK, "M1", "done", "--by", "ana"], "is open; it cannot go to done"),
    (["set", TASK, "M1", "closed", "--by", "ana"], "unknown status 'closed'"),
    (["set", TASK, "M4", "scheduled", "--by", "ana"], "has no work order"),
    (["set", TASK, "M1", "scheduled", "--by", " "], "who acted"),
    (["list", TASK, "--status", "closed"], "unknown status 'closed'"),
    (["list", "nowhere.task"], "nowhere.task"),
])
def test_refused_changes_are_one_clear_error(queued: sa.Engine, args: list[str], message: str):
    code, output = _run("orders", *args)
    assert code == 1, output
    assert "error:" in output and message in " ".join(output.split()), output
    assert "Traceback" not in output
    assert work_orders.history(queued, TASK)["to_status"].tolist() == ["open"] * 3
