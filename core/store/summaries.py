"""Summaries written once per scored batch and read by the dashboards instead of a scan.

`score` rewrites a batch's `score_bins` (from the ledger rows it just wrote, in SQL) and its
`profile_counts` (from the input rows it just scored) inside the batch's own transaction, so the
predictions tab and PSI by month read a few hundred rows at a million predictions. Every reader
first checks that the summary covers the ledger (covers(): each version's newest batch is
summarised, an index lookup; profile counts add up to the version's scored rows) and otherwise
runs the scan of core/store/queries.py or input_queries.py: rows written by another path, or a
store scored before revision 0008 and not re-scored since, still show the right numbers, only
slower.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.kinds.base import PRIMARY_OUTPUT
from core.monitor import OTHER
from core.store import input_queries, queries
from core.store.bulk import insert_frame
from core.store.queries import bin_index
from core.store.schema import (
    model_versions,
    predictions,
    profile_counts,
    score_bins,
)

# The predictions tab's histogram of a probability: 25 equal bins of [0, 1] (its np.linspace).
SCORE_BINS = 25
SCORE_EDGES = [float(v) for v in np.linspace(0.0, 1.0, SCORE_BINS + 1)]
OUTSIDE, NO_SCORE = -1, -2  # score_bins.bin of a score outside [0, 1], and of no score
PROFILE_COLUMNS = ["month", "feature", "bucket", "rows"]
BIN_COLUMNS = ["task", "model_version_id", "output", "batch", "label", "bin", "rows",
               "score_sum", "score_min", "score_max"]


def score_bin(score: sa.ColumnElement[float]) -> sa.ColumnElement[int]:
    """score_bins.bin of a ledger score (bin_index over SCORE_EDGES inside [0, 1])."""
    return sa.case((score.is_(None), NO_SCORE), ((score < 0) | (score > 1), OUTSIDE),
                   else_=bin_index(score, SCORE_EDGES))


# --- writing: `score`, inside each batch's transaction -------------------------------------


def refresh_score_bins(conn: sa.Connection, task: str, model_version_id: int,
                       batches: Iterable[int]) -> None:
    """Recount the ledger rows of these batches of a version into score_bins (delete, then one
    GROUP BY over the batches' rows on the ledger's (task, version, batch) index): a partly
    scored batch resumed, or one re-scored with --force, is counted once."""
    chosen = sorted(set(batches))
    if not chosen:
        return
    conn.execute(score_bins.delete().where(
        score_bins.c.task == task, score_bins.c.model_version_id == model_version_id,
        score_bins.c.batch.in_(chosen)))
    index = score_bin(predictions.c.score)
    keys = (predictions.c.task, predictions.c.model_version_id, predictions.c.output,
            predictions.c.batch, predictions.c.label, index)
    summary = (sa.select(*keys, sa.func.count(), sa.func.sum(predictions.c.score),
                         sa.func.min(predictions.c.score), sa.func.max(predictions.c.score))
               .where(predictions.c.task == task,
                      predictions.c.model_version_id == model_version_id,
                      predictions.c.batch.in_(chosen))
               .group_by(*keys)
               # SQLite would walk the score index over the whole version (it covers the
               # GROUP BY's output): 5 s a batch at a million rows instead of 0.2 s.
               .with_hint(predictions, "INDEXED BY ix_predictions_task_version_batch", "sqlite"))
    conn.execute(score_bins.insert().from_select(BIN_COLUMNS, summary))


def add_score_bins(conn: sa.Connection, task: str, model_version_id: int, batch: int,
                   ledger: pd.DataFrame) -> None:
    """Count ledger rows just inserted into `batch` (none of them replacing a stored row) into
    score_bins beside the batch's earlier rows, from the frame: no read of the ledger."""
    if not len(ledger):
        return
    scores = pd.to_numeric(ledger["score"], errors="coerce").to_numpy(dtype=float,
                                                                       na_value=np.nan)
    # bin_index: the number of inner edges at or below the score (the last bin closed).
    bins = np.searchsorted(np.asarray(SCORE_EDGES[1:-1]), scores, side="right")
    bins = np.where(np.isnan(scores), NO_SCORE,
                    np.where((scores < 0) | (scores > 1), OUTSIDE, bins))
    labels = ledger["label"].astype(object).where(ledger["label"].notna(), None)
    frame = pd.DataFrame({"output": ledger["output"].to_numpy(), "label": labels.to_numpy(),
                          "bin": bins, "score": scores})
    grouped = frame.groupby(["output", "label", "bin"], dropna=False, sort=False)["score"]
    counts = grouped.agg(["size", "sum", "min", "max"]).reset_index()
    has_score = counts["bin"] != NO_SCORE
    insert_frame(conn, score_bins, pd.DataFrame({
        "task": task, "model_version_id": model_version_id, "output": counts["output"],
        "batch": batch, "label": counts["label"].astype(object).where(counts["label"].notna(),
                                                                      None),
        "bin": counts["bin"].astype("int64"), "rows": counts["size"].astype("int64"),
        "score_sum": counts["sum"].where(has_score), "score_min": counts["min"],
        "score_max": counts["max"]}))


def _month_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Per row the position of its 'YYYY-MM' in the returned months (-1: no date)."""
    stamps = pd.to_datetime(series, errors="coerce")
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):  # a UTC column: its UTC month
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    periods = stamps.dt.year * 100 + stamps.dt.month
    codes, uniques = pd.factorize(periods, use_na_sentinel=True)
    return codes, [f"{int(v) // 100:04d}-{int(v) % 100:02d}" for v in uniques]


def _buckets(series: pd.Series, entry: Mapping[str, Any]) -> np.ndarray:
    """Per row its core.monitor profile bucket (psi()'s own rules, row by row)."""
    if entry["kind"] == "numeric":
        edges = np.asarray(entry["edges"], dtype=float)
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        buckets = np.searchsorted(edges, values, side="left")
        return np.where(np.isnan(values), len(edges) + 1, buckets)
    categories = list(entry["categories"])
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    slots = pd.Index(categories, dtype="object").get_indexer(
        pd.Index([str(u) for u in uniques], dtype="object"))
    slots = np.where(slots < 0, len(categories), slots)  # other
    return np.where(codes < 0, len(categories) + 1, slots[np.maximum(codes, 0)] if len(slots)
                    else len(categories) + 1)


def profile_rows(frame: pd.DataFrame, reference: Mapping[str, Any],
                 period_column: str) -> pd.DataFrame:
    """Rows of `frame` per (month of `period_column`, profiled feature, bucket of the
    reference): what PSI by month sums. Features of the reference the frame lacks (derived
    ones) are left out, as the page leaves them out."""
    if not len(frame) or period_column not in frame.columns:
        return pd.DataFrame(columns=PROFILE_COLUMNS)
    months, names = _month_codes(frame[period_column])
    parts = []
    for feature, entry in reference.items():
        if feature not in frame.columns:
            continue
        buckets = _buckets(frame[feature], entry).astype(np.int64)
        width = len(entry.get("edges", entry.get("categories", []))) + 2
        combined, rows = np.unique((months.astype(np.int64) + 1) * width + buckets,
                                   return_counts=True)
        month_of = combined // width - 1
        parts.append(pd.DataFrame({
            "month": [names[m] if m >= 0 else None for m in month_of], "feature": feature,
            "bucket": combined % width, "rows": rows}))
    if not parts:
        return pd.DataFrame(columns=PROFILE_COLUMNS)
    rows = pd.concat(parts, ignore_index=True)[PROFILE_COLUMNS]
    rows["month"] = rows["month"].astype(object).where(rows["month"].notna(), None)
    return rows


def write_profile_counts(conn: sa.Connection, task: str, model_version_id: int, *,
                         run_id: int | None, batch: int, period_column: str,
                         counts: pd.DataFrame, replace: bool) -> None:
    """Store one scored batch's profile_rows. `replace` (the batch's earlier predictions were
    deleted: --force, a backfill) drops every earlier run's rows of the batch; otherwise only
    this run's (a resumed run scores only the rows an earlier run left, counted apart)."""
    mine = [profile_counts.c.task == task, profile_counts.c.model_version_id == model_version_id,
            profile_counts.c.batch == batch]
    if not replace:
        mine.append(profile_counts.c.run_id.is_(None) if run_id is None
                    else profile_counts.c.run_id == run_id)
    conn.execute(profile_counts.delete().where(*mine))
    if len(counts):
        insert_frame(conn, profile_counts, counts.assign(
            task=task, model_version_id=model_version_id, run_id=run_id, batch=batch,
            period_column=period_column))


def profile_gaps(conn: sa.Connection, task: str, model_version_id: int,
                 period_column: str) -> list[int]:
    """Batches of a version whose primary-output ledger rows (score_bins) and counted input
    rows (profile_counts, per feature) differ: scored before revision 0008, or not counted."""
    scored = dict(conn.execute(
        sa.select(score_bins.c.batch, sa.func.sum(score_bins.c.rows))
        .where(score_bins.c.task == task, score_bins.c.model_version_id == model_version_id,
               score_bins.c.output == PRIMARY_OUTPUT)
        .group_by(score_bins.c.batch)).all())
    per_feature = (
        sa.select(profile_counts.c.batch, sa.func.sum(profile_counts.c.rows).label("rows"))
        .where(profile_counts.c.task == task,
               profile_counts.c.model_version_id == model_version_id,
               profile_counts.c.period_column == period_column)
        .group_by(profile_counts.c.batch, profile_counts.c.feature).subquery())
    counted = dict(conn.execute(sa.select(per_feature.c.batch, sa.func.min(per_feature.c.rows))
                                .group_by(per_feature.c.batch)).all())
    return sorted(b for b in set(scored) | set(counted) if scored.get(b) != counted.get(b))


# --- reading: the dashboards' named queries ------------------------------------------------


def _ledger_count(conn: sa.Connection, task: str, model_version_id: int | None) -> int:
    where = [predictions.c.task == task]
    if model_version_id is not None:
        where.append(predictions.c.model_version_id == model_version_id)
    return conn.execute(sa.select(sa.func.count()).select_from(predictions)
                        .where(*where)).scalar_one()


def _bins_of(task: str, model_version_id: int | None) -> list[sa.ColumnElement[bool]]:
    where = [score_bins.c.task == task]
    if model_version_id is not None:
        where.append(score_bins.c.model_version_id == model_version_id)
    return where


def covers(conn: sa.Connection, task: str, model_version_id: int | None = None, *,
           exact: bool = False) -> bool:
    """True when score_bins summarise the ledger of the Task (or of one version).

    The pages' check is an index lookup per version: its newest ledger batch is summarised
    (`score`, the ledger's one writer, summarises every batch it writes; rows inserted by
    another path arrive in a batch of their own, or the version has no summary at all).
    `exact` counts the ledger instead (a scan of the version's index: `score` runs it once
    per run to repair summaries after rows were deleted or written behind its back)."""
    if exact:
        summed = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(score_bins.c.rows), 0))
                              .where(*_bins_of(task, model_version_id))).scalar_one()
        return int(summed) == _ledger_count(conn, task, model_version_id)
    if model_version_id is not None:
        chosen = [model_version_id]
    else:
        chosen = list(conn.execute(sa.select(model_versions.c.id)
                                   .where(model_versions.c.task == task)).scalars())
    for version in chosen:
        # max(batch) on (task, model_version_id, batch): one index descent on both dialects.
        newest = conn.execute(sa.select(sa.func.max(predictions.c.batch)).where(
            predictions.c.task == task, predictions.c.model_version_id == version)).scalar()
        summarised = conn.execute(sa.select(sa.func.max(score_bins.c.batch)).where(
            *_bins_of(task, version))).scalar()
        if newest != summarised:
            return False
    return True


def _version_bins(task: str, model_version_id: int, output: str) -> list[sa.ColumnElement[bool]]:
    return [*_bins_of(task, model_version_id), score_bins.c.output == output]


def _covered(conn: sa.Connection, task: str, model_version_id: int | None,
             covered: bool | None) -> bool:
    return covers(conn, task, model_version_id) if covered is None else covered


def score_histogram(engine: Engine, task: str, model_version_id: int, edges: Sequence[float],
                    *, output: str = PRIMARY_OUTPUT, covered: bool | None = None
                    ) -> pd.DataFrame:
    """queries.score_histogram from score_bins when `edges` are SCORE_EDGES and every score
    lies in [0, 1] (else the scan). `covered`: covers() of the version when the caller knows
    it (the dashboards check once per store state), else it is checked here; so below."""
    with engine.connect() as conn:
        fits = ([float(e) for e in edges] == SCORE_EDGES
                and _covered(conn, task, model_version_id, covered))
        if fits:
            where = _version_bins(task, model_version_id, output)
            fits = conn.execute(sa.select(sa.func.count()).select_from(score_bins).where(
                *where, score_bins.c.bin == OUTSIDE)).scalar_one() == 0
        if fits:
            rows = sa.func.sum(score_bins.c.rows).label("rows")
            frame = pd.DataFrame(conn.execute(
                sa.select(score_bins.c.bin, score_bins.c.label, rows)
                .where(*where, score_bins.c.bin >= 0)
                .group_by(score_bins.c.bin, score_bins.c.label).order_by(score_bins.c.bin)
            ).mappings().all(), columns=["bin", "label", "rows"])
    if not fits:
        return queries.score_histogram(engine, task, model_version_id, edges, output=output)
    frame["rows"] = frame["rows"].astype("int64")
    frame["low"] = [edges[int(i)] for i in frame["bin"]]
    frame["high"] = [edges[int(i) + 1] for i in frame["bin"]]
    return frame


def label_counts(engine: Engine, task: str, model_version_id: int, *,
                 output: str = PRIMARY_OUTPUT, covered: bool | None = None) -> pd.DataFrame:
    """queries.label_counts (rows and mean score per label) from score_bins."""
    with engine.connect() as conn:
        if not _covered(conn, task, model_version_id, covered):
            return queries.label_counts(engine, task, model_version_id, output=output)
        rows = sa.func.sum(score_bins.c.rows)
        scored = sa.func.sum(sa.case((score_bins.c.bin != NO_SCORE, score_bins.c.rows)))
        mean = sa.func.sum(score_bins.c.score_sum) / sa.func.nullif(scored, 0)
        found = conn.execute(
            sa.select(score_bins.c.label, rows.label("rows"), mean.label("mean_score"))
            .where(*_version_bins(task, model_version_id, output))
            .group_by(score_bins.c.label).order_by(rows.desc())).mappings().all()
    frame = pd.DataFrame(found, columns=["label", "rows", "mean_score"])
    return frame.astype({"rows": "int64", "mean_score": "float64"})


def score_range(engine: Engine, task: str, model_version_id: int, *,
                output: str = PRIMARY_OUTPUT, covered: bool | None = None
                ) -> tuple[float, float] | None:
    """queries.score_range from score_bins."""
    with engine.connect() as conn:
        if not _covered(conn, task, model_version_id, covered):
            return queries.score_range(engine, task, model_version_id, output=output)
        low, high = conn.execute(
            sa.select(sa.func.min(score_bins.c.score_min), sa.func.max(score_bins.c.score_max))
            .where(*_version_bins(task, model_version_id, output))).one()
    return None if low is None else (float(low), float(high))


def predicted_versions(engine: Engine, task: str, *, output: str | None = PRIMARY_OUTPUT,
                       covered: bool | None = None) -> list[int]:
    """queries.predicted_versions from score_bins (`covered`: of the whole Task)."""
    with engine.connect() as conn:
        if not _covered(conn, task, None, covered):
            return queries.predicted_versions(engine, task, output=output)
        where = _bins_of(task, None) + ([] if output is None else [score_bins.c.output == output])
        return list(conn.execute(
            sa.select(score_bins.c.model_version_id).where(*where, score_bins.c.rows > 0)
            .distinct().order_by(score_bins.c.model_version_id)).scalars())


def row_counts(engine: Engine, task: str, input_table: str | None = None, *,
               output: str | None = PRIMARY_OUTPUT, covered: bool | None = None
               ) -> dict[str, int]:
    """queries.row_counts with the ledger's rows of `output` from score_bins (`covered`: of
    the whole Task)."""
    with engine.connect() as conn:
        if not _covered(conn, task, None, covered):
            return queries.row_counts(engine, task, input_table, output=output)
        where = _bins_of(task, None) + ([] if output is None else [score_bins.c.output == output])
        ledger = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(score_bins.c.rows), 0))
                              .where(*where)).scalar_one()
        return queries.counts_beside(conn, task, input_table, int(ledger))


def monthly_profile(engine: Engine, table: sa.Table, task: str, model_version_id: int,
                    date_column: str, feature: str, entry: Mapping[str, Any], *,
                    covered: bool | None = None) -> pd.DataFrame:
    """input_queries.monthly_profile_counts's (month, value, rows) of one profiled feature,
    from the rows the version scored (profile_counts) when they are all counted; else from
    the whole input table. `entry` is the feature's reference profile: `value` is its bucket
    (numeric) or its category, OTHER or None (missing), as the scan gives."""
    with engine.connect() as conn:
        counted = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(profile_counts.c.rows), 0))
            .where(profile_counts.c.task == task,
                   profile_counts.c.model_version_id == model_version_id,
                   profile_counts.c.period_column == date_column,
                   profile_counts.c.feature == feature)).scalar_one()
        fits = bool(counted) and _covered(conn, task, model_version_id, covered) and int(
            counted) == (
            conn.execute(sa.select(sa.func.coalesce(sa.func.sum(score_bins.c.rows), 0))
                         .where(*_version_bins(task, model_version_id, PRIMARY_OUTPUT)))
            .scalar_one())
        if fits:
            rows = sa.func.sum(profile_counts.c.rows).label("rows")
            found = pd.DataFrame(conn.execute(
                sa.select(profile_counts.c.month, profile_counts.c.bucket, rows)
                .where(profile_counts.c.task == task,
                       profile_counts.c.model_version_id == model_version_id,
                       profile_counts.c.period_column == date_column,
                       profile_counts.c.feature == feature, profile_counts.c.month.is_not(None))
                .group_by(profile_counts.c.month, profile_counts.c.bucket)
                .order_by(profile_counts.c.month, profile_counts.c.bucket)).all(),
                columns=["month", "bucket", "rows"])
    if not fits:
        edges = entry["edges"] if entry["kind"] == "numeric" else None
        return input_queries.monthly_profile_counts(engine, table, date_column, feature, edges)
    if entry["kind"] == "numeric":
        values: list[Any] = [int(b) for b in found["bucket"]]
    else:
        named = [*entry["categories"], OTHER, None]
        values = [named[int(b)] for b in found["bucket"]]
    return pd.DataFrame({"month": found["month"], "value": values,
                         "rows": found["rows"].astype("int64")},
                        columns=["month", "value", "rows"])


# The named queries PageContext.query / input_query resolve here before queries.py and
# input_queries.py (dashboards/context.py): same names and results, read from the summaries.
# Each takes (engine[, table], task, version, ...) or (engine, task, ...) and `covered`; True
# where `covered` is covers() of the version (args[1]), False where of the whole Task.
QUERIES = {"score_histogram": score_histogram, "label_counts": label_counts,
           "score_range": score_range, "predicted_versions": predicted_versions,
           "row_counts": row_counts}
INPUT_QUERIES = {"monthly_profile": monthly_profile}
BY_VERSION = {"score_histogram": True, "label_counts": True, "score_range": True,
              "predicted_versions": False, "row_counts": False, "monthly_profile": True}
