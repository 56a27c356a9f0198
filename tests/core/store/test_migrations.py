"""Upgrading a store written at an older revision keeps its rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.kinds.base import EPOCH, PRIMARY_OUTPUT
from core.store import schema
from core.store.bulk import insert_frame
from core.store.engine import alembic_config, make_engine, migrate

T0 = datetime(2024, 1, 1, tzinfo=UTC)
# The ledger as revisions 0001/0002 left it (frozen: schema.predictions has moved on).
OLD_COLUMNS = ("task", "model_version_id", "run_id", "batch", "entity_key", "as_of", "horizon",
               "score", "label", "lower", "upper", "payload", "reasons")
OLD_PREDICTIONS = sa.Table(
    "predictions", sa.MetaData(),
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("task", sa.String(100)), sa.Column("model_version_id", sa.Integer),
    sa.Column("run_id", sa.Integer), sa.Column("batch", sa.Integer),
    sa.Column("entity_key", sa.String(200)), sa.Column("as_of", sa.DateTime),
    sa.Column("horizon", sa.Integer), sa.Column("score", sa.Float),
    sa.Column("label", sa.String(100)), sa.Column("lower", sa.Float),
    sa.Column("upper", sa.Float), sa.Column("payload", sa.Text), sa.Column("reasons", sa.Text),
)


def _upgrade(connection: sa.Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _revision(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()


@pytest.fixture
def old_store(db_url: str) -> Iterator[sa.Engine]:
    """A store at revision 0002 holding a tabular ledger and a forecasting one."""
    engine = make_engine(db_url)
    with engine.begin() as connection:
        _upgrade(connection, "0002")
    assert _revision(engine) == "0002"
    assert "output" not in {c["name"] for c in sa.inspect(engine).get_columns("predictions")}
    with engine.begin() as connection:
        run = connection.execute(schema.pipeline_runs.insert().values(
            task="t", pipeline="score", status="succeeded", started_at=T0)
            .returning(schema.pipeline_runs.c.id)).scalar_one()
        ids = [connection.execute(schema.model_versions.insert().values(
            task=task, version=1, model="m", format="f", created_at=T0, primary_metric="auc",
            metrics="{}", params="{}", artifact_path="a", artifact_sha256="0" * 64)
            .returning(schema.model_versions.c.id)).scalar_one() for task in ("tab", "fc")]
        tabular = pd.DataFrame({
            "task": "tab", "model_version_id": ids[0], "run_id": run, "batch": [0, 0, 0, 1, 1],
            "entity_key": [f"A{i}" for i in range(5)], "as_of": EPOCH, "horizon": 0,
            "score": [0.1, 0.2, 0.3, 0.4, 0.5], "label": ["good", "good", None, "bad", "bad"],
            "lower": None, "upper": None, "payload": '{"points": 600}',
            "reasons": '[{"feature": "x", "effect": 0.5}]',
        })
        # Three series, two forecast origins each, horizons 1..3: 18 rows.
        origins = [pd.Timestamp("2024-03-01 16:00"), pd.Timestamp("2024-03-04 16:00")]
        grid = pd.MultiIndex.from_product([["S0", "S1", "S2"], origins, [1, 2, 3]],
                                          names=["entity_key", "as_of", "horizon"]).to_frame(
                                              index=False)
        forecasts = grid.assign(
            task="fc", model_version_id=ids[1], run_id=None, batch=0,
            score=[0.01 * i for i in range(len(grid))], label=None,
            lower=[-0.01 * i for i in range(len(grid))],
            upper=[0.02 * i for i in range(len(grid))], payload=None, reasons=None)
        for frame in (tabular, forecasts):
            insert_frame(connection, OLD_PREDICTIONS, frame[list(OLD_COLUMNS)])
    yield engine
    engine.dispose()


def _rows(engine: sa.Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(
            sa.select(OLD_PREDICTIONS).order_by(OLD_PREDICTIONS.c.id)).mappings()]


def test_upgrade_to_0003_keeps_every_prediction_as_the_primary_output(old_store):
    before = _rows(old_store)
    assert len(before) == 23
    migrate(old_store)
    assert _revision(old_store) == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert _rows(old_store) == before  # same ids, same values, in the same order
    ledger = schema.predictions
    with old_store.connect() as connection:
        added = connection.execute(sa.select(ledger.c.output, ledger.c.step).distinct()).all()
        # The upgraded tables are exactly what schema.py describes (columns, key, index).
        context = MigrationContext.configure(connection, opts={
            "include_name": lambda name, kind, _: kind != "table" or name in schema.CORE_TABLES})
        assert compare_metadata(context, schema.metadata) == []
    assert added == [(PRIMARY_OUTPUT, 0)]
    keys = {u["name"]: u["column_names"]
            for u in sa.inspect(old_store).get_unique_constraints("predictions")}
    assert keys["uq_predictions_key"] == ["task", "model_version_id", "entity_key", "output",
                                          "as_of", "step", "horizon"]
    assert {i["name"] for i in sa.inspect(old_store).get_indexes("predictions")} >= {
        "ix_predictions_task_version_batch"}

    first = {k: v for k, v in before[0].items() if k != "id"}
    with old_store.begin() as connection:  # the same entity, another output or another step
        connection.execute(ledger.insert(), [{**first, "output": "TWF", "step": 0},
                                               {**first, "output": "", "step": 7}])
    with pytest.raises(sa.exc.IntegrityError), old_store.begin() as connection:
        connection.execute(ledger.insert().values(**first))  # exactly the migrated row again
    with pytest.raises(sa.exc.IntegrityError), old_store.begin() as connection:
        connection.execute(ledger.insert().values(**{**first, "model_version_id": 999}))
    with old_store.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(ledger)).scalar_one() \
            == len(before) + 2


def test_downgrade_refuses_to_merge_outputs_and_otherwise_restores_0002(old_store):
    before = _rows(old_store)
    migrate(old_store)
    first = {k: v for k, v in before[0].items() if k != "id"}
    with old_store.begin() as connection:
        connection.execute(schema.predictions.insert().values(**first, output="TWF"))
        command.downgrade(alembic_config(connection), "0003")  # later revisions hold no outputs
    with pytest.raises(RuntimeError, match="1 predictions hold a named output"), \
            old_store.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
    assert _revision(old_store) == "0003"
    with old_store.begin() as connection:
        connection.execute(schema.predictions.delete().where(
            schema.predictions.c.output != PRIMARY_OUTPUT))
        command.downgrade(alembic_config(connection), "0002")
    assert _revision(old_store) == "0002"
    assert _rows(old_store) == before
    columns = {c["name"] for c in sa.inspect(old_store).get_columns("predictions")}
    assert not columns & {"output", "step"}
    with pytest.raises(sa.exc.IntegrityError), old_store.begin() as connection:
        connection.execute(OLD_PREDICTIONS.insert().values(**first))  # old key is back
