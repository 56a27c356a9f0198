"""Drift monitoring: per-feature reference profiles of the training data and PSI against them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

TOP_CATEGORIES = 20
OTHER = "__other__"
MISSING = "__missing__"
EPSILON = 1e-4  # keeps log(a/e) finite when a bucket is empty on one side
PSI_FLAG = 0.2  # the conventional "significant shift" threshold


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def reference_profile(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """A JSON-able profile of `columns`: decile buckets for numbers, top-20 shares for categories.

    Each entry is {"kind", "rows", "edges" | "categories", "proportions"}; the last proportion is
    the share of missing values so a sudden burst of nulls shows up as drift too. Numeric
    entries also keep the training range ("low", "high": None without values), which the
    out-of-distribution check (core.ood) reads.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"reference_profile: columns {missing} are not in the frame")
    profile: dict[str, Any] = {}
    for column in columns:
        series = frame[column]
        if _is_numeric(series):
            values = series.to_numpy(dtype=float, na_value=np.nan)
            present = values[~np.isnan(values)]
            edges = (np.unique(np.quantile(present, np.linspace(0.1, 0.9, 9)))
                     if len(present) else np.array([]))
            entry = {"kind": "numeric", "edges": [float(e) for e in edges],
                     "low": float(present.min()) if len(present) else None,
                     "high": float(present.max()) if len(present) else None}
            counts = _numeric_counts(values, edges)
        else:
            shares = series.astype("object").dropna().astype(str).value_counts()
            categories = sorted(shares.index[:TOP_CATEGORIES])
            entry = {"kind": "categorical", "categories": categories}
            counts = _categorical_counts(series, categories)
        entry["rows"] = int(len(series))
        entry["proportions"] = [float(c) for c in counts / max(len(series), 1)]
        profile[column] = entry
    return profile


def reference_rows(reference: dict[str, Any]) -> int:
    """Rows the reference profile was computed on (0 for an empty profile)."""
    return max((int(entry["rows"]) for entry in reference.values()), default=0)


def _numeric_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    nan = np.isnan(values)
    # Bucket i holds edges[i-1] < x <= edges[i]; one extra bucket for missing values.
    buckets = np.searchsorted(edges, values[~nan], side="left")
    counts = np.bincount(buckets, minlength=len(edges) + 1).astype(float)
    return np.r_[counts, nan.sum()]


def _categorical_counts(series: pd.Series, categories: list[str]) -> np.ndarray:
    # Hash the column once and map its few distinct values to the reference categories: a
    # per-row str() of a scored batch would cost more than the model's own predict.
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    per_unique = np.bincount(codes[codes >= 0], minlength=len(uniques)).astype(float)
    slots = pd.Index(categories, dtype="object").get_indexer(
        pd.Index([str(u) for u in uniques], dtype="object"))
    known = np.bincount(slots[slots >= 0], weights=per_unique[slots >= 0],
                        minlength=len(categories))
    other = per_unique[slots < 0].sum()
    return np.r_[known, other, (codes < 0).sum()]  # ..., other, missing


def psi(reference: dict[str, Any], frame: pd.DataFrame) -> dict[str, float]:
    """Population stability index per profiled column present in `frame` (epsilon-smoothed)."""
    result: dict[str, float] = {}
    for column, entry in reference.items():
        if column not in frame.columns or len(frame) == 0:
            continue
        series = frame[column]
        if entry["kind"] == "numeric":
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            counts = _numeric_counts(values, np.asarray(entry["edges"], dtype=float))
            expected = np.asarray(entry["proportions"], dtype=float)
        else:
            counts = _categorical_counts(series, list(entry["categories"]))
            expected = np.asarray(entry["proportions"], dtype=float)
        actual = counts / len(series)
        e = np.maximum(expected, EPSILON)
        a = np.maximum(actual, EPSILON)
        result[column] = float(np.sum((a - e) * np.log(a / e)))
    return result
