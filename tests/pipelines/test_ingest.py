"""Ingest: schema validation, quarantine with reasons, one transaction, idempotent re-ingest."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
import sqlalchemy as sa

from core.store.engine import ensure_task_table
from core.store.schema import pipeline_runs, quarantine
from pipelines.ingest import IngestError, ingest_file
from tests.fakes import FAKE_SCHEMA, fake_sample, make_task

SCHEMA = FAKE_SCHEMA.update_columns({
    "months": {"checks": [pa.Check.in_range(6, 72)]},
    "region": {"checks": [pa.Check.isin(["north", "south", "ëast"])]},
})
TASK = make_task("test.ingest", schema=SCHEMA)


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "rows.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _count(engine: sa.Engine, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(*where)
        return conn.execute(query).scalar_one()


def _runs(engine: sa.Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id)).all()


def test_good_file_is_written_once(engine: sa.Engine, tmp_path: Path) -> None:
    path = _csv(tmp_path, fake_sample(50, seed=1))
    first = ingest_file(engine, TASK, path)
    assert (first.rows_read, first.accepted, first.quarantined) == (50, 50, 0)
    again = ingest_file(engine, TASK, path)  # re-ingest: every id is already there
    assert (again.accepted, again.skipped_existing) == (0, 50)
    table = ensure_task_table(engine, TASK)
    assert _count(engine, table) == 50
    with engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.application_id == "A0000003")).one()
    sample = fake_sample(50, seed=1).iloc[3]
    assert row.months == sample["months"] and row.owner == sample["owner"]
    assert row._run_id == first.run_id
    runs = _runs(engine)
    assert [(r.status, r.rows_in, r.rows_out, r.rows_rejected) for r in runs] == [
        ("succeeded", 50, 50, 0), ("succeeded", 50, 0, 0)]


def test_bad_rows_are_quarantined_with_reasons(engine: sa.Engine, tmp_path: Path) -> None:
    frame = fake_sample(10, seed=2).astype(object)
    frame.loc[1, "months"] = 500  # out of range
    frame.loc[3, "region"] = "mars"  # not an allowed category
    frame.loc[5, "months"] = "twelve"  # text in a numeric column
    frame.loc[7, "application_id"] = None  # missing id
    frame.loc[8, "amount"] = "1,2x"
    path = _csv(tmp_path, frame)
    result = ingest_file(engine, TASK, path)
    assert (result.rows_read, result.accepted, result.quarantined) == (10, 5, 5)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(quarantine).order_by(quarantine.c.row_number)).all()
    found = {(r.row_number, r.column, r.rule, r.value) for r in rows}
    assert found == {
        (2, "months", "in_range(6, 72)", "500"),
        (4, "region", "isin(['north', 'south', 'ëast'])", "mars"),
        (6, "months", "dtype('int64')", "twelve"),
        (8, "application_id", "not_nullable", None),
        (9, "amount", "dtype('float64')", "1,2x"),
    }
    assert all(r.source == str(path) and r.run_id == result.run_id for r in rows)
    payload = json.loads(rows[2].payload)
    assert payload["months"] == "twelve" and payload["application_id"] == "A0000005"
    table = ensure_task_table(engine, TASK)
    with engine.connect() as conn:
        kept = conn.execute(sa.select(table.c.application_id).order_by(table.c._row_id)).scalars()
        assert list(kept) == ["A0000000", "A0000002", "A0000004", "A0000006", "A0000009"]
    assert result.reasons[("months", "in_range(6, 72)")] == 1
    assert [(r.status, r.rows_out, r.rows_rejected) for r in _runs(engine)] == [
        ("succeeded", 5, 5)]


@pytest.mark.parametrize("content, expected", [
    (b'application_id,amount\n"A1,2\n', "cannot parse"),
    (b"\xff\xfe\x00garbage\x00\xff", "cannot parse"),
    (b"application_id,amount\nA1,2\n", "missing required column(s): months"),
], ids=["unclosed-quote", "binary", "missing-columns"])
def test_unusable_file_writes_nothing(
    engine: sa.Engine, tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        ingest_file(engine, TASK, path)
    table = ensure_task_table(engine, TASK)
    assert _count(engine, table) == 0 and _count(engine, quarantine) == 0
    (run,) = _runs(engine)
    assert run.status == "failed" and expected in run.error


def test_missing_file_is_a_clear_error(engine: sa.Engine, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="file not found"):
        ingest_file(engine, TASK, tmp_path / "nope.csv")
