"""Bulk writes at driver speed inside the caller's transaction: executemany (SQLite),
COPY (PostgreSQL)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from core.store.schema import UTCDateTime

# The text form SQLAlchemy's SQLite DateTime/Date write and parse: bulk rows must match it
# byte for byte so SQL comparisons and unique keys agree with rows written through SQLAlchemy.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
SQLITE_DATE = "%Y-%m-%d"
COPY_NULL = "\\N"
COPY_CHUNK_ROWS = 200_000


def _is_datetime_type(sql: sa.types.TypeEngine[Any]) -> bool:
    return isinstance(sql, UTCDateTime | sa.DateTime)


def _datetimes(series: pd.Series, sql: sa.types.TypeEngine[Any], column: str) -> pd.Series:
    """The column as naive UTC (UTCDateTime) or naive local-clock (DateTime) datetime64."""
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series, format="ISO8601")
    aware = isinstance(series.dtype, pd.DatetimeTZDtype)
    if isinstance(sql, UTCDateTime):
        if not aware:
            raise ValueError(f"column {column!r} is stored as a UTC timestamp but the frame holds "
                             "naive datetimes: localise them (Series.dt.tz_localize('UTC'))")
        return series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.dt.tz_convert("UTC").dt.tz_localize(None) if aware else series


def _formatted(series: pd.Series, fmt: str) -> list[Any]:
    # Rows often share a handful of timestamps (one as_of per batch): format each once.
    codes, uniques = pd.factorize(series)
    texts = np.asarray(pd.Index(uniques).strftime(fmt), dtype=object)
    values = texts.take(np.where(codes < 0, 0, codes)) if len(texts) else np.full(
        len(codes), None, dtype=object)
    values[codes < 0] = None
    return values.tolist()


def _python_values(values: np.ndarray) -> list[Any]:
    """Object-column values as Python scalars the driver accepts (NumPy scalars unwrapped)."""
    items = values.tolist()
    if any(isinstance(v, np.generic | pd.Timestamp) for v in items):
        items = [v.item() if isinstance(v, np.generic)
                 else v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in items]
    return items


def _sqlite_column(series: pd.Series, sql: sa.types.TypeEngine[Any], column: str) -> list[Any]:
    if _is_datetime_type(sql):
        return _formatted(_datetimes(series, sql, column), SQLITE_DATETIME)
    if isinstance(sql, sa.Date):
        if series.dtype == object and not series.map(lambda v: isinstance(v, datetime)).any():
            # date objects (pandera's Date): ISO text is exactly what SQLAlchemy writes.
            return [None if pd.isna(v) else v.isoformat() for v in series.tolist()]
        return _formatted(pd.to_datetime(series, format="ISO8601"), SQLITE_DATE)
    values = series.to_numpy(dtype=object, na_value=None)
    if series.dtype == object and series.isna().all():
        return [None] * len(series)
    return _python_values(values) if series.dtype == object else values.tolist()


def _sqlite_insert(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    columns = [_sqlite_column(frame[name], table.c[name].type, name) for name in frame.columns]
    prepare = conn.dialect.identifier_preparer
    names = ", ".join(prepare.quote(name) for name in frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    sql = f"INSERT INTO {prepare.format_table(table)} ({names}) VALUES ({marks})"
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(sql, zip(*columns, strict=True))
    finally:
        cursor.close()
    return len(frame)


def _copy_frame(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    """The frame in the text COPY reads back exactly (UTC offsets, integers without '.0')."""
    out = {}
    for name in frame.columns:
        series, sql = frame[name], table.c[name].type
        if isinstance(sql, UTCDateTime):
            series = _datetimes(series, sql, name).dt.tz_localize("UTC")
        elif _is_datetime_type(sql):
            series = _datetimes(series, sql, name)
        elif isinstance(sql, sa.Integer) and pd.api.types.is_float_dtype(series):
            series = series.astype("Int64")  # raises on non-integral floats: a real type error
        elif isinstance(sql, sa.Boolean) and series.dtype == object:
            series = series.astype("boolean")
        out[name] = series
    return pd.DataFrame(out, index=frame.index)


def _has_null_marker(frame: pd.DataFrame) -> bool:
    return any((frame[name] == COPY_NULL).any() for name in frame.columns
               if pd.api.types.is_string_dtype(frame[name]) or frame[name].dtype == object)


def _postgres_insert(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    prepare = conn.dialect.identifier_preparer
    names = ", ".join(prepare.quote(name) for name in frame.columns)
    target = f"{prepare.format_table(table)} ({names})"
    data = _copy_frame(frame, table)
    with conn.connection.driver_connection.cursor() as cursor:
        if _has_null_marker(data):
            # A text value equal to the CSV null marker: the exact (slower) row protocol.
            with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                for row in data.astype(object).where(data.notna(), None).itertuples(
                        index=False, name=None):
                    copy.write_row(row)
            return len(frame)
        with cursor.copy(f"COPY {target} FROM STDIN WITH (FORMAT csv, NULL '{COPY_NULL}')") as copy:
            for start in range(0, len(data), COPY_CHUNK_ROWS):
                buffer = io.StringIO()
                data.iloc[start:start + COPY_CHUNK_ROWS].to_csv(
                    buffer, header=False, index=False, na_rep=COPY_NULL,
                    quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
                copy.write(buffer.getvalue())
    return len(frame)


def insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """Append the frame's rows to `table` inside the caller's transaction; returns the row count.

    Frame columns must be columns of the table; table columns the frame lacks get their
    defaults. Missing values (NaN, NaT, None, pd.NA) become NULL.
    """
    unknown = [name for name in frame.columns if name not in table.c]
    if unknown:
        raise KeyError(f"frame columns {unknown} are not columns of table {table.name} "
                       f"(it has {list(table.c.keys())}): rename or drop them before writing")
    if frame.empty:
        return 0
    # Join (or open) the SQLAlchemy transaction so the caller's commit/rollback covers these rows.
    if not conn.in_transaction():
        conn.begin()
    routes = {"sqlite": _sqlite_insert, "postgresql": _postgres_insert}
    if conn.dialect.name not in routes:
        raise NotImplementedError(f"bulk insert has no route for dialect {conn.dialect.name!r}")
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        return routes[conn.dialect.name](conn, table, frame)
    except dbapi_error as error:
        # The same exception classes as a SQLAlchemy insert (IntegrityError, ...) on both dialects.
        raise sa.exc.DBAPIError.instance(
            f"bulk insert of {len(frame)} rows into {table.name}", None, error, dbapi_error,
        ) from error


def delete_where(conn: sa.Connection, table: sa.Table, equals: Mapping[str, Any]) -> int:
    """Delete the rows whose columns equal the given values (e.g. one batch before
    re-writing it)."""
    if not equals:
        raise ValueError(f"delete_where on {table.name} needs at least one column = value")
    clause = sa.and_(*(table.c[name] == value for name, value in equals.items()))
    return conn.execute(table.delete().where(clause)).rowcount


def raw_read(conn: sa.Connection, sql: str,
             params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of a SQL query through the bare DB-API cursor (the bench's baseline for reads).

    Placeholders follow the driver: `?` on SQLite, `%s` / `%(name)s` on PostgreSQL.
    """
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, params if params is not None else ())
        return cursor.fetchall()
    finally:
        cursor.close()



# A table is re-analysed when this share of its rows changed since the last ANALYZE (or it
# never was): PostgreSQL's own autovacuum default, for servers that run without it.
STALE_STATISTICS_SHARE = 0.1


def refresh_statistics(engine: sa.Engine, tables: Sequence[sa.Table]) -> list[str]:
    """ANALYZE the tables whose planner statistics are missing or stale, on PostgreSQL (the
    SQLite planner needs none here); returns the tables analysed.

    Called after bulk writes (an ingest, the start of a score run), not per batch: without
    statistics PostgreSQL estimates a freshly loaded table at a row or so and picks nested
    loops over it (issue #15). Each ANALYZE samples a bounded number of rows.
    """
    if engine.dialect.name != "postgresql":
        return []
    analysed = []
    with engine.connect() as conn:
        for table in tables:
            name = conn.dialect.identifier_preparer.format_table(table)
            row = conn.execute(sa.text(
                "SELECT c.reltuples, s.n_mod_since_analyze FROM pg_class c "
                "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
                "WHERE c.oid = to_regclass(:name)"), {"name": name}).first()
            if row is None:  # no such table (yet)
                continue
            tuples, changed = row
            if tuples >= 0 and (changed or 0) < STALE_STATISTICS_SHARE * max(tuples, 1.0):
                continue
            conn.execute(sa.text(f"ANALYZE {name}"))
            analysed.append(table.name)
        conn.commit()
    return analysed


# Values per IN list where the dialect has no array parameter: under SQLite's variable limit.
IN_SLICE = 5000


def present_values(conn: sa.Connection, column: sa.Column[Any], values: Sequence[Any],
                   *where: sa.ColumnElement[bool]) -> set[Any]:
    """Which of `values` occur in `column` among the rows matching `where`.

    PostgreSQL gets one array parameter (`= ANY(:values)`): a 5,000-item IN list costs more to
    bind and plan than to run. SQLite gets IN lists of IN_SLICE values.
    """
    if not len(values):
        return set()
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        wanted = sa.bindparam("present_values", list(values), type_=ARRAY(column.type))
        return set(conn.execute(sa.select(column).where(*where, column == sa.func.any(wanted)))
                   .scalars())
    found: set[Any] = set()
    for start in range(0, len(values), IN_SLICE):
        chunk = list(values[start:start + IN_SLICE])
        found.update(conn.execute(sa.select(column).where(*where, column.in_(chunk))).scalars())
    return found
