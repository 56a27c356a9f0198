"""Summary tables the dashboards read instead of scanning the ledger and the inputs:
score_bins (predictions per version, output, batch, label and score bin) and profile_counts
(scored input rows per month, feature and drift-reference bucket); and an index on the ledger's
scores (the predictions tab's pages ordered by score).

score_bins is filled here from the ledger already stored (one GROUP BY over it). profile_counts
needs each Task's date column and its champion's reference profile, which only the Task knows:
the next `verticals score` of a Task fills the batches it lacks (pipelines/score.py), and until
then the pages count from the input table as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of core.store.summaries' bins at this revision: 25 equal bins of [0, 1], with
# the predictions tab's own edges (np.linspace: i * 0.04 is not always i / 25).
SCORE_BINS = 25
OUTSIDE, NO_SCORE = -1, -2


def _bin(score: sa.ColumnElement[float]) -> sa.ColumnElement[int]:
    inner = [float(v) for v in np.linspace(0.0, 1.0, SCORE_BINS + 1)[1:-1]]
    return sa.case((score.is_(None), NO_SCORE), ((score < 0) | (score > 1), OUTSIDE),
                   *[(score < edge, i) for i, edge in enumerate(inner)], else_=SCORE_BINS - 1)


def upgrade() -> None:
    op.create_table(
        "score_bins",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"),
                  nullable=False),
        sa.Column("output", sa.String(64), nullable=False),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("bin", sa.Integer, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("score_sum", sa.Float, nullable=True),
        sa.Column("score_min", sa.Float, nullable=True),
        sa.Column("score_max", sa.Float, nullable=True),
    )
    op.create_index("ix_score_bins_task_version_batch", "score_bins",
                    ["task", "model_version_id", "batch"])
    op.create_table(
        "profile_counts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"),
                  nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("period_column", sa.String(200), nullable=False),
        sa.Column("month", sa.String(7), nullable=True),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("bucket", sa.Integer, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_profile_counts_read", "profile_counts",
                    ["task", "model_version_id", "period_column", "feature"])
    op.create_index("ix_profile_counts_batch", "profile_counts",
                    ["task", "model_version_id", "batch"])

    # The predictions tab's default page (highest scores first) walks this index instead of
    # sorting the version's whole ledger.
    op.create_index("ix_predictions_task_version_score", "predictions",
                    ["task", "model_version_id", "output", "score"])

    # The ledger as revision 0007 left it (frozen: only the columns read here).
    ledger = sa.table("predictions", sa.column("task"), sa.column("model_version_id"),
                      sa.column("output"), sa.column("batch"), sa.column("label"),
                      sa.column("score", sa.Float))
    bins = sa.table("score_bins", *(sa.column(name) for name in (
        "task", "model_version_id", "output", "batch", "label", "bin", "rows", "score_sum",
        "score_min", "score_max")))
    index = _bin(ledger.c.score)
    keys = (ledger.c.task, ledger.c.model_version_id, ledger.c.output, ledger.c.batch,
            ledger.c.label, index)
    summary = sa.select(*keys, sa.func.count(), sa.func.sum(ledger.c.score),
                        sa.func.min(ledger.c.score), sa.func.max(ledger.c.score)).group_by(*keys)
    op.execute(bins.insert().from_select(list(bins.c.keys()), summary))


def downgrade() -> None:
    op.drop_index("ix_predictions_task_version_score", table_name="predictions")
    op.drop_index("ix_profile_counts_batch", table_name="profile_counts")
    op.drop_index("ix_profile_counts_read", table_name="profile_counts")
    op.drop_table("profile_counts")
    op.drop_index("ix_score_bins_task_version_batch", table_name="score_bins")
    op.drop_table("score_bins")
