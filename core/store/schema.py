"""SQLAlchemy Core tables of the store (docs/architecture.md "Tables") and the per-Task
input table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandera.dtypes as pdt
import sqlalchemy as sa

if TYPE_CHECKING:
    from core.task import Task

ROW_ID = "_row_id"
RUN_ID = "_run_id"
# Per-Task input tables live beside the core tables; the prefix keeps them apart.
INPUT_PREFIX = "input_"


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A tz-aware UTC timestamp on both dialects.

    PostgreSQL stores timestamptz; SQLite has no time zones, so values are normalised to UTC
    and stored naive, then given back tz-aware: the two dialects read back the same value.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value!r} given for a UTC column: pass a tz-aware one"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


metadata = sa.MetaData()

# The pipelines of which one run at a time per Task may be `running` (a partial unique index).
LOCKED_PIPELINES = ("ingest", "train", "score")
RUN_LOCKED = ("status = 'running' AND pipeline IN ("
              + ", ".join(f"'{name}'" for name in LOCKED_PIPELINES) + ")")

pipeline_runs = sa.Table(
    "pipeline_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False, index=True),
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
    # Who runs it (revision 0007): the next run of the Task+pipeline judges by these whether a
    # `running` row's process is gone (core/store/runs.py, "Run lock").
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("heartbeat_at", UTCDateTime, nullable=True),
    # The run lock: at most one running ingest, train or score run per Task.
    sa.Index("uq_pipeline_runs_running", "task", "pipeline", unique=True,
             sqlite_where=sa.text(RUN_LOCKED), postgresql_where=sa.text(RUN_LOCKED)),
)

model_versions = sa.Table(
    "model_versions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False, index=True),
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

aliases = sa.Table(
    "aliases", metadata,
    sa.Column("task", sa.String(100), primary_key=True),
    sa.Column("alias", sa.String(50), primary_key=True),
    sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

predictions = sa.Table(
    "predictions", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("entity_key", sa.String(200), nullable=False),
    # Which output of the entity the row holds: PRIMARY_OUTPUT ('') for the Kind's main one
    # (revision 0003; the defaults fill older rows and writers that do not send them).
    sa.Column("output", sa.String(64), nullable=False, server_default=""),
    # The time the prediction is for: naive, in the Task's own clock (like its input table).
    sa.Column("as_of", sa.DateTime, nullable=False),
    # An integer position (a cycle number) for Kinds indexed by steps, else 0.
    sa.Column("step", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("horizon", sa.Integer, nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("label", sa.String(100), nullable=True),
    sa.Column("lower", sa.Float, nullable=True),
    sa.Column("upper", sa.Float, nullable=True),
    sa.Column("payload", sa.Text, nullable=True),
    sa.Column("reasons", sa.Text, nullable=True),
    # Server default so bulk writes (executemany/COPY) need not send it.
    sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("task", "model_version_id", "entity_key", "output", "as_of", "step",
                        "horizon", name="uq_predictions_key"),
    sa.Index("ix_predictions_task_version_batch", "task", "model_version_id", "batch"),
    # Revision 0008: a page of the highest (or lowest) scores and a version's score range are
    # an index walk, not a sort of the version's whole ledger.
    sa.Index("ix_predictions_task_version_score", "task", "model_version_id", "output", "score"),
)

drift_reports = sa.Table(
    "drift_reports", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False, index=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
    sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=True),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("feature", sa.String(200), nullable=False),
    sa.Column("psi", sa.Float, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("reference_rows", sa.BigInteger, nullable=True),
    sa.Column("batch_rows", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
)

quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False, index=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
    sa.Column("source", sa.String(500), nullable=True),
    sa.Column("row_number", sa.BigInteger, nullable=True),
    sa.Column("column", sa.String(200), nullable=True),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("rule", sa.String(500), nullable=False),
    sa.Column("payload", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
)

# Who looked at or overrode which prediction (imaging governance; Alembic revision 0002).
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("entity_key", sa.String(200), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # view | override | upload
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=True),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("old_label", sa.String(100), nullable=True),
    sa.Column("new_label", sa.String(100), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Index("ix_audit_log_task_entity", "task", "entity_key"),
)

# The scheduled loop (Alembic revision 0004): schedules, run claims, live accuracy, gate
# decisions and ingest batches held back by the data-quality gate.
schedules = sa.Table(
    "schedules", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("pipeline", sa.String(20), nullable=False),
    sa.Column("cron", sa.String(100), nullable=False),
    sa.Column("options", sa.Text, nullable=False, server_default="{}"),
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_slot", UTCDateTime, nullable=True),  # the latest slot run (or skipped)
    sa.Column("last_run_id", sa.Integer, nullable=True),
    sa.UniqueConstraint("task", "pipeline", "cron", name="uq_schedules_task_pipeline_cron"),
)

# One row while a Task's pipeline runs: the primary key makes a second claim fail.
run_claims = sa.Table(
    "run_claims", metadata,
    sa.Column("task", sa.String(100), primary_key=True),
    sa.Column("pipeline", sa.String(20), primary_key=True),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
)

live_metrics = sa.Table(
    "live_metrics", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False, index=True),
    sa.Column("model_version_id", sa.Integer, nullable=False),
    sa.Column("scope", sa.String(10), nullable=False),  # batch | month | all
    sa.Column("period", sa.String(20), nullable=False),  # batch number, YYYY-MM or 'all'
    sa.Column("metric", sa.String(50), nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("task", "model_version_id", "scope", "period", "metric",
                        name="uq_live_metrics_key"),
)

gate_decisions = sa.Table(
    "gate_decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False, index=True),
    sa.Column("decision", sa.String(20), nullable=False),  # passed | retrain | promoted | kept_back
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("champion_version", sa.Integer, nullable=True),
    sa.Column("challenger_version", sa.Integer, nullable=True),
    sa.Column("figures", sa.Text, nullable=False, server_default="{}"),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
)

held_batches = sa.Table(
    "held_batches", metadata,
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

# The maintenance work-order queue and its audit trail (Alembic revision 0005): filled by a
# Task's `after_score` hook (core.store.work_orders.WorkOrders) in each scored batch's
# transaction; an entity has at most one order that is not done (the partial unique index).
ORDER_ACTIVE = sa.text("status != 'done'")

work_orders = sa.Table(
    "work_orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("entity_key", sa.String(200), nullable=False),
    sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("mode", sa.String(64), nullable=True),  # the most likely further output, if any
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("expected_cost_of_waiting", sa.Float, nullable=False),
    sa.Column("reasons", sa.Text, nullable=True),
    sa.Column("rank", sa.Integer, nullable=True),  # 1 = most costly to wait on; NULL when done
    sa.Column("status", sa.String(12), nullable=False),  # open | scheduled | done
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("uq_work_orders_active", "task", "entity_key", unique=True,
             sqlite_where=ORDER_ACTIVE, postgresql_where=ORDER_ACTIVE),
    sa.Index("ix_work_orders_task_status", "task", "status"),
)

work_order_events = sa.Table(
    "work_order_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("work_orders.id"), nullable=False,
              index=True),
    sa.Column("from_status", sa.String(12), nullable=True),  # NULL: the order was created
    sa.Column("to_status", sa.String(12), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
)

# Dataset attributes (Alembic revision 0006): what an adapter says of the whole dataset
# rather than of a row (a road graph's adjacency and its sensor order), the names a Kind
# declares in `frame_attrs`. Every ingest that brings a changed value adds a row; frames read
# back from the store carry the latest value of each name (core.store.dataset_attrs).
dataset_attrs = sa.Table(
    "dataset_attrs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("value", sa.Text, nullable=False),  # JSON
    sa.Column("sha256", sa.String(64), nullable=False),  # of `value`: a re-run adds nothing
    sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_dataset_attrs_task_name", "task", "name", "id"),
)

# Summaries of the ledger and of the scored inputs (Alembic revision 0008): what the dashboards
# would otherwise GROUP BY over every prediction and input row on each view (score histogram and
# label shares; PSI by month). `score` rewrites a batch's rows in the batch's own transaction
# (core/store/summaries.py); readers check them against the ledger's row count and fall back to
# the scan when they do not cover it (rows written by another path, a store not re-scored).
score_bins = sa.Table(
    "score_bins", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("output", sa.String(64), nullable=False),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("label", sa.String(100), nullable=True),
    # The bin of [0, 1] in SCORE_BINS equal bins (the last one closed); -1: a score outside
    # [0, 1]; -2: no score.
    sa.Column("bin", sa.Integer, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("score_sum", sa.Float, nullable=True),
    sa.Column("score_min", sa.Float, nullable=True),
    sa.Column("score_max", sa.Float, nullable=True),
    sa.Index("ix_score_bins_task_version_batch", "task", "model_version_id", "batch"),
)

# Scored input rows per (month of the Task's first date column, profiled feature, bucket of the
# version's drift reference): PSI by month without reading the input table.
profile_counts = sa.Table(
    "profile_counts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=True),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("period_column", sa.String(200), nullable=False),
    sa.Column("month", sa.String(7), nullable=True),  # 'YYYY-MM'; NULL: no date
    sa.Column("feature", sa.String(200), nullable=False),
    # core.monitor's bucket: a numeric profile's bin (edges, then above, then missing) or a
    # categorical one's category position (categories, then other, then missing).
    sa.Column("bucket", sa.Integer, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Index("ix_profile_counts_read", "task", "model_version_id", "period_column", "feature"),
    sa.Index("ix_profile_counts_batch", "task", "model_version_id", "batch"),
)

CORE_TABLES = tuple(metadata.tables)


def sql_type(dtype: Any, column: str) -> sa.types.TypeEngine[Any]:
    """The SQL type for a pandera dtype (order matters: a tz-aware DateTime is also a Date)."""
    if pdt.is_bool(dtype):
        return sa.Boolean()
    if pdt.is_int(dtype) or pdt.is_uint(dtype):
        return sa.BigInteger()
    if pdt.is_float(dtype):
        return sa.Float()
    if pdt.is_datetime(dtype):
        return UTCDateTime() if getattr(dtype, "tz", None) is not None else sa.DateTime()
    if isinstance(dtype, pdt.Date):
        return sa.Date()
    if pdt.is_string(dtype) or pdt.is_category(dtype) or str(dtype) == "object":
        return sa.Text()
    raise TypeError(
        f"column {column!r}: no SQL type for pandera dtype {dtype}; use int, float, str, bool, "
        "category, datetime or date in the Task schema"
    )


def task_table_name(task: Task) -> str:
    return f"{INPUT_PREFIX}{task.slug}"


def task_table(task: Task, metadata: sa.MetaData) -> sa.Table:
    """The input table of a Task, typed from its pandera schema (not created: see
    ensure_task_table).

    Asked again with the same metadata it returns the same Table object (so clauses built on
    one call's table work in another's query), unless the schema changed since.
    """
    existing = metadata.tables.get(task_table_name(task))
    fresh = _build_task_table(task, sa.MetaData())
    if existing is not None:
        if _signature(existing) == _signature(fresh):
            return existing
        metadata.remove(existing)
    return fresh.to_metadata(metadata)


def _signature(table: sa.Table) -> list[tuple[str, str, bool]]:
    return [(c.name, repr(c.type), bool(c.nullable)) for c in table.columns]


def _build_task_table(task: Task, metadata: sa.MetaData) -> sa.Table:
    keys = [key for key in task.kind.key_columns() if key in task.schema.columns]
    labels = set(task.kind.label_columns)
    columns: list[sa.Column[Any]] = [
        sa.Column(ROW_ID, sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column(RUN_ID, sa.Integer, nullable=True),
    ]
    for name, spec in task.schema.columns.items():
        if name in (ROW_ID, RUN_ID):
            raise ValueError(f"Task {task.name}: schema column {name!r} clashes with the store's "
                             "own column; rename it in the schema")
        # Labels stay nullable so unlabelled rows can be stored and scored.
        nullable = bool(spec.nullable) or not spec.required or name in labels
        columns.append(sa.Column(name, sql_type(spec.dtype, name), nullable=nullable))
    constraints = []
    if keys:
        constraints.append(sa.UniqueConstraint(*keys, name=f"uq_{task_table_name(task)}_key"))
    return sa.Table(task_table_name(task), metadata, *columns, *constraints)
