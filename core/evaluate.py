"""Classification metrics, train/calibration/test splits, repeated CV and the leaderboard."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

ECE_BINS = 10


def _arrays(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {p.shape} must be 1-D and the same length")
    if len(y) == 0:
        raise ValueError("cannot compute a metric on zero rows")
    return y, p


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half), via the Mann-Whitney rank sum."""
    y, p = _arrays(y, p)
    n_pos = y.sum()
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes among the labels")
    ranks = pd.Series(p).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def gini(y: np.ndarray, p: np.ndarray) -> float:
    """Gini coefficient (accuracy ratio) = 2 AUC - 1."""
    return 2.0 * auc(y, p) - 1.0


def ks(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the bad and good score CDFs."""
    y, p = _arrays(y, p)
    order = np.argsort(p, kind="mergesort")
    p_sorted, y_sorted = p[order], y[order]
    bad = np.cumsum(y_sorted) / max(y_sorted.sum(), 1)
    good = np.cumsum(1 - y_sorted) / max((1 - y_sorted).sum(), 1)
    # Only compare at the end of each run of tied scores: a threshold cannot split ties.
    last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    return float(np.max(np.abs(bad - good)[last_of_tie]))


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (step interpolation)."""
    y, p = _arrays(y, p)
    n_pos = y.sum()
    if n_pos == 0:
        raise ValueError("PR-AUC needs at least one positive label")
    order = np.argsort(-p, kind="mergesort")
    p_sorted, y_sorted = p[order], y[order]
    last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tp = np.cumsum(y_sorted)[last_of_tie]
    seen = (np.arange(1, len(y) + 1))[last_of_tie]
    precision = tp / seen
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probabilities."""
    y, p = _arrays(y, p)
    return float(np.mean((p - y) ** 2))


def ece(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error over equal-width probability bins (weighted by bin size)."""
    y, p = _arrays(y, p)
    index = np.minimum((p * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    gap = np.abs(np.bincount(index, y, bins) - np.bincount(index, p, bins))
    return float(gap.sum() / counts.sum())


def error_rate(y: np.ndarray, p: np.ndarray, cutoff: float = 0.5) -> float:
    """Share of wrong decisions when scores at or above `cutoff` are called positive."""
    y, p = _arrays(y, p)
    return float(np.mean((p >= cutoff) != (y == 1)))


def f1(y: np.ndarray, p: np.ndarray, cutoff: float = 0.5) -> float:
    """F1 of the positive class at `cutoff` (0 when nothing is called positive)."""
    y, p = _arrays(y, p)
    called = p >= cutoff
    tp = float(np.sum(called & (y == 1)))
    denominator = called.sum() + (y == 1).sum()
    return float(2.0 * tp / denominator) if denominator else 0.0


def classification_metrics(y: np.ndarray, p: np.ndarray, cutoff: float = 0.5) -> dict[str, float]:
    """Every TabularClassification metric, lower_snake names as the bench JSON prints them."""
    return {
        "auc": auc(y, p), "ks": ks(y, p), "gini": gini(y, p), "pr_auc": pr_auc(y, p),
        "brier": brier(y, p), "ece": ece(y, p), "error_rate": error_rate(y, p, cutoff),
        "f1": f1(y, p, cutoff),
    }


def stratified_split(
    y: np.ndarray, fractions: Sequence[float], seed: int
) -> tuple[np.ndarray, ...]:
    """Row indices split into parts of the given fractions, each with the same class mix."""
    y = np.asarray(y)
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions {list(fractions)} must sum to 1")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    bounds = np.cumsum(fractions)[:-1]
    for value in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == value))
        chunks = np.split(rows, (bounds * len(rows)).round().astype(int))
        for part, chunk in zip(parts, chunks, strict=True):
            part.append(chunk)
    return tuple(np.sort(np.concatenate(part)) for part in parts)


def time_split(times: pd.Series | np.ndarray, fractions: Sequence[float]) -> tuple[np.ndarray, ...]:
    """Row indices split in time order (earliest first) so no part sees a later part's future."""
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions {list(fractions)} must sum to 1")
    order = np.argsort(pd.to_datetime(pd.Series(times)).to_numpy(), kind="mergesort")
    bounds = (np.cumsum(fractions)[:-1] * len(order)).round().astype(int)
    return tuple(np.sort(part) for part in np.split(order, bounds))


def repeated_stratified_folds(
    y: np.ndarray, n_splits: int = 5, n_repeats: int = 3, seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of stratified k-fold CV, repeated with reshuffles."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    splitter = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    yield from splitter.split(np.zeros(len(y)), np.asarray(y))


def leaderboard(
    results: Mapping[str, Mapping[str, float]], metric: str, higher_is_better: bool = True
) -> list[tuple[str, dict[str, float]]]:
    """Candidates ranked best first by `metric`; raises if a candidate lacks it."""
    missing = [name for name, values in results.items() if metric not in values]
    if missing:
        raise KeyError(f"candidates {missing} have no {metric!r} metric to rank by")
    ranked = sorted(results.items(), key=lambda item: item[1][metric], reverse=higher_is_better)
    return [(name, dict(values)) for name, values in ranked]
