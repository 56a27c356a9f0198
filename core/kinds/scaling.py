"""The scaling benchmark: each candidate fit on ever more generated rows, so growth shows."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from core import progress
from core.kinds.base import TaskSpec

SIZES = (1_000, 10_000, 100_000, 1_000_000)
MAX_ROWS = 1_000_000
TEST_ROWS = 10_000  # one held-out sample for every size: the metrics compare across sizes
WARM_UP_ROWS = 1_000  # enough for a fit to import and set up what it needs
# Growth is judged from here up: below it a fit's fixed costs (imports, set-up) dominate.
GROWTH_FROM = 10_000
# (candidate, training rows) -> the fitted candidate: what is timed.
Fit = Callable[[str, pd.DataFrame], Any]
# (fitted candidate, held-out rows) -> the metric there (not timed).
Score = Callable[[Any, pd.DataFrame], float]


@runtime_checkable
class SampledTask(TaskSpec, Protocol):
    """A Task with its seeded generator (core.task.Task has it): the rows to scale on."""

    def sample(self, rows: int, seed: int) -> pd.DataFrame: ...


def parse_sizes(sizes: str | Sequence[int] | None, max_rows: int | None) -> tuple[int, ...]:
    """Sizes from "1000,10000" (or ints), ascending and unique; each at least 2 and at most
    `max_rows` (the guard against a million-row fit nobody asked for)."""
    limit = MAX_ROWS if max_rows is None else int(max_rows)
    if sizes is None:
        given: list[Any] = list(SIZES)
    elif isinstance(sizes, str):
        given = [part.strip().replace("_", "") for part in sizes.split(",") if part.strip()]
    else:
        given = list(sizes)
    try:
        values = sorted({int(size) for size in given})
    except ValueError as error:
        raise ValueError(f"--sizes takes whole row counts separated by commas, e.g. "
                         f"1000,10000; got {sizes!r}") from error
    if not values or values[0] < 2:
        raise ValueError(f"--sizes needs row counts of at least 2, got {sizes!r}")
    if values[-1] > limit:
        raise ValueError(f"size {values[-1]:,} is above --max-rows {limit:,}: raise --max-rows "
                         "to fit that many rows, or choose smaller --sizes")
    return tuple(values)


def scaling(
    task: SampledTask, names: Sequence[str], fit: Fit, score: Score, *, metric: str,
    seed: int, sizes: Sequence[int], test_rows: int = TEST_ROWS,
) -> dict[str, Any]:
    """Fit seconds and `metric` per candidate per size, on `task.sample(size, seed)` for
    training and one held-out `task.sample(test_rows, seed + 1)`, with each candidate's growth
    exponent (the log-log slope of fit seconds over rows: 1 is linear). Each candidate is fit
    once untimed first (on the smallest size, at most WARM_UP_ROWS rows), so the first figure
    is not its import time."""
    held_out = task.feature_frame(task.sample(min(test_rows, max(sizes)), seed + 1))
    models: dict[str, dict[str, dict[str, float]]] = {name: {} for name in names}
    with progress.task("scaling", total=len(sizes) * len(names)):
        warm_up = task.feature_frame(task.sample(min(*sizes, WARM_UP_ROWS), seed))
        for name in names:  # untimed: the first fit pays for imports and lazy set-up
            progress.update(rows=f"{len(warm_up):,} (warm-up)", candidate=name)
            fit(name, warm_up)
        for size in sizes:
            rows = task.feature_frame(task.sample(size, seed))
            for name in names:
                progress.update(rows=f"{size:,}", candidate=name)
                start = time.perf_counter()
                fitted = fit(name, rows)
                seconds = time.perf_counter() - start
                models[name][str(size)] = {"fit_s": round(seconds, 3),
                                           metric: round(float(score(fitted, held_out)), 4)}
                progress.advance()
    return {"sizes": list(sizes), "test_rows": len(held_out), "models": models,
            "growth": {name: growth(sizes, [runs[str(s)]["fit_s"] for s in sizes])
                       for name, runs in models.items()}}


def growth(sizes: Sequence[int], seconds: Sequence[float]) -> float | None:
    """Least-squares slope of log(seconds) on log(rows) over the sizes from GROWTH_FROM (all
    of them when fewer than two reach it); None with fewer than two sizes."""
    pairs = [(n, s) for n, s in zip(sizes, seconds, strict=True) if n >= GROWTH_FROM]
    if len(pairs) < 2:
        pairs = list(zip(sizes, seconds, strict=True))
    if len(pairs) < 2:
        return None
    x = np.log([n for n, _ in pairs])
    y = np.log([max(s, 1e-6) for _, s in pairs])  # a fit timed at 0 s would be -inf
    slope = float(np.polyfit(x, y, 1)[0])
    return round(slope, 3) if math.isfinite(slope) else None
