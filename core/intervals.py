"""Percentile bootstrap intervals of held-out metrics, resampling the units a Kind holds out
(test rows, images, whole units, origin dates, blocks of origins), vectorised over resamples."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

LEVEL = 0.95
RESAMPLES = 200
# One fixed seed: every candidate of a run is resampled with the same draws of the same
# held-out units, so their intervals are comparable (and a retrain reproduces them).
SEED = 0
# Where the registry keeps a version's intervals: a key of model_versions.params (JSON), so
# the store needs no migration and a version trained before intervals simply has none.
PARAMS_KEY = "intervals"
# Resample x unit cells per chunk: a statistic's few float32 arrays of this size stay in the
# CPU's cache (twice as fast as chunks of 2M cells at 40,000 test rows), and a million-row
# test part never holds 200 x n counts at once.
MAX_CELLS = 250_000
# Kinds round some point metrics (to 5 or 6 decimals): one may sit that hair outside an
# interval of unrounded resamples.
TOLERANCE = 1e-5
MIN_BLOCKS = 10  # fewest blocks a block bootstrap keeps (block_length)

# A statistic maps resample counts (b resamples x n units: how often each unit was drawn) to
# the metric on each resample (b values; NaN where undefined, e.g. one class only).
Statistic = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Interval:
    """A metric's percentile bootstrap interval and what it was resampled over: `units`
    held-out units, described by `over` in the plural ("test rows", "held-out units",
    "origin dates"), drawn with replacement `resamples` times."""

    low: float
    high: float
    level: float
    resamples: int
    units: int
    over: str

    def contains(self, value: float, tolerance: float = TOLERANCE) -> bool:
        return self.low - tolerance <= value <= self.high + tolerance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        return cls(low=float(data["low"]), high=float(data["high"]),
                   level=float(data["level"]), resamples=int(data["resamples"]),
                   units=int(data["units"]), over=str(data["over"]))


def recorded(params: Mapping[str, Any] | None) -> dict[str, Interval]:
    """The intervals a registered version's params hold ({} for versions trained before
    intervals were recorded)."""
    stored = (params or {}).get(PARAMS_KEY) or {}
    return {name: Interval.from_dict(value) for name, value in stored.items()}


def resample_counts(rng: np.random.Generator, resamples: int, units: int) -> np.ndarray:
    """(resamples, units) draw counts of `units` units drawn with replacement, per resample."""
    draws = rng.integers(0, units, size=(resamples, units))
    flat = draws + (np.arange(resamples) * units)[:, None]
    return np.bincount(flat.ravel(), minlength=resamples * units).reshape(resamples, units)


def bootstrap_values(statistics: Mapping[str, Statistic], units: int, *, seed: int = SEED,
                     resamples: int = RESAMPLES) -> dict[str, np.ndarray]:
    """Each statistic on the same `resamples` draws of `units` units (seeded; the same seed
    draws the same resamples, so candidates of one train run are compared on equal draws)."""
    if units < 1:
        raise ValueError("a bootstrap needs at least one held-out unit")
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, MAX_CELLS // units))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in statistics}
    for start in range(0, resamples, chunk):
        counts = resample_counts(rng, min(chunk, resamples - start), units)
        for name, statistic in statistics.items():
            parts[name].append(np.asarray(statistic(counts), dtype=float))
    return {name: np.concatenate(values) for name, values in parts.items()}


def interval_of(values: np.ndarray, *, units: int, over: str, level: float = LEVEL
                ) -> Interval:
    """The percentile interval of bootstrap `values` (resamples where the metric is undefined,
    NaN, left out; all undefined gives a NaN interval, which check_task reports)."""
    finite = values[np.isfinite(values)]
    tail = (1 - level) / 2 * 100
    low, high = (np.percentile(finite, [tail, 100 - tail]) if len(finite)
                 else (math.nan, math.nan))
    return Interval(float(low), float(high), level, len(values), units, over)


def bootstrap(statistics: Mapping[str, Statistic], units: int, *, over: str, seed: int = SEED,
              level: float = LEVEL, resamples: int = RESAMPLES) -> dict[str, Interval]:
    """Interval per statistic over `units` held-out units (see bootstrap_values)."""
    values = bootstrap_values(statistics, units, seed=seed, resamples=resamples)
    return {name: interval_of(v, units=units, over=over, level=level)
            for name, v in values.items()}


# --- statistics ------------------------------------------------------------------------------


def mean_statistic(values: np.ndarray) -> Statistic:
    """The mean of one value per unit (a 0/1 hit for accuracy, a squared error for Brier)."""
    values = np.asarray(values, dtype=float)
    return lambda counts: (counts @ values) / counts.sum(axis=1)


def ratio_statistic(numerator: np.ndarray, denominator: np.ndarray, *,
                    root: bool = False) -> Statistic:
    """sum(numerator) / sum(denominator) over the drawn units (per-unit sums: an MAE over units
    of several rows is their error sums over their row counts); its square root with `root`
    (RMSE from squared errors). NaN where the drawn denominator is 0."""
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)

    def statistic(counts: np.ndarray) -> np.ndarray:
        top, bottom = counts @ numerator, counts @ denominator
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(bottom > 0, top / bottom, np.nan)
        return np.sqrt(ratio) if root else ratio

    return statistic


def binary_statistics(positive: np.ndarray, score: np.ndarray) -> tuple[Statistic, np.ndarray]:
    """One statistic giving (auc, ks, brier) per resample of a binary classifier's rows (ties
    as core.evaluate counts them: AUC one half, KS never splits them), and the row order its
    resample counts must follow: ascending score, so ranks need no sort per resample.

    AUC is the Mann-Whitney sum with each row weighted by how often it was drawn; NaN when a
    draw lacks a class."""
    score = np.asarray(score, dtype=float)
    order = np.argsort(score, kind="mergesort")
    ordered, labels = score[order], np.asarray(positive, dtype=np.float32)[order]
    squared = ((ordered - labels) ** 2).astype(np.float32)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    tied = len(starts) < len(ordered)

    def statistic(counts: np.ndarray) -> np.ndarray:
        drawn = counts.astype(np.float32)
        pos = drawn * labels
        neg = drawn - pos
        brier = (drawn @ squared) / drawn.sum(axis=1)
        if tied:  # a run of tied scores acts as one rank
            pos, neg = (np.add.reduceat(a, starts, axis=1) for a in (pos, neg))
        below = np.cumsum(neg, axis=1)  # negatives scored at or below each rank
        n_pos, n_neg = pos.sum(axis=1, dtype=float), below[:, -1].astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (pos * (below - 0.5 * neg)).sum(axis=1, dtype=float) / (n_pos * n_neg)
            ks = np.abs(np.cumsum(pos, axis=1) / n_pos[:, None].astype(np.float32)
                        - below / n_neg[:, None].astype(np.float32)).max(axis=1)
        both = (n_pos > 0) & (n_neg > 0)
        return np.column_stack([np.where(both, auc, np.nan), np.where(both, ks, np.nan),
                                brier])

    return statistic, order


def auc_statistic(positive: np.ndarray, score: np.ndarray) -> Statistic:
    """ROC AUC of the drawn rows (binary_statistics), for counts in the rows' own order."""
    statistic, order = binary_statistics(positive, score)
    return lambda counts: statistic(counts[:, order])[:, 0]


def block_length(units: int, length: int) -> int:
    """How many consecutive units (origins) one resampled block holds: `length` (a forecast's
    span: nearer origins forecast the same steps), shorter when that leaves fewer than
    MIN_BLOCKS blocks, since a handful of blocks makes an interval say little."""
    return max(1, min(length, units // MIN_BLOCKS))


def unit_sums(owners: np.ndarray, *values: np.ndarray) -> tuple[int, list[np.ndarray]]:
    """(number of distinct owners, per-owner sums of each of `values`): rows folded into the
    whole units (engines, dates, blocks) a bootstrap resamples."""
    _, index = np.unique(np.asarray(owners), return_inverse=True)
    n = int(index.max()) + 1 if len(index) else 0
    return n, [np.bincount(index, weights=np.asarray(v, dtype=float), minlength=n)
               for v in values]


def classification_intervals(y: np.ndarray, p: np.ndarray, *, seed: int = SEED,
                             over: str = "test rows") -> dict[str, Interval]:
    """auc, gini, ks and brier of a binary classifier's held-out rows (as core.evaluate's
    classification_metrics), on the same resamples of the rows."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    statistic, _ = binary_statistics(y == 1, p)  # rows are exchangeable: draw in its order
    values = bootstrap_values({"binary": statistic}, len(y), seed=seed)["binary"]
    named = {"auc": values[:, 0], "ks": values[:, 1], "brier": values[:, 2],
             "gini": 2 * values[:, 0] - 1}  # a function of the AUC: the same draws
    return {name: interval_of(v, units=len(y), over=over) for name, v in named.items()}


def error_intervals(error: np.ndarray, owners: np.ndarray, *, over: str,
                    covered: np.ndarray | None = None, names: Mapping[str, str] | None = None,
                    seed: int = SEED) -> dict[str, Interval]:
    """rmse and mae of forecast errors (and the share `covered` by their intervals, as
    "coverage"), resampling the whole units that own them (`owners`: an engine, a date, a
    block of origins), on the same draws; `names` renames them to the Kind's metric names."""
    error = np.asarray(error, dtype=float)
    extra = [] if covered is None else [np.asarray(covered, dtype=float)]
    n, sums = unit_sums(owners, error ** 2, np.abs(error), np.ones(len(error)), *extra)
    statistics = {"rmse": ratio_statistic(sums[0], sums[2], root=True),
                  "mae": ratio_statistic(sums[1], sums[2])}
    if covered is not None:
        statistics["coverage"] = ratio_statistic(sums[3], sums[2])
    rename = names or {}
    return {rename.get(k, k): v for k, v in bootstrap(statistics, n, over=over,
                                                       seed=seed).items()}
