"""Core tables: pipeline_runs, model_versions, aliases, predictions, drift_reports, quarantine.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the tables as of this revision (schema.py may move on; this must not).
BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("pipeline", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("rows_in", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_out", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_rejected", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("batches", sa.Integer, nullable=False, server_default="0"),
        sa.Column("params", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_pipeline_runs_task", "pipeline_runs", ["task"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("format", sa.String(50), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
        sa.Column("profile", sa.String(20), nullable=True),
        sa.Column("dataset", sa.String(500), nullable=True),
        sa.Column("train_rows", sa.BigInteger, nullable=True),
        sa.Column("primary_metric", sa.String(50), nullable=False),
        sa.Column("primary_value", sa.Float, nullable=True),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=True),
        sa.Column("artifact_path", sa.String(500), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.UniqueConstraint("task", "version", name="uq_model_versions_task_version"),
    )
    op.create_index("ix_model_versions_task", "model_versions", ["task"])
    op.create_table(
        "aliases",
        sa.Column("task", sa.String(100), primary_key=True),
        sa.Column("alias", sa.String(50), primary_key=True),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"),
                  nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "predictions",
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
        sa.UniqueConstraint("task", "model_version_id", "entity_key", "as_of", "horizon",
                            name="uq_predictions_key"),
    )
    op.create_index("ix_predictions_task_version_batch", "predictions",
                    ["task", "model_version_id", "batch"])
    op.create_table(
        "drift_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"),
                  nullable=True),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("psi", sa.Float, nullable=True),
        sa.Column("flag", sa.Boolean, nullable=False),
        sa.Column("reference_rows", sa.BigInteger, nullable=True),
        sa.Column("batch_rows", sa.BigInteger, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_drift_reports_task", "drift_reports", ["task"])
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("row_number", sa.BigInteger, nullable=True),
        sa.Column("column", sa.String(200), nullable=True),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("rule", sa.String(500), nullable=False),
        sa.Column("payload", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_quarantine_task", "quarantine", ["task"])


def downgrade() -> None:
    for table in ("quarantine", "drift_reports", "predictions", "aliases", "model_versions",
                  "pipeline_runs"):
        op.drop_table(table)
