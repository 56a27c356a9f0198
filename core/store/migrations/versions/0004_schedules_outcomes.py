"""The scheduled loop's tables: schedules, run claims, live metrics, gate decisions and
ingest batches held back by the data-quality gate.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("pipeline", sa.String(20), nullable=False),
        sa.Column("cron", sa.String(100), nullable=False),
        sa.Column("options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_slot", UTCDateTime, nullable=True),
        sa.Column("last_run_id", sa.Integer, nullable=True),
        sa.UniqueConstraint("task", "pipeline", "cron", name="uq_schedules_task_pipeline_cron"),
    )
    op.create_table(
        "run_claims",
        sa.Column("task", sa.String(100), primary_key=True),
        sa.Column("pipeline", sa.String(20), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("claimed_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "live_metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False, index=True),
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("metric", sa.String(50), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("computed_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("task", "model_version_id", "scope", "period", "metric",
                            name="uq_live_metrics_key"),
    )
    op.create_table(
        "gate_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False, index=True),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("champion_version", sa.Integer, nullable=True),
        sa.Column("challenger_version", sa.Integer, nullable=True),
        sa.Column("figures", sa.Text, nullable=False, server_default="{}"),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "held_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False, index=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("quarantined_share", sa.Float, nullable=False),
        sa.Column("missing_share", sa.Float, nullable=False),
        sa.Column("held_at", UTCDateTime, nullable=False),
        sa.Column("released_at", UTCDateTime, nullable=True),
        sa.Column("released_by", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    for name in ("held_batches", "gate_decisions", "live_metrics", "run_claims", "schedules"):
        op.drop_table(name)
