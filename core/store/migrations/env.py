"""Alembic environment: runs on the connection core.store.engine.migrate hands over."""

from alembic import context

from core.store.schema import metadata


def _core_only(name: str | None, type_: str, _parent: object) -> bool:
    # Per-Task input tables are created from Task schemas, not by migrations.
    return type_ != "table" or name in metadata.tables or name == "alembic_version"


connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "run the store's migrations with core.store.engine.migrate(engine) (or `verticals init`), "
        "not with the alembic command line"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    include_name=_core_only,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
)
with context.begin_transaction():
    context.run_migrations()
