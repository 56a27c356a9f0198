"""Ingest: validate raw rows against a Task's schema, quarantine bad rows, write good ones."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.store.bulk import insert_frame
from core.store.engine import ensure_task_table
from core.store.runs import track_run
from core.store.schema import quarantine
from core.task import Dataset, Task

# Existing-id look-ups go in slices so SQLite's bound-parameter limit is never reached.
_ID_LOOKUP_SLICE = 5000


class IngestError(RuntimeError):
    """The input as a whole cannot be ingested (unreadable file, missing columns)."""


@dataclass
class IngestResult:
    """What one ingest run did, for the summary table and the tests."""

    run_id: int
    source: str
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0  # rows (a row failing several checks counts once)
    skipped_existing: int = 0
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (column, rule) -> rows


def read_csv(path: Path) -> pd.DataFrame:
    """Every cell as text, so a bad cell becomes a quarantine row instead of a parse failure."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError as error:
        raise IngestError(f"file not found: {path}. Give an existing CSV file.") from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise IngestError(
            f"cannot parse {path} as CSV ({type(error).__name__}: {error}). "
            "Check the delimiter, quoting and encoding (UTF-8 expected)."
        ) from error
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def _dtype_kind(column: pa.Column) -> str:
    """'i' int, 'f' float, 'b' bool, 'M' datetime, 'O' anything kept as text."""
    try:
        return np.dtype(column.dtype.type).kind if column.dtype is not None else "O"
    except TypeError:  # pandas extension dtypes (Int64, string, category)
        kind = getattr(column.dtype.type, "kind", "O")
        return "O" if kind == "U" else kind


def _coerce(raw: pd.DataFrame, schema: pa.DataFrameSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed frame plus one failure row per cell that misses its column's dtype or nullability."""
    typed = pd.DataFrame(index=raw.index)
    failures: list[pd.DataFrame] = []
    for name, column in schema.columns.items():
        if name not in raw.columns:
            continue
        text = raw[name].str.strip()
        kind = _dtype_kind(column)
        if kind in "iuf":
            values = pd.to_numeric(text, errors="coerce")
            bad = text.notna() & values.isna()
            if kind in "iu":
                bad |= values.notna() & (values != np.round(values))
        elif kind == "b":
            values = text.str.lower().map({"true": True, "false": False, "1": True, "0": False})
            bad = text.notna() & values.isna()
        elif kind == "M":
            aware = getattr(column.dtype, "tz", None) is not None
            values = pd.to_datetime(text, errors="coerce", format="mixed", utc=aware)
            bad = text.notna() & values.isna()
        else:
            values, bad = text, pd.Series(False, index=raw.index)
        if bad.any():
            failures.append(_failures(raw.loc[bad, name], name, f"dtype('{column.dtype}')"))
        missing = text.isna() & ~column.nullable
        if missing.any():
            failures.append(_failures(raw.loc[missing, name], name, "not_nullable"))
        typed[name] = values.where(~bad)
    return typed, pd.concat(failures) if failures else _failures(pd.Series(dtype=object), "", "")


def _failures(values: pd.Series, column: str, rule: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"index": values.index, "column": column, "value": values.to_numpy(dtype=object),
         "rule": rule}
    )


def _cast(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Clean rows into the schema's dtypes (an int column with gaps stays nullable Int64)."""
    out = frame.copy()
    for name, column in schema.columns.items():
        if name not in out.columns:
            continue
        kind = _dtype_kind(column)
        if kind in "iu" and out[name].isna().any():
            out[name] = out[name].astype("Int64")
        elif kind in "iufb":
            out[name] = out[name].astype(column.dtype.type)
    return out


def validate(raw: pd.DataFrame, schema: pa.DataFrameSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(good rows typed to the schema, failures: index/column/value/rule) — all checks, lazily."""
    missing = [
        name for name, column in schema.columns.items()
        if column.required and name not in raw.columns
    ]
    if missing:
        raise IngestError(
            f"missing required column(s): {', '.join(missing)}; found: {', '.join(raw.columns)}. "
            "Rename the header or map the file with a dataset adapter (--dataset)."
        )
    typed, failures = _coerce(raw, schema)
    candidates = _cast(typed.drop(index=failures["index"].unique()), schema)
    # Only the schema's columns reach the store; extra columns in a file are ignored.
    candidates = candidates[[c for c in schema.columns if c in candidates.columns]]
    try:
        schema.validate(candidates, lazy=True)
    except pa.errors.SchemaErrors as error:
        cases = error.failure_cases
        row_level = cases[cases["index"].notna()]
        if len(row_level) < len(cases):
            frame_level = cases[cases["index"].isna()]
            raise IngestError(
                "the file fails schema checks that are not about single rows: "
                + "; ".join(f"{c.column}: {c.check}" for c in frame_level.itertuples())
            ) from error
        failures = pd.concat([failures, pd.DataFrame({
            "index": row_level["index"].astype(int).to_numpy(),
            "column": row_level["column"].to_numpy(dtype=object),
            "value": row_level["failure_case"].map(_text).to_numpy(dtype=object),
            "rule": row_level["check"].to_numpy(dtype=object),
        })])
    good = candidates[~candidates.index.isin(failures["index"])]
    return good, failures.reset_index(drop=True)


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _existing_ids(engine: Engine, table: sa.Table, id_column: str, ids: pd.Series) -> set:
    found: set = set()
    values = ids.tolist()
    with engine.connect() as conn:
        for start in range(0, len(values), _ID_LOOKUP_SLICE):
            chunk = values[start:start + _ID_LOOKUP_SLICE]
            rows = conn.execute(sa.select(table.c[id_column]).where(table.c[id_column].in_(chunk)))
            found.update(row[0] for row in rows)
    return found


def _quarantine_frame(
    raw: pd.DataFrame, failures: pd.DataFrame, task: Task, run_id: int, source: str
) -> pd.DataFrame:
    bad = raw.loc[failures["index"].unique()].astype(object)
    records = bad.where(bad.notna(), None).to_dict(orient="index")
    payloads = {index: json.dumps(record, default=str) for index, record in records.items()}
    return pd.DataFrame({
        "task": task.name,
        "run_id": run_id,
        "source": source,
        # read_csv numbers data rows from 0; users count from 1 below the header.
        "row_number": failures["index"].astype(int) + 1,
        "column": failures["column"].replace("", None),
        "value": failures["value"].map(_text),
        "rule": failures["rule"],
        "payload": failures["index"].map(payloads),
        "created_at": datetime.now(UTC),
    })


def _as_text(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed frames (from adapters) go through the same text path as CSV cells."""
    return pd.DataFrame(
        {name: raw[name] if pd.api.types.is_string_dtype(raw[name])
         else raw[name].map(str, na_action="ignore").astype(object) for name in raw.columns},
        index=raw.index,
    )


def ingest(
    engine: Engine, task: Task, load: Callable[[], pd.DataFrame], *, source: str,
    params: dict | None = None,
) -> IngestResult:
    """Load, validate and write good rows + quarantine rows in one transaction.

    Rows whose id is already in the input table are skipped, so re-ingesting a file never
    duplicates (the ledger keys predictions by id: a corrected row needs a new id).
    A load that fails (unreadable file, missing columns) records a failed run, writes nothing.
    """
    table = ensure_task_table(engine, task)
    id_column = task.kind.key_columns()[0]
    schema, target = task.schema, getattr(task.kind, "target", None)
    if target in schema.columns:
        # Unlabelled rows are stored to be scored (the input table's target is nullable).
        schema = schema.update_column(target, nullable=True, required=False)
    with track_run(engine, task.name, "ingest", {"source": source, **(params or {})}) as run:
        raw = load()
        result = IngestResult(run_id=run.id, source=source, rows_read=len(raw))
        run.rows_in = len(raw)
        good, failures = validate(_as_text(raw), schema)
        existing = _existing_ids(engine, table, id_column, good[id_column]) if len(good) else set()
        if existing:
            keep = ~good[id_column].isin(existing)
            result.skipped_existing = int((~keep).sum())
            good = good[keep]
        result.accepted, result.quarantined = len(good), int(failures["index"].nunique())
        result.reasons = Counter(
            failures.drop_duplicates(["index", "column", "rule"])
            .groupby(["column", "rule"]).size().to_dict()
        )
        with engine.begin() as conn:
            if len(good):
                insert_frame(conn, table, good.assign(_run_id=run.id).reset_index(drop=True))
            if len(failures):
                rejected = _quarantine_frame(raw, failures, task, run.id, source)
                insert_frame(conn, quarantine, rejected)
        run.rows_out, run.rows_rejected = result.accepted, result.quarantined
    return result


def ingest_file(engine: Engine, task: Task, path: Path) -> IngestResult:
    """Ingest one CSV in the Task's schema."""
    return ingest(engine, task, lambda: read_csv(path), source=str(path))


def adapter_for(task: Task, path: Path) -> Dataset | None:
    """The Task's adapter that reads `path` by its suffix ("/" for a folder), if any."""
    suffix = "/" if path.is_dir() else path.suffix.lower()
    matches = [d for d in task.datasets.values() if suffix in d.suffixes]
    if len(matches) > 1:
        raise IngestError(
            f"{len(matches)} adapters of {task.name} read {suffix!r} files "
            f"({', '.join(d.name for d in matches)}): choose one with --dataset"
        )
    return matches[0] if matches else None


def ingest_dataset(
    engine: Engine, task: Task, dataset: Dataset, path: Path | None, **options: object
) -> IngestResult:
    """Ingest what an adapter reads from `path`; its load errors become IngestErrors."""
    if not dataset.conforms:
        raise IngestError(
            f"dataset {dataset.name!r} of {task.name} does not produce schema rows and cannot be "
            f"ingested; use it with `verticals train {task.name} --dataset {dataset.name}` or bench"
        )
    shown = "" if path is None else str(path)
    if dataset.private_paths and path is not None:
        shown = "sha256:" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    source = f"{dataset.name}:{shown}"

    def load() -> pd.DataFrame:
        try:
            return dataset.load(path, **options)
        except (ValueError, KeyError, OSError) as error:
            raise IngestError(f"{source}: {error}") from error

    return ingest(engine, task, load, source=source, params={"dataset": dataset.name})
