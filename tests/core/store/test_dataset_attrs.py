"""Dataset attributes in the store on SQLite and PostgreSQL: written when changed, latest
value read back, and an attribute JSON cannot hold refused at ingest with nothing written."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from core.store import schema
from core.store.dataset_attrs import latest_attrs, write_attrs
from pipelines.ingest import IngestError, ingest
from tests.fakes import FakeKind, fake_sample, make_task

TASK = make_task("test.graph_attrs", kind=replace(FakeKind(), frame_attrs=("adjacency",)))


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_only_a_changed_value_adds_a_row_and_the_latest_is_read(engine) -> None:
    with engine.begin() as conn:
        assert write_attrs(conn, "t", {"adjacency": [[0, 1], [1, 0]], "other": 1},
                           ("adjacency",), None) == ["adjacency"]
        assert write_attrs(conn, "t", {"adjacency": [[0, 1], [1, 0]]}, ("adjacency",),
                           None) == []
        assert write_attrs(conn, "t", {"adjacency": [[0, 0.5], [1, 0]]}, ("adjacency",),
                           None) == ["adjacency"]
        assert write_attrs(conn, "u", {}, ("adjacency",), None) == []
    with engine.connect() as conn:
        assert latest_attrs(conn, "t", ("adjacency", "other")) == {
            "adjacency": [[0, 0.5], [1, 0]]}
        assert latest_attrs(conn, "u", ("adjacency",)) == {}
    assert _count(engine, schema.dataset_attrs) == 2  # the first value stays as history


def test_ingest_refuses_an_attribute_json_cannot_hold_and_writes_nothing(engine) -> None:
    def load():
        frame = fake_sample(20, 0)
        frame.attrs["adjacency"] = [[float("nan")]]  # NaN is not JSON
        return frame

    with pytest.raises(IngestError, match="'adjacency' cannot be stored as JSON"):
        ingest(engine, TASK, load, source="nan.csv")
    assert _count(engine, schema.dataset_attrs) == 0
    assert _count(engine, schema.task_table(TASK, sa.MetaData())) == 0
    with engine.connect() as conn:
        run = conn.execute(sa.select(schema.pipeline_runs.c.status, schema.pipeline_runs.c.error)
                           .where(schema.pipeline_runs.c.task == TASK.name)).one()
    assert run.status == "failed" and "cannot be stored as JSON" in run.error
