"""Run ownership: the host, pid and heartbeat of each run, and at most one `running` ingest,
train or score run per Task (the run lock, core/store/runs.py).

Older `running` rows of one Task+pipeline that an earlier run superseded are marked
`interrupted` first (a partial unique index cannot be built over duplicates); the newest is
left for the next run to judge (a row without a pid predates this revision: presumed dead).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of core.store.schema.RUN_LOCKED at this revision.
LOCKED = sa.text("status = 'running' AND pipeline IN ('ingest', 'train', 'score')")


def upgrade() -> None:
    op.add_column("pipeline_runs", sa.Column("host", sa.String(255), nullable=True))
    op.add_column("pipeline_runs", sa.Column("pid", sa.Integer, nullable=True))
    op.add_column("pipeline_runs", sa.Column("heartbeat_at", UTCDateTime, nullable=True))
    op.execute(
        "UPDATE pipeline_runs SET status = 'interrupted', "
        "error = 'interrupted: superseded by a later run (marked by migration 0007)' "
        "WHERE status = 'running' AND pipeline IN ('ingest', 'train', 'score') "
        "AND id NOT IN (SELECT MAX(id) FROM pipeline_runs WHERE status = 'running' "
        "GROUP BY task, pipeline)"
    )
    op.create_index("uq_pipeline_runs_running", "pipeline_runs", ["task", "pipeline"],
                    unique=True, sqlite_where=LOCKED, postgresql_where=LOCKED)


def downgrade() -> None:
    op.drop_index("uq_pipeline_runs_running", table_name="pipeline_runs")
    # Plain ALTER TABLE DROP COLUMN (SQLite >= 3.35): a batch copy of pipeline_runs would
    # trip the foreign keys that point at it.
    for name in ("heartbeat_at", "pid", "host"):
        op.drop_column("pipeline_runs", name)
