"""Tests of core.store.bulk: round trips, NULLs, timestamps, transactions, on both dialects."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from core.store import schema
from core.store.bulk import delete_where, insert_frame, raw_read
from core.store.engine import ensure_task_table, read_task_frame
from tests.fakes import fake_sample, make_task


def _version(engine: sa.Engine) -> int:
    with engine.begin() as connection:
        return connection.execute(schema.model_versions.insert().values(
            task="test.fake", version=1, model="m", format="fake-json", created_at=schema.utcnow(),
            primary_metric="auc", metrics="{}", params="{}", artifact_path="a",
            artifact_sha256="0" * 64).returning(schema.model_versions.c.id)).scalar_one()


def _ledger(n: int, version_id: int, batch: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    lower = rng.random(n)
    lower[::4] = np.nan
    return pd.DataFrame({
        "task": "test.fake", "model_version_id": version_id, "batch": batch,
        "entity_key": pd.Series([f"E{i}" for i in range(n)], dtype="str"),
        "as_of": pd.Timestamp("2024-03-01 12:00:00") + pd.to_timedelta(np.arange(n) % 3, unit="D"),
        "horizon": np.arange(n) % 2, "score": rng.random(n),
        "label": pd.Series(np.where(np.arange(n) % 5 == 0, None, "bad"), dtype="str"),
        "lower": lower, "upper": np.nan,
        "payload": [json.dumps({"points": int(i)}) if i % 2 else None for i in range(n)],
        "reasons": pd.Series(['[{"feature": "x, \\"y\\"\\n", "effect": 0.5}]'] * n, dtype="str"),
    })


def test_ten_thousand_input_rows_round_trip(engine):
    task = make_task()
    table = ensure_task_table(engine, task)
    frame = fake_sample(10_000, seed=3)
    with engine.begin() as connection:
        assert insert_frame(connection, table, frame.assign(_run_id=7)) == 10_000
    with engine.connect() as connection:
        back = read_task_frame(connection, task)
        nulls = connection.execute(sa.select(sa.func.count()).where(table.c.amount.is_(None))
                                   ).scalar_one()
        stamp = connection.execute(sa.select(table.c.applied_at).where(
            table.c.application_id == "A0000000")).scalar_one()
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert nulls == frame["amount"].isna().sum() == 1429  # NaN became NULL
    assert stamp == frame.loc[0, "applied_at"].to_pydatetime()  # readable through SQLAlchemy
    assert back.loc[back["region"].notna(), "region"].isin(["north", "south", "ëast"]).all()


def test_ledger_rows_round_trip_with_nulls_quotes_and_server_defaults(engine):
    version_id = _version(engine)
    frame = _ledger(1_000, version_id)
    with engine.begin() as connection:
        insert_frame(connection, schema.predictions, frame)
    query = sa.select(schema.predictions).order_by(schema.predictions.c.id)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
        # A comparison written through SQLAlchemy finds the bulk-written timestamps.
        march_2 = connection.execute(sa.select(sa.func.count()).where(
            schema.predictions.c.as_of == datetime(2024, 3, 2, 12))).scalar_one()
    assert len(rows) == 1_000 and march_2 == 333
    first, second = rows[0], rows[1]
    assert first["lower"] is None and first["upper"] is None and first["payload"] is None
    assert first["label"] is None and second["label"] == "bad"
    assert second["payload"] == '{"points": 1}' and second["horizon"] == 1
    assert json.loads(first["reasons"]) == [{"feature": 'x, "y"\n', "effect": 0.5}]
    assert first["score"] == frame.loc[0, "score"]  # floats survive exactly
    assert first["as_of"] == datetime(2024, 3, 1, 12)
    created = first["created_at"]
    assert created.tzinfo is not None and abs((datetime.now(UTC) - created).total_seconds()) < 600


def test_a_failing_batch_leaves_nothing(engine):
    version_id = _version(engine)
    frame = _ledger(500, version_id)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        insert_frame(connection, schema.predictions, frame)
        insert_frame(connection, schema.predictions, frame.iloc[:10])  # duplicate keys
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.predictions)
                                  ).scalar_one() == 0


def test_rerunning_a_batch_replaces_it(engine):
    version_id = _version(engine)
    for _ in range(2):
        with engine.begin() as connection:
            delete_where(connection, schema.predictions,
                         {"task": "test.fake", "model_version_id": version_id, "batch": 0})
            insert_frame(connection, schema.predictions, _ledger(200, version_id))
    with engine.connect() as connection:
        count = raw_read(connection, "SELECT count(*) FROM predictions")
    assert count == [(200,)]


def test_unknown_columns_and_naive_utc_timestamps_are_refused(engine):
    with engine.begin() as connection:
        with pytest.raises(KeyError, match="'nope'.*not columns of table predictions"):
            insert_frame(connection, schema.predictions, pd.DataFrame({"nope": [1]}))
        with pytest.raises(ValueError, match="'started_at'.*naive"):
            insert_frame(connection, schema.pipeline_runs, pd.DataFrame({
                "task": ["t"], "pipeline": ["score"], "status": ["running"],
                "started_at": [pd.Timestamp("2024-01-01")]}))
        assert insert_frame(connection, schema.predictions, pd.DataFrame()) == 0


def test_utc_timestamps_written_in_bulk_read_back_as_the_same_instant(engine):
    started = pd.Timestamp("2024-06-01 10:00:00.5", tz="Europe/Paris")
    with engine.begin() as connection:
        insert_frame(connection, schema.pipeline_runs, pd.DataFrame({
            "task": ["t"], "pipeline": ["score"], "status": ["succeeded"],
            "started_at": [started]}))
        value = connection.execute(sa.select(schema.pipeline_runs.c.started_at)).scalar_one()
    assert value == started.to_pydatetime() and value.utcoffset().total_seconds() == 0
