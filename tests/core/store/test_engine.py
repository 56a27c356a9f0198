"""Tests of core.store.engine and the migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.store import schema
from core.store.bulk import insert_frame
from core.store.engine import (
    StoreSchemaError,
    alembic_config,
    database_url,
    ensure_task_table,
    make_engine,
    migrate,
    read_task_frame,
)
from tests.fakes import FAKE_SCHEMA, fake_sample, make_task


def test_home_is_created_on_demand_and_holds_the_sqlite_file(home):
    from core.store import engine as store_engine

    assert not home.exists()
    assert store_engine.home() == home.resolve()
    assert home.is_dir()
    assert database_url() == f"sqlite:///{home.resolve() / 'verticals.db'}"


def test_sqlite_engine_uses_wal_and_foreign_keys(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()


def test_bare_postgresql_url_gets_psycopg3():
    assert make_engine("postgresql://u@127.0.0.1:1/x").url.drivername == "postgresql+psycopg"
    with pytest.raises(ValueError, match="unsupported database URL"):
        make_engine("mysql://u@h/db")


def test_migrate_creates_every_core_table_and_is_idempotent(engine):
    names = set(sa.inspect(engine).get_table_names())
    assert set(schema.CORE_TABLES) | {"alembic_version"} <= names
    migrate(engine)  # second run: nothing to do, nothing breaks
    with engine.connect() as connection:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
            (head,)]
        # The frozen revision and schema.py describe the same tables.
        context = MigrationContext.configure(connection, opts={
            "include_name": lambda name, kind, _: kind != "table" or name in schema.CORE_TABLES})
        assert compare_metadata(context, schema.metadata) == []


def test_foreign_keys_are_enforced(engine):
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(schema.aliases.insert().values(
            task="t", alias="champion", model_version_id=999, updated_at=schema.utcnow()))


def test_ensure_task_table_types_columns_from_the_schema(engine):
    task = make_task()
    table = ensure_task_table(engine, task)
    assert table.name == "input_test_fake"
    columns = {c["name"]: c for c in sa.inspect(engine).get_columns(table.name)}
    assert list(columns)[:2] == ["_row_id", "_run_id"]
    assert set(columns) == {"_row_id", "_run_id", *FAKE_SCHEMA.columns}
    kinds = {name: type(columns[name]["type"]).__name__.upper() for name in columns}
    assert "INT" in kinds["months"] and kinds["amount"] in {"FLOAT", "DOUBLE_PRECISION", "REAL"}
    assert kinds["owner"] == "BOOLEAN"
    assert kinds["applied_at"] in {"DATETIME", "TIMESTAMP"}
    assert kinds["application_id"] == "TEXT"
    assert columns["default"]["nullable"] and not columns["months"]["nullable"]
    uniques = sa.inspect(engine).get_unique_constraints(table.name)
    assert [u["column_names"] for u in uniques] == [["application_id"]]
    assert ensure_task_table(engine, task).name == table.name  # existing + matching: fine


def test_ensure_task_table_names_missing_and_extra_columns(engine):
    ensure_task_table(engine, make_task())
    changed = FAKE_SCHEMA.remove_columns(["region"]).add_columns({"income": pa.Column(float)})
    with pytest.raises(StoreSchemaError) as raised:
        ensure_task_table(engine, make_task(schema=changed))
    message = str(raised.value)
    assert "missing columns ['income']" in message and "extra columns ['region']" in message
    assert "DROP TABLE input_test_fake" in message


def test_read_task_frame_gives_back_schema_dtypes(engine):
    task = make_task()
    table = ensure_task_table(engine, task)
    frame = fake_sample(50)
    with engine.begin() as connection:
        insert_frame(connection, table, frame.assign(_run_id=1))
    with engine.connect() as connection:
        back = read_task_frame(connection, task)
        some = read_task_frame(connection, task, where=table.c.months > 30,
                               columns=["_row_id", "application_id", "months"])
        none = read_task_frame(connection, task, where=table.c.region == "it's nowhere")
        early = read_task_frame(connection, task, limit=3,
                                where=table.c.applied_at <= frame["applied_at"].min())
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["applied_at"].dtype.kind == "M" and back["application_id"].dtype == "str"
    assert back["owner"].dtype == bool and back["months"].dtype == "int64"
    assert back["default"].dtype == "Int64" and back["region"].isna().sum() == 10
    FAKE_SCHEMA.validate(back)
    assert none.empty and list(none.columns) == list(FAKE_SCHEMA.columns)
    assert early["applied_at"].tolist() == [frame["applied_at"].min()]
    assert list(some.columns) == ["_row_id", "application_id", "months"]
    assert (some["months"] > 30).all() and len(some) == (frame["months"] > 30).sum()
