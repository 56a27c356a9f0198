"""Out-of-distribution warnings: input values outside what the champion was trained on, read
off the reference profile stored with every model version (core.monitor.reference_profile)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

OUTLIER_COLUMNS = ("row", "feature", "value", "low", "high", "why")
ABOVE, BELOW, UNSEEN = "above the training range", "below the training range", \
    "a category the training rows never had"


def out_of_range(reference: Mapping[str, Any], frame: pd.DataFrame, *,
                 margin: float = 0.0) -> pd.DataFrame:
    """One row per (input row, feature) lying outside the training distribution: a number
    below the training minimum or above the maximum (widened by `margin` x the range on each
    side), or a category the training rows never held. Columns OUTLIER_COLUMNS; `row` is the
    position in `frame`.

    Missing values are not flagged (the model has seen missing values or imputes them); nor
    are features the profile lacks, numeric entries without a range (versions trained before
    ranges were recorded) or categories of a feature whose training rows had more kinds than
    the profile lists (an unlisted one may still have been seen).
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0 (a share of the training range), got {margin}")
    found: list[pd.DataFrame] = []
    for feature, entry in reference.items():
        if feature not in frame.columns:
            continue
        series = frame[feature].reset_index(drop=True)
        if entry.get("kind") == "numeric":
            low, high = entry.get("low"), entry.get("high")
            if low is None or high is None:
                continue
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float,
                                                                     na_value=np.nan)
            slack = margin * (high - low)
            below, above = values < low - slack, values > high + slack
            where = np.flatnonzero(below | above)
            why = np.where(above[where], ABOVE, BELOW)
        elif entry.get("kind") == "categorical":
            # proportions: one per listed category, then "other", then missing
            if entry["proportions"][-2] > 0:
                continue
            known = set(entry["categories"])
            text = series.astype("object")
            unseen = text.notna() & ~text.astype(str).isin(known)
            where = np.flatnonzero(unseen.to_numpy())
            low = high = None
            why = np.full(len(where), UNSEEN, dtype=object)
        else:
            continue  # a profile entry of another shape says nothing about ranges
        if len(where):
            found.append(pd.DataFrame({
                "row": where, "feature": feature, "value": series.iloc[where].to_numpy(),
                "low": low, "high": high, "why": why}))
    if not found:
        return pd.DataFrame(columns=list(OUTLIER_COLUMNS))
    return (pd.concat(found, ignore_index=True).sort_values(["row", "feature"], kind="stable")
            .reset_index(drop=True)[list(OUTLIER_COLUMNS)])


def describe(outliers: pd.DataFrame) -> list[str]:
    """One sentence per outlier, in the user's words ("age_years = 99 is above the training
    range 19–75"), for the warning a page shows beside the score."""
    lines = []
    for row in outliers.itertuples(index=False):
        value = f"{row.value:g}" if isinstance(row.value, int | float | np.number) else row.value
        if row.why == UNSEEN:
            lines.append(f"{row.feature} = {value!s} is {UNSEEN}")
        else:
            lines.append(f"{row.feature} = {value!s} is {row.why} {row.low:g}–{row.high:g}")
    return lines
