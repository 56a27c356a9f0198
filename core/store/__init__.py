"""The SQL store: engine and migrations, table definitions, bulk writes, run bookkeeping."""

from core.store.engine import (
    database_url,
    ensure_task_table,
    home,
    make_engine,
    migrate,
    read_task_frame,
)

__all__ = [
    "database_url", "ensure_task_table", "home", "make_engine", "migrate", "read_task_frame",
]
