"""Ingest: raw rows validated against a Task's schema (pipelines/validation.py), bad rows to
quarantine, good ones written to the store once per key, in one transaction."""

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

from core.store.bulk import insert_frame, refresh_statistics
from core.store.dataset_attrs import encode, write_attrs
from core.store.engine import ensure_task_table, read_task_frame
from core.store.runs import fit_width, heartbeat, track_run
from core.store.schema import UTCDateTime, audit_log, predictions, quarantine, work_orders
from core.task import Dataset, Task
from pipelines.quality import hold_if_poor
from pipelines.validation import IngestError, cell_text, failure_rows, read_csv, validate

# Existing-key look-ups go in slices of entity values, so no statement grows with the file.
_KEY_LOOKUP_SLICE = 5000
# The quarantine rule of a later copy of a key already seen in the same file.
DUPLICATE_KEY = "duplicate_key"


@dataclass
class IngestResult:
    """What one ingest run did, for the summary table and the tests."""

    run_id: int
    source: str
    rows_read: int = 0
    accepted: int = 0  # new rows written to the input table
    quarantined: int = 0  # rows (a row failing several checks counts once), duplicates included
    skipped_existing: int = 0  # valid rows whose key is already in the store ("already in store")
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (column, rule) -> rows
    key: tuple[str, ...] = ()  # the columns rows are deduplicated on (Kind.key_columns())
    held: str | None = None  # why the data-quality gate held the batch back from scoring
    attrs: list[str] = field(default_factory=list)  # dataset attributes stored (changed ones)


def identifier_widths(task: Task) -> dict[str, int]:
    """Schema columns whose values the store keeps in a column of bounded width, and that
    width: the Kind's entity becomes the ledger's (and work orders', audit log's) entity_key.
    SQLite ignores widths and PostgreSQL refuses the row mid-score, so ingest checks them."""
    entity = task.kind.entity
    if entity not in task.schema.columns:
        return {}
    widths = [c.type.length for c in (predictions.c.entity_key, work_orders.c.entity_key,
                                      audit_log.c.entity_key)]
    return {entity: min(widths)}


def _shown(value: str, width: int = 60) -> str:
    """A long value as quarantine shows it: its start and its length (the payload keeps it)."""
    return value if len(value) <= width else f"{value[:width]}… ({len(value)} characters)"


def _width_failures(good: pd.DataFrame, task: Task) -> pd.DataFrame:
    """One failure per cell longer than the store column it feeds: rule `too_long(<n>)`."""
    found = []
    for name, width in identifier_widths(task).items():
        if name not in good.columns:
            continue
        values = good[name].dropna().map(str)
        long = values[values.str.len() > width]
        if len(long):
            found.append(failure_rows(long.map(_shown), name, f"too_long({width})"))
    return pd.concat(found) if found else failure_rows(pd.Series(dtype=object), "", "")


def _key_columns(task: Task) -> tuple[str, ...]:
    """The columns unique together in the Task's input table (as `schema.task_table` builds it)."""
    return tuple(key for key in task.kind.key_columns() if key in task.schema.columns)


def _ingest_schema(task: Task) -> pa.DataFrameSchema:
    """The schema rows are validated against on ingest.

    Label columns are optional (unlabelled rows are stored to be scored; the input table's
    labels are nullable), except a label the Kind scores from (a forecast's target is its
    history: a file without it would store rows with nothing to forecast). A uniqueness
    check implied by the key is left to ingest itself: pandera would reject every copy of a
    repeated key, ingest keeps the first valid one.
    """
    schema, keys = task.schema, set(_key_columns(task))
    history = set(task.kind.scoring_columns(task))
    updates: dict[str, dict[str, object]] = {
        label: {"nullable": True, "required": label in history}
        for label in task.kind.label_columns if label in schema.columns
    }
    for name, column in schema.columns.items():
        if column.unique and keys and keys <= {name}:
            updates.setdefault(name, {})["unique"] = False
    relaxed = schema.update_columns(updates)  # a copy: the Task's schema is never changed
    if relaxed.unique and keys and keys <= set(relaxed.unique):
        relaxed.unique = None
    return relaxed


def _normalised(values: pd.Series, sql: sa.types.TypeEngine) -> pd.Series:
    """Key values in one comparable form whichever side they come from: the file's typed rows,
    or the store (SQLite gives datetimes back as text, PostgreSQL as datetimes)."""
    if isinstance(sql, UTCDateTime):
        return pd.to_datetime(values, utc=True, format="ISO8601").astype("datetime64[us, UTC]")
    if isinstance(sql, sa.DateTime | sa.Date):
        return pd.to_datetime(values, format="ISO8601").astype("datetime64[us]")
    if isinstance(sql, sa.Integer):
        return pd.to_numeric(values).astype("Int64")
    if isinstance(sql, sa.Float):
        return pd.to_numeric(values).astype("float64")
    if isinstance(sql, sa.Boolean):
        return values.astype("boolean")
    return values.astype("str")


def _key_index(frame: pd.DataFrame, table: sa.Table, keys: tuple[str, ...]) -> pd.Index:
    columns = [_normalised(frame[key].reset_index(drop=True), table.c[key].type) for key in keys]
    if len(columns) == 1:
        return pd.Index(columns[0], name=keys[0])
    return pd.MultiIndex.from_arrays(columns, names=list(keys))


def _bound(value: object, upper: bool) -> object:
    """A plain Python value for the statement; timestamps widened to the stores' microseconds."""
    if isinstance(value, pd.Timestamp):
        value = value.ceil("us") if upper else value.floor("us")
        return value.to_pydatetime()
    return value.item() if isinstance(value, np.generic) else value


def _stored_keys(
    engine: Engine, task: Task, table: sa.Table, keys: tuple[str, ...], rows: pd.DataFrame
) -> pd.Index:
    """The keys of `rows` already in the input table, normalised like `_key_index`.

    Read by slices of the file's entity values, each narrowed to the slice's range of the
    other key columns (a series' new days read only its overlapping stored days); the exact
    tuples are then matched in pandas.
    """
    entity = task.kind.entity if task.kind.entity in keys else keys[0]
    others = [key for key in keys if key != entity]
    present = rows.dropna(subset=list(keys))
    entities = pd.Series(present[entity].unique()).tolist()
    spans = present.groupby(entity, sort=False)[others].agg(["min", "max"]) if others else None
    found = []
    with engine.connect() as conn:
        for start in range(0, len(entities), _KEY_LOOKUP_SLICE):
            chunk = entities[start:start + _KEY_LOOKUP_SLICE]
            clauses = [table.c[entity].in_(chunk)]
            if spans is not None:
                span = spans.loc[chunk]
                clauses += [table.c[key].between(_bound(span[(key, "min")].min(), upper=False),
                                                 _bound(span[(key, "max")].max(), upper=True))
                            for key in others]
            found.append(read_task_frame(conn, task, where=sa.and_(*clauses), columns=list(keys)))
    stored = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=list(keys))
    return _key_index(stored, table, keys)


def _duplicate_failures(
    raw: pd.DataFrame, good: pd.DataFrame, duplicated: np.ndarray, keys: tuple[str, ...]
) -> pd.DataFrame:
    """One row-wide failure per later copy of a key: the value is the key as written."""
    later = good.index[duplicated]
    text = raw.loc[later, list(keys)].astype(object)
    values = text.apply(lambda row: ", ".join(str(value) for value in row), axis=1)
    return failure_rows(pd.Series(values.to_numpy(dtype=object), index=later), "",
                     f"{DUPLICATE_KEY}({', '.join(keys)})")


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
        "value": failures["value"].map(cell_text),
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

    Rows are deduplicated on the whole key (`Kind.key_columns()`: the id, or series + time):
    a valid row whose key is already in the input table is skipped ("already in store"), so
    new rows of a known series are accepted and re-ingesting a file never duplicates (the
    ledger keys predictions by key: a corrected row needs a new key). Of several valid rows
    with one new key in the same file the first is written and the later ones are
    quarantined (rule `duplicate_key(<key columns>)`).
    A load that fails (unreadable file, missing columns) records a failed run, writes nothing.
    """
    table = ensure_task_table(engine, task)
    keys, schema = _key_columns(task), _ingest_schema(task)
    # The source as stored (quarantine.source is 500 characters): a long path is digested.
    source = fit_width(source, quarantine.c.source.type.length)
    with track_run(engine, task, "ingest", {"source": source, **(params or {})}) as run:
        raw = load()
        for name in task.kind.frame_attrs:  # refused before anything is written
            if name in raw.attrs:
                try:
                    encode(name, raw.attrs[name])
                except ValueError as error:
                    raise IngestError(f"{source}: {error}") from error
        result = IngestResult(run_id=run.id, source=source, rows_read=len(raw), key=keys)
        run.rows_in = len(raw)
        text = _as_text(raw)
        try:
            good, failures = validate(text, schema)
        except IngestError as error:  # the file as a whole: say which one
            raise IngestError(f"{source}: {error}") from error
        too_long = _width_failures(good, task)
        if len(too_long):
            failures = pd.concat([failures, too_long], ignore_index=True)
            good = good.drop(index=too_long["index"].unique())
        heartbeat(engine, run)  # validated: the write comes next
        if keys and len(good):
            index = _key_index(good, table, keys)
            known = np.asarray(index.isin(_stored_keys(engine, task, table, keys, good)))
            result.skipped_existing = int(known.sum())
            good, index = good[~known], index[~known]
            # Rows with a missing key part are not duplicates (SQL's unique allows NULLs).
            complete = good[list(keys)].notna().all(axis=1).to_numpy()
            duplicated = np.asarray(index.duplicated(keep="first")) & complete
            if duplicated.any():
                failures = pd.concat([failures, _duplicate_failures(text, good, duplicated, keys)],
                                     ignore_index=True)
                good = good[~duplicated]
        result.accepted, result.quarantined = len(good), int(failures["index"].nunique())
        result.reasons = Counter(
            failures.drop_duplicates(["index", "column", "rule"])
            .groupby(["column", "rule"]).size().to_dict()
        )
        with engine.begin() as conn:
            if len(good):
                insert_frame(conn, table, good.assign(_run_id=run.id).reset_index(drop=True))
            # The dataset's own attributes (a graph's adjacency) commit with its rows.
            result.attrs = write_attrs(conn, task.name, raw.attrs, task.kind.frame_attrs, run.id)
            result.held = hold_if_poor(conn, task, run.id, len(raw), result.quarantined, good)
            if len(failures):
                rejected = _quarantine_frame(raw, failures, task, run.id, source)
                insert_frame(conn, quarantine, rejected)
        run.rows_out, run.rows_rejected = result.accepted, result.quarantined
        if result.accepted:  # score's reads plan on the input table's statistics
            refresh_statistics(engine, [table])
    return result


def attrs_path(path: Path) -> Path:
    """Where a schema CSV keeps its dataset attributes (the Kind's `frame_attrs`, e.g. a
    graph's adjacency): FILE.attrs.json beside it (`verticals sample` writes it)."""
    return path.with_name(path.stem + ".attrs.json")


def read_attrs(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """The Kind's `names` from the CSV's attrs file, {} when there is none."""
    side = attrs_path(path)
    if not names or not side.is_file():
        return {}
    try:
        given = json.loads(side.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise IngestError(f"{side}: not valid JSON ({error}); it holds the dataset attributes "
                          f"{list(names)} of {path.name}: fix or remove it") from error
    if not isinstance(given, dict):
        raise IngestError(f"{side}: expected a JSON object of {list(names)}, got "
                          f"{type(given).__name__}")
    return {name: given[name] for name in names if name in given}


def ingest_file(engine: Engine, task: Task, path: Path,
                params: dict | None = None) -> IngestResult:
    """Ingest one CSV in the Task's schema (with its FILE.attrs.json, if any); `params` join
    the run's recorded parameters (the demo marks its samples {"synthetic": true})."""
    def load() -> pd.DataFrame:
        frame = read_csv(path)
        frame.attrs.update(read_attrs(path, task.kind.frame_attrs))
        return frame

    return ingest(engine, task, load, source=str(path), params=params)


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


def dataset_source(dataset: Dataset, path: Path | None) -> str:
    """How runs and versions name an adapter's input: "<adapter>:<path>", the path digested
    when the adapter's paths may name a person (a patient's DICOM folder)."""
    shown = "" if path is None else str(path)
    if dataset.private_paths and path is not None:
        shown = "sha256:" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return f"{dataset.name}:{shown}"


def ingest_dataset(
    engine: Engine, task: Task, dataset: Dataset, path: Path | None, **options: object
) -> IngestResult:
    """Ingest what an adapter reads from `path`; its load errors become IngestErrors."""
    if not dataset.conforms:
        raise IngestError(
            f"dataset {dataset.name!r} of {task.name} does not produce schema rows and cannot be "
            f"ingested; use it with `verticals train {task.name} --dataset {dataset.name}` or bench"
        )
    source = dataset_source(dataset, path)

    def load() -> pd.DataFrame:
        try:
            return dataset.load(path, **options)
        except (ValueError, KeyError, OSError) as error:
            raise IngestError(f"{source}: {error}") from error

    return ingest(engine, task, load, source=source, params={"dataset": dataset.name})
