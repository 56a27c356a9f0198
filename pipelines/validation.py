"""Reading and validating input rows, before any store is touched: a CSV read cell by cell
as text, and rows checked against a Task's schema (typed good rows, one failure row per bad
cell). pipelines/ingest.py quarantines the failures and writes the good rows."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa


class IngestError(RuntimeError):
    """The input as a whole cannot be ingested (unreadable file, missing columns)."""


def read_csv(path: Path) -> pd.DataFrame:
    """Every cell as text, so a bad cell becomes a quarantine row instead of a parse failure.

    Clean files take pandas' fast parser. A file with a NUL byte (pandas' parser would cut
    `45\\x007` to `45`) or with rows longer than the header (it refuses the whole file) is
    read record by record instead: each NUL stays in its cell (validate quarantines it, rule
    `nul_byte`) and each long row keeps its header's fields plus a note in EXTRA_FIELDS
    naming its line (validate quarantines it, rule `extra_fields`).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise IngestError(f"file not found: {path}. Give an existing CSV file.") from error
    except IsADirectoryError as error:
        raise IngestError(f"{path} is a folder, not a CSV file: give one CSV file, or a "
                          "dataset adapter that reads folders (--dataset)") from error
    except PermissionError as error:
        raise IngestError(f"cannot read {path}: permission denied. Check the file's "
                          "permissions.") from error
    try:
        if b"\x00" in data:
            frame = _read_records(path, data)
        else:
            try:
                frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False,
                                    na_values=[""])
            except pd.errors.ParserError:  # a long row, or bad quoting: the record reader says
                frame = _read_records(path, data)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            csv.Error) as error:
        raise IngestError(
            f"cannot parse {path} as CSV ({type(error).__name__}: {error}). "
            "Check the delimiter, quoting and encoding (UTF-8 expected)."
        ) from error
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


# The column read_csv adds for rows with more fields than the header: what was wrong, where.
EXTRA_FIELDS = "__extra_fields__"


def _read_records(path: Path, data: bytes) -> pd.DataFrame:
    """The CSV record by record (Python's csv module keeps NUL bytes and counts lines)."""
    text = data.decode("utf-8-sig")
    # A field can be as long as the file (a base64 image); the module's default stops at 128 KiB.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration as error:
        raise pd.errors.EmptyDataError("No columns to parse from file") from error
    width, rows, notes, line = len(header), [], [], reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise csv.Error(f"line {line + 1}: {error}") from error
        first, line = line + 1, reader.line_num
        if not record:  # a blank line, skipped as pandas skips it
            continue
        extra = record[width:]
        notes.append(None if not extra else (
            f"line {first} of {path.name} has {len(record)} fields where the header has {width} "
            f"(extra: {', '.join(repr(value) for value in extra[:5])}"
            f"{', …' if len(extra) > 5 else ''}); quote the values that hold commas, or remove "
            "the extra separators"))
        rows.append(record[:width] + [""] * (width - len(record)))
    frame = pd.DataFrame(rows, columns=_unique(header), dtype=object).replace("", None)
    frame = frame.astype("str")
    if any(notes):
        frame[EXTRA_FIELDS] = pd.Series(notes, index=frame.index, dtype="str")
    return frame


def _unique(header: list[str]) -> list[str]:
    """Repeated names numbered as pandas' parser numbers them (a, a.1, a.2)."""
    seen: Counter[str] = Counter()
    names = []
    for name in header:
        names.append(name if not seen[name] else f"{name}.{seen[name]}")
        seen[name] += 1
    return names


def _dtype_kind(column: pa.Column) -> str:
    """'i' int, 'f' float, 'b' bool, 'M' datetime, 'O' anything kept as text."""
    try:
        return np.dtype(column.dtype.type).kind if column.dtype is not None else "O"
    except TypeError:  # pandas extension dtypes (Int64, string, category) carry their own code
        code = pd.api.types.pandas_dtype(column.dtype.type).kind
        return "O" if code == "U" else code


# Generic rules of single cells, whatever the Task (a schema's checks add its own).
NUL_BYTE, FINITE, EXTRA_FIELDS_RULE = "nul_byte", "finite", "extra_fields"
# A UTC offset or "Z" after a time of day (2015-01-02 00:00:00-05:00, 2024-03-01T09:30Z).
_OFFSET = r"(?<=\d\d:\d\d)(?P<seconds>:\d\d(?:\.\d+)?)?\s*(?:Z|UTC|GMT|[+-]\d\d(?::?\d\d)?)$"


def _coerce(raw: pd.DataFrame, schema: pa.DataFrameSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed frame plus one failure row per cell that misses its column's dtype or nullability.

    Generic rules: a cell holding a NUL byte fails `nul_byte` (shown as \\x00; never cut);
    inf/-inf in a number column fails `finite`; a row read_csv found longer than its header
    fails `extra_fields`. A naive date column keeps the wall-clock time as written and drops a
    UTC offset (2024-03-01T00:00+02:00 is 2024-03-01 00:00); a date the column's dtype cannot
    hold (year 1500 or 9999 in nanoseconds) fails the column's own check that rejects it (its
    date window, say), else its dtype.
    """
    typed = pd.DataFrame(index=raw.index)
    failures: list[pd.DataFrame] = []
    if EXTRA_FIELDS in raw.columns:
        noted = raw[EXTRA_FIELDS].notna()
        failures.append(failure_rows(raw.loc[noted, EXTRA_FIELDS], "", EXTRA_FIELDS_RULE))
    for name, column in schema.columns.items():
        if name not in raw.columns:
            continue
        text = raw[name].str.strip()
        nul = text.str.contains("\x00", regex=False, na=False)
        if nul.any():
            escaped = raw.loc[nul, name].str.replace("\x00", "\\x00", regex=False)
            failures.append(failure_rows(escaped, name, NUL_BYTE))
        clean = text.where(~nul)
        kind = _dtype_kind(column)
        shown = pd.Series(True, index=raw.index)  # cells whose failure is their dtype
        if kind in "iuf":
            values = pd.to_numeric(clean, errors="coerce")
            bad = clean.notna() & values.isna()
            infinite = pd.Series(np.isinf(values.to_numpy(dtype=float)), index=raw.index)
            if infinite.any():
                failures.append(failure_rows(raw.loc[infinite, name], name, FINITE))
            if kind in "iu":  # beyond int64 the cast would wrap around or fail
                finite = values.notna() & ~infinite
                bad |= finite & ((values != np.round(values)) | (values.abs() >= 2.0**63))
            bad, shown = bad | infinite, ~infinite
        elif kind == "b":
            values = clean.str.lower().map({"true": True, "false": False, "1": True, "0": False})
            bad = clean.notna() & values.isna()
        elif kind == "M":
            values, bad, unheld = _dates(clean, column)
            failures += _unheld_failures(raw.loc[unheld, name], values[unheld], column)
            bad, shown = bad | unheld, ~unheld
        else:
            values, bad = clean, pd.Series(False, index=raw.index)
        if (bad & shown).any():
            failures.append(failure_rows(raw.loc[bad & shown, name], name,
                                         f"dtype('{column.dtype}')"))
        missing = text.isna() & ~column.nullable
        if missing.any():
            failures.append(failure_rows(raw.loc[missing, name], name, "not_nullable"))
        typed[name] = values.where(~bad & ~nul)
    return typed, pd.concat(failures) if failures else failure_rows(pd.Series(dtype=object), "", "")


def _dates(text: pd.Series, column: pa.Column) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(parsed values, unparseable cells, cells outside what the column's dtype holds)."""
    aware = getattr(column.dtype, "tz", None) is not None
    if not aware:  # the wall-clock time as written; an offset would make pandas mix zones
        text = text.str.replace(_OFFSET, lambda match: match.group("seconds") or "", regex=True)
    try:
        values = pd.to_datetime(text, errors="coerce", format="mixed", utc=aware)
    except ValueError:  # zones pandas cannot mix even so ("EST"): such cells fail their dtype
        values = pd.to_datetime(text.map(_naive_date, na_action="ignore"), errors="coerce")
    bad = text.notna() & values.isna()
    unit = column.dtype.type.unit if aware else np.datetime_data(np.dtype(column.dtype.type))[0]
    if unit != "ns":
        return values, bad, pd.Series(False, index=text.index)
    low, high = pd.Timestamp.min.ceil("us"), pd.Timestamp.max.floor("us")
    if aware:
        low, high = low.tz_localize("UTC"), high.tz_localize("UTC")
    return values, bad, values.notna() & ((values < low) | (values > high))


def _naive_date(text: str) -> pd.Timestamp:
    value = pd.to_datetime(text, errors="coerce")
    return pd.NaT if pd.isna(value) or value.tzinfo is not None else value


def _unheld_failures(raw: pd.Series, values: pd.Series, column: pa.Column) -> list[pd.DataFrame]:
    """Dates the column's dtype cannot hold, each under the column's first check it fails
    (a window such as in_range(1900-01-01, today + 7 days)), else under its dtype."""
    found, pending = [], values
    for check in column.checks:
        if pending.empty:
            break
        passed = pd.Series(check(pending).check_output, index=pending.index)
        failing = passed.index[~passed.astype(bool)]
        if len(failing):
            found.append(failure_rows(raw.loc[failing], column.name, check.error or check.name))
            pending = pending.drop(failing)
    if len(pending):
        found.append(failure_rows(raw.loc[pending.index], column.name,
                               f"dtype('{column.dtype}')"))
    return found


def failure_rows(values: pd.Series, column: str, rule: str) -> pd.DataFrame:
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
        elif kind == "M" and getattr(column.dtype, "tz", None) is not None:
            # pandas parses text to microseconds; pandera checks a tz-aware dtype's unit exactly.
            out[name] = out[name].dt.as_unit(column.dtype.type.unit)
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
            "value": row_level["failure_case"].map(cell_text).to_numpy(dtype=object),
            "rule": row_level["check"].to_numpy(dtype=object),
        })])
    good = candidates[~candidates.index.isin(failures["index"])]
    return good, failures.reset_index(drop=True)


def cell_text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
