"""Audit log: every view and override of a prediction (who, when, which study, old/new decision).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the table as of this revision (schema.py may move on; this must not).
BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("entity_key", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"),
                  nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("old_label", sa.String(100), nullable=True),
        sa.Column("new_label", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_index("ix_audit_log_task_entity", "audit_log", ["task", "entity_key"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_task_entity", table_name="audit_log")
    op.drop_table("audit_log")
