"""Predictions name their output and step: `output` (PRIMARY_OUTPUT '' for a Kind's main
prediction) and `step` (a cycle number, else 0) join the ledger's unique key.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
OLD_KEY = ("task", "model_version_id", "entity_key", "as_of", "horizon")
NEW_KEY = ("task", "model_version_id", "entity_key", "output", "as_of", "step", "horizon")
KEY_NAME = "uq_predictions_key"


def _predictions(*, with_outputs: bool) -> sa.Table:
    """A frozen copy of `predictions` before (0002) or after (0003) this revision: SQLite
    rebuilds the table from it (batch mode), so nothing depends on reflection or on schema.py."""
    extra = [
        sa.Column("output", sa.String(64), nullable=False, server_default=""),
        sa.Column("step", sa.BigInteger, nullable=False, server_default="0"),
    ] if with_outputs else []
    return sa.Table(
        "predictions", sa.MetaData(),
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"),
                  nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("entity_key", sa.String(200), nullable=False),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("horizon", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("lower", sa.Float, nullable=True),
        sa.Column("upper", sa.Float, nullable=True),
        sa.Column("payload", sa.Text, nullable=True),
        sa.Column("reasons", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        *extra,
        sa.UniqueConstraint(*(NEW_KEY if with_outputs else OLD_KEY), name=KEY_NAME),
        sa.Index("ix_predictions_task_version_batch", "task", "model_version_id", "batch"),
    )


def upgrade() -> None:
    # PostgreSQL: ALTER TABLE in place (ADD COLUMN ... DEFAULT fills the existing rows).
    # SQLite: the table is rebuilt (new table, rows copied, old dropped, renamed, index remade).
    with op.batch_alter_table("predictions", copy_from=_predictions(with_outputs=False)) as batch:
        batch.add_column(sa.Column("output", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("step", sa.BigInteger, nullable=False, server_default="0"))
        batch.drop_constraint(KEY_NAME, type_="unique")
        batch.create_unique_constraint(KEY_NAME, list(NEW_KEY))


def downgrade() -> None:
    # Only the primary output at step 0 fits the old key: refuse rather than drop predictions.
    predictions = sa.table("predictions", sa.column("output"), sa.column("step"))
    others = op.get_bind().execute(
        sa.select(sa.func.count()).select_from(predictions)
        .where(sa.or_(predictions.c.output != "", predictions.c.step != 0))).scalar_one()
    if others:
        raise RuntimeError(
            f"cannot downgrade the store below revision 0003: {others} predictions hold a named "
            "output or a step other than 0, which the old ledger key cannot tell apart. Delete "
            "them first (DELETE FROM predictions WHERE output <> '' OR step <> 0) if they may go."
        )
    with op.batch_alter_table("predictions", copy_from=_predictions(with_outputs=True)) as batch:
        batch.drop_constraint(KEY_NAME, type_="unique")
        batch.drop_column("step")
        batch.drop_column("output")
        batch.create_unique_constraint(KEY_NAME, list(OLD_KEY))
