"""Throughput bench: end-to-end `score` of N generated rows vs the bare read, predict, write."""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from core import registry
from core.store.bulk import insert_frame, raw_read
from core.store.engine import ensure_task_table, make_engine, migrate
from core.store.runs import track_run
from core.store.schema import ROW_ID, metadata, predictions
from core.task import Task
from pipelines.score import score
from pipelines.train import train

TRAIN_ROWS = 20_000
# The ledger columns a score run writes (created_at and id come from the database).
OUTPUT_COLUMNS = ["task", "model_version_id", "run_id", "batch", "entity_key", "output",
                  "as_of", "step", "horizon", "score", "label", "lower", "upper", "payload",
                  "reasons"]


@contextmanager
def home_at(folder: str | Path) -> Iterator[None]:
    """VERTICALS_HOME set to `folder` meanwhile (the registry writes artifacts under home())."""
    saved = os.environ.get("VERTICALS_HOME")
    os.environ["VERTICALS_HOME"] = str(folder)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("VERTICALS_HOME", None)
        else:
            os.environ["VERTICALS_HOME"] = saved


def schema_url(url: str, schema: str) -> str:
    """`url` (PostgreSQL) with `schema` created if new and first on its search path."""
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        admin.dispose()
    return make_url(url).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@contextmanager
def migrated(url: str) -> Iterator[Engine]:
    """An engine on `url` with the store's migrations applied, disposed afterwards."""
    engine = make_engine(url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def fresh_store() -> Iterator[Engine]:
    """A throw-away store: SQLite in a temp VERTICALS_HOME, or a scratch schema of
    VERTICALS_DB_URL's PostgreSQL (dropped afterwards)."""
    with tempfile.TemporaryDirectory(prefix="verticals-bench-") as home, home_at(home):
        url = os.environ.get("VERTICALS_DB_URL", "")
        if not url.startswith("postgres"):
            with migrated(f"sqlite:///{Path(home) / 'verticals.db'}") as engine:
                yield engine
            return
        scratch = f"bench_{uuid.uuid4().hex[:10]}"
        try:
            with migrated(schema_url(url, scratch)) as engine:
                yield engine
        finally:
            admin = make_engine(url)
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{scratch}" CASCADE'))
            admin.dispose()


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = work()
    return time.perf_counter() - start, value


def _scored_columns(task: Task) -> list[str]:
    return task.kind.scoring_columns(task)


def bare_read(engine: Engine, task: Task, table: sa.Table) -> float:
    """cursor.execute + fetchall of the columns `score` reads, in the same order."""
    quote = engine.dialect.identifier_preparer.quote
    sql = (f"SELECT {', '.join(quote(c) for c in _scored_columns(task))} "
           f"FROM {quote(table.name)} ORDER BY {quote(ROW_ID)}")
    with engine.connect() as conn:
        seconds, rows = _timed(lambda: raw_read(conn, sql))
    assert rows, "the bench table is empty"
    return seconds


def bare_predict(engine: Engine, task: Task, frame: Any) -> float:
    """The champion model's probabilities + per-feature contributions on a ready NumPy array."""
    predictor = registry.load_predictor(engine, task)
    model = predictor.model
    array = model.to_array(task.feature_frame(frame[_scored_columns(task)]))
    seconds, _ = _timed(lambda: model.explain_array(array))
    return seconds


def _scratch_table(engine: Engine) -> sa.Table:
    """A copy of the ledger (same columns, keys, indexes) to write the bare rows into."""
    scratch_metadata = sa.MetaData()
    for name in ("pipeline_runs", "model_versions"):  # targets of the ledger's foreign keys
        metadata.tables[name].to_metadata(scratch_metadata)
    table = predictions.to_metadata(scratch_metadata, name="bench_predictions")
    for item in [*table.indexes, *table.constraints]:
        if item.name:
            item.name = f"bench_{item.name}"
    table.create(engine)
    return table


def bare_write(engine: Engine) -> float:
    """executemany (SQLite) / COPY (PostgreSQL) of the ledger rows into a copy of the ledger."""
    quote = engine.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in OUTPUT_COLUMNS)
    with engine.connect() as conn:
        rows = raw_read(conn, f"SELECT {names} FROM predictions ORDER BY id")
    table = _scratch_table(engine)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        start = time.perf_counter()
        if engine.dialect.name == "sqlite":
            marks = ", ".join("?" for _ in OUTPUT_COLUMNS)
            cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
        else:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(rows)
            # csv writes None and '' alike: the primary output '' must not read back as NULL.
            options = f"FORMAT csv, FORCE_NOT_NULL ({quote('output')})"
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN WITH ({options})") as copy:
                copy.write(buffer.getvalue())
        raw.commit()
        seconds = time.perf_counter() - start
        cursor.close()
    finally:
        raw.close()
    return seconds


def throughput(
    task: Task, *, rows: int = 1_000_000, seed: int = 0, chunk_size: int = 100_000,
    train_rows: int = TRAIN_ROWS, model: str | None = "lightgbm",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Generate `rows` applications into a fresh store, train, then time score vs its bare parts."""
    with fresh_store() as engine:
        log(f"generating {rows:,} rows with {task.name}'s sample generator")
        frame = task.sample(rows, seed)
        table = ensure_task_table(engine, task)
        log("bulk-loading them into a fresh store")
        with track_run(engine, task.name, "ingest", {"source": "throughput", "rows": rows}) as run:
            with engine.begin() as conn:
                run.rows_in = run.rows_out = insert_frame(conn, table, frame.assign(_run_id=run.id))
        labelled = frame.head(min(train_rows, rows))
        models = (model,) if model in task.candidates() else None
        log(f"training {', '.join(models or task.candidates())} on {len(labelled):,} rows (quick)")
        trained = train(engine, task, profile="quick", seed=seed, models=models, frame=labelled,
                        dataset=f"throughput:{rows}")
        log("scoring end to end")
        end_to_end_s, result = _timed(lambda: score(engine, task, chunk_size=chunk_size))
        if result.rows != rows:
            raise RuntimeError(f"score wrote {result.rows} predictions for {rows} rows")
        log("timing the bare read, predict and write")
        read_s = bare_read(engine, task, table)
        predict_s = bare_predict(engine, task, frame)
        write_s = bare_write(engine)
        dialect = engine.dialect.name
    return {
        "task": task.name, "benchmark": "throughput", "rows": rows,
        "rows_per_s": round(rows / end_to_end_s, 1), "end_to_end_s": round(end_to_end_s, 3),
        "read_s": round(read_s, 3), "predict_s": round(predict_s, 3),
        "write_s": round(write_s, 3),
        "ratio": round(float(np.sum([read_s, predict_s, write_s])) / end_to_end_s, 3),
        "dialect": dialect, "model": trained.champion.model, "chunk_size": chunk_size,
    }
