"""Read-only SQL aggregates over a Task's input table: the data explorer and PSI by month."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.store.queries import MAX_CATEGORIES, MAX_ROWS, bin_index, mean_of, month_of

# A filter is column -> list of allowed values (IN) or a (low, high) pair (BETWEEN, inclusive).
Filters = Mapping[str, Sequence[Any] | tuple[float, float]]


def _where(table: sa.Table, filters: Filters | None) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    for name, allowed in (filters or {}).items():
        column = table.c[name]
        if isinstance(allowed, tuple):
            low, high = allowed
            clauses.append(column.between(low, high))
        else:
            clauses.append(column.in_(list(allowed)))
    return clauses


def count_rows(engine: Engine, table: sa.Table, filters: Filters | None = None) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(table).where(*_where(table, filters))
        ).scalar_one()


def category_counts(
    engine: Engine, table: sa.Table, column: str, filters: Filters | None = None,
    target: str | None = None, limit: int = MAX_CATEGORIES,
) -> pd.DataFrame:
    """Rows per value of a column (most frequent first), with the target's mean when given."""
    col = table.c[column]
    count = sa.func.count().label("rows")
    selected: list[Any] = [col.label("value"), count]
    if target is not None:
        selected.append(mean_of(table.c[target]).label("target_rate"))
    query = (sa.select(*selected).where(*_where(table, filters)).group_by(col)
             .order_by(count.desc(), col).limit(limit))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    columns = ["value", "rows"] + (["target_rate"] if target is not None else [])
    return pd.DataFrame(rows, columns=columns)


def column_mean(engine: Engine, table: sa.Table, column: str,
                filters: Filters | None = None) -> float | None:
    """Mean of a numeric or boolean column over the matching rows (NULLs left out); for a 0/1
    target it is the rate. None when no matching row has a value."""
    query = sa.select(mean_of(table.c[column])).where(*_where(table, filters))
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return None if value is None else float(value)


def numeric_range(engine: Engine, table: sa.Table, column: str) -> tuple[float, float] | None:
    with engine.connect() as conn:
        low, high = conn.execute(
            sa.select(sa.func.min(table.c[column]), sa.func.max(table.c[column]))).one()
    return None if low is None else (float(low), float(high))


def numeric_histogram(
    engine: Engine, table: sa.Table, column: str, edges: Sequence[float],
    filters: Filters | None = None, target: str | None = None,
) -> pd.DataFrame:
    """Rows per bin of a numeric column (bins from `edges`), with the target's mean when given."""
    col = table.c[column]
    index = bin_index(col, edges).label("bin")
    selected: list[Any] = [index, sa.func.count().label("rows")]
    if target is not None:
        selected.append(mean_of(table.c[target]).label("target_rate"))
    query = (sa.select(*selected).where(col.is_not(None), *_where(table, filters))
             .group_by(index).order_by(index))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    frame = pd.DataFrame(rows, columns=["bin", "rows"] + (["target_rate"] if target else []))
    frame["low"] = [edges[int(i)] for i in frame["bin"]]
    frame["high"] = [edges[int(i) + 1] for i in frame["bin"]]
    return frame


def monthly_counts(
    engine: Engine, table: sa.Table, date_column: str, filters: Filters | None = None,
    target: str | None = None,
) -> pd.DataFrame:
    """Rows per calendar month of a date column, with the target's mean when given."""
    month = month_of(table.c[date_column], engine.dialect.name).label("month")
    selected: list[Any] = [month, sa.func.count().label("rows")]
    if target is not None:
        selected.append(mean_of(table.c[target]).label("target_rate"))
    query = (sa.select(*selected).where(table.c[date_column].is_not(None),
                                        *_where(table, filters))
             .group_by(month).order_by(month).limit(MAX_ROWS))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=["month", "rows"] + (["target_rate"] if target else []))


def sample_rows(
    engine: Engine, table: sa.Table, filters: Filters | None = None, limit: int = 200,
) -> pd.DataFrame:
    """A capped sample of input rows matching the filters, in storage order."""
    query = (sa.select(table).where(*_where(table, filters))
             .order_by(next(iter(table.primary_key.columns))).limit(min(limit, MAX_ROWS)))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in table.columns])


def distinct_keys(engine: Engine, table: sa.Table, key_column: str, limit: int = 200) -> list[Any]:
    """The first `limit` ids of an input table (choices for a picker)."""
    with engine.connect() as conn:
        return list(conn.execute(
            sa.select(table.c[key_column]).order_by(table.c[key_column]).limit(limit)).scalars())


def find_keys(engine: Engine, table: sa.Table, key_column: str, text: str,
              limit: int = 20) -> list[Any]:
    """Ids of the whole table that match `text` (typed by a user): the id itself first (an
    equality on the key's unique index, one lookup at any size), then up to `limit` ids that
    start with it, in id order. A picker of the first N ids cannot reach the others."""
    column = table.c[key_column]
    text = text.strip()
    if not text:
        return []
    if column.type.python_type is not str:
        try:
            wanted = column.type.python_type(text)
        except ValueError:
            return []  # "abc" is no integer id
        with engine.connect() as conn:
            return list(conn.execute(sa.select(column).where(column == wanted)).scalars())
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with engine.connect() as conn:
        exact = list(conn.execute(sa.select(column).where(column == text)).scalars())
        starting = conn.execute(
            sa.select(column).where(column.like(f"{escaped}%", escape="\\"), column != text)
            .order_by(column).limit(max(limit - len(exact), 0))).scalars()
        return exact + list(starting)


def profile_bucket(column: sa.ColumnElement[Any], edges: Sequence[float]) -> sa.ColumnElement[int]:
    """The bucket of core.monitor's numeric profile: i holds edges[i-1] < x <= edges[i]; the
    one past the last edge holds larger values and the next one missing values."""
    whens: list[tuple[Any, int]] = [(column.is_(None), len(edges) + 1)]
    whens += [(column <= edge, i) for i, edge in enumerate(edges)]
    return sa.case(*whens, else_=len(edges))


def monthly_profile_counts(
    engine: Engine, table: sa.Table, date_column: str, column: str,
    edges: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Rows per (month, bucket) in core.monitor's numeric buckets when `edges` are given, else
    per (month, raw value) with missing values as None: the counts PSI by month needs."""
    month = month_of(table.c[date_column], engine.dialect.name).label("month")
    value = (profile_bucket(table.c[column], edges) if edges is not None
             else table.c[column]).label("value")
    query = (
        sa.select(month, value, sa.func.count().label("rows"))
        .where(table.c[date_column].is_not(None))
        .group_by(month, value).order_by(month).limit(50 * MAX_ROWS)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=["month", "value", "rows"])
