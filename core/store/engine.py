"""The store's location, engine, migrations and per-Task input tables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pandera.dtypes as pdt
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from core.store import schema
from core.store.dataset_attrs import latest_attrs

if TYPE_CHECKING:
    from alembic.config import Config

    from core.task import Task

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SUPPORTED_URLS = ("sqlite:///path/verticals.db or postgresql+psycopg://user@host:5432/db in "
                  "VERTICALS_DB_URL, or unset it for the SQLite file under VERTICALS_HOME")
# Any constant: serialises concurrent `migrate` calls on one PostgreSQL database.
_PG_MIGRATE_LOCK = 7_301_942_011


# Task input tables, shared so a `where` clause built on ensure_task_table's table fits
# read_task_frame's query. Rebuilt per Task when its schema changes (schema.task_table).
_TASK_TABLES = sa.MetaData()


class StoreSchemaError(RuntimeError):
    """A table in the store does not match what the code expects."""


class StoreConfigError(ValueError):
    """VERTICALS_HOME or VERTICALS_DB_URL names no usable store."""


def _directory(path: Path, what: str) -> Path:
    """`path` as an existing directory (created on demand), or a StoreConfigError saying why."""
    if path.exists() and not path.is_dir():
        raise StoreConfigError(
            f"{what} {path} is a file, not a directory: point it at a directory (created if "
            "missing) or unset it (default ./.verticals)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreConfigError(
            f"{what} {path} cannot be created ({error.strerror or error}): point it at a "
            "directory you can write to") from error
    return path


def home() -> Path:
    """The working directory (VERTICALS_HOME, default ./.verticals), created on demand."""
    given = os.environ.get("VERTICALS_HOME")
    path = Path(given or ".verticals").expanduser().resolve()
    return _directory(path, "VERTICALS_HOME" if given else "the default home")


def database_url() -> str:
    """VERTICALS_DB_URL, or the SQLite file verticals.db under home()."""
    url = os.environ.get("VERTICALS_DB_URL")
    if url:
        return url
    return f"sqlite:///{home() / 'verticals.db'}"


def _normalise(url: str | URL) -> URL:
    parsed = make_url(url)
    # A bare postgresql:// would pick psycopg2, which is not installed: psycopg 3 is.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # WAL + NORMAL survives application crashes; only an OS crash can lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str | URL | None = None) -> sa.Engine:
    """An engine for the store: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL
    (psycopg 3)."""
    given = url if url is not None else database_url()
    try:
        parsed = _normalise(given)
    except sa.exc.ArgumentError as error:
        raise StoreConfigError(
            f"cannot read the database URL {str(given)!r} (VERTICALS_DB_URL): {error}. Use "
            f"{SUPPORTED_URLS}") from error
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _directory(Path(parsed.database).expanduser().parent, "the SQLite file's folder")
        engine = sa.create_engine(
            parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise StoreConfigError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r} "
        f"(VERTICALS_DB_URL): the store runs on SQLite or PostgreSQL only; use {SUPPORTED_URLS}"
    )


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic configuration built in code, so migrations run from any install (no alembic.ini)."""
    # Alembic (and Mako under it) is imported when migrating, not by every dashboard start.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(engine: sa.Engine) -> None:
    """Bring the core tables to the newest revision; a no-op when they already are."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": _PG_MIGRATE_LOCK})
        from alembic import command

        command.upgrade(alembic_config(connection), "head")


def ensure_task_table(engine: sa.Engine, task: Task) -> sa.Table:
    """Create the Task's input table, or check the existing one has exactly the schema's columns."""
    table = schema.task_table(task, _TASK_TABLES)
    with engine.begin() as connection:
        inspector = sa.inspect(connection)
        if not inspector.has_table(table.name):
            table.create(connection, checkfirst=True)
            return table
        found = [column["name"] for column in inspector.get_columns(table.name)]
    expected = [column.name for column in table.columns]
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    if missing or extra:
        raise StoreSchemaError(
            f"table {table.name} in {engine.url.render_as_string(hide_password=True)} does not "
            f"match the schema of Task {task.name}: missing columns {missing or 'none'}, "
            f"extra columns {extra or 'none'}. The schema changed since the data was ingested: "
            f"drop the table (DROP TABLE {table.name}; its rows are lost) and ingest again, or "
            "point VERTICALS_HOME / VERTICALS_DB_URL at a fresh store."
        )
    return table


def _frame_dtype(series: pd.Series, dtype: Any, sql: sa.types.TypeEngine[Any]) -> pd.Series:
    """Give a column read from the store back its schema dtype (SQLite returns dates as text)."""
    if isinstance(sql, schema.UTCDateTime):
        return pd.to_datetime(series, format="ISO8601", utc=True)
    if isinstance(sql, sa.DateTime):
        return pd.to_datetime(series, format="ISO8601")
    if isinstance(sql, sa.Date):
        return pd.to_datetime(series, format="ISO8601").dt.date.astype(object)
    if isinstance(sql, sa.Boolean):
        return series.astype("boolean" if series.isna().any() else bool)
    if isinstance(sql, sa.BigInteger):
        return series.astype("Int64" if series.isna().any() else "int64")
    if isinstance(sql, sa.Float):
        return series.astype("float64")
    if pdt.is_category(dtype):
        categories = getattr(getattr(dtype, "type", None), "categories", None)
        return series.astype(pd.CategoricalDtype(categories) if categories is not None
                             else "category")
    return series.astype("str")


def read_task_frame(
    connection: sa.Connection,
    task: Task,
    where: sa.ColumnElement[bool] | str | None = None,
    columns: list[str] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Rows of the Task's input table (ordered by _row_id) with the schema's dtypes, and in
    `attrs` the latest stored value of each of the Kind's `frame_attrs`.

    `columns` defaults to the schema's columns; `_row_id` and `_run_id` may be asked for.
    `where` is an SQLAlchemy clause on the table (see `schema.task_table`) or SQL text.
    """
    table = schema.task_table(task, _TASK_TABLES)
    names = list(columns) if columns is not None else list(task.schema.columns)
    unknown = [name for name in names if name not in table.c]
    if unknown:
        raise KeyError(
            f"table {table.name} has no columns {unknown}; it has {list(table.c.keys())}"
        )
    # Date/boolean columns are read raw and converted per column below: far faster than
    # SQLAlchemy's per-value result processors on a million rows.
    selected = [sa.type_coerce(table.c[name], sa.Text()).label(name)
                if isinstance(table.c[name].type, sa.Date | sa.DateTime | sa.Boolean)
                else table.c[name] for name in names]
    statement = sa.select(*selected).select_from(table).order_by(table.c[schema.ROW_ID])
    if where is not None:
        statement = statement.where(sa.text(where) if isinstance(where, str) else where)
    if limit is not None:
        statement = statement.limit(limit)
    rows = _fetch_raw(connection, statement)
    data = np.array(rows, dtype=object).reshape(len(rows), len(names))
    frame = {}
    for position, name in enumerate(names):
        spec = task.schema.columns.get(name)
        # An object Series first: pandas' own type inference would cost more than the fetch.
        raw = pd.Series(data[:, position], dtype=object, copy=False)
        frame[name] = _frame_dtype(raw, spec.dtype if spec is not None else None,
                                   table.c[name].type)
    result = pd.DataFrame(frame, columns=names)
    # What the adapter said of the whole dataset (a graph's adjacency) rides along, as it
    # did on the frame the adapter returned.
    result.attrs.update(latest_attrs(connection, task.name, task.kind.frame_attrs))
    return result


def _fetch_raw(connection: sa.Connection, statement: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """All rows through the bare DB-API cursor: SQLAlchemy's Row objects double a large read.

    Values are rendered inline by the dialect's own literal rules (so a datetime compares
    the way SQLAlchemy stores it); no parameters are passed.
    """
    sql = str(statement.compile(dialect=connection.dialect,
                                compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()
