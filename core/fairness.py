"""Fair lending: the protected attributes a Task declares, and the per-group fairness report
(approval rate, default rate, AUC, adverse-impact ratio against the four-fifths rule)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# The four-fifths rule (US EEOC Uniform Guidelines, used in fair-lending reviews): a group
# approved at under 80% of the most-favoured group's rate shows adverse impact.
FOUR_FIFTHS = 0.8
MISSING_GROUP = "(missing)"
REPORT_COLUMNS = ("attribute", "group", "scored", "approved", "approval_rate", "outcomes",
                  "defaults", "default_rate", "auc", "adverse_impact_ratio", "below_four_fifths")


@dataclass(frozen=True)
class Protected:
    """The attributes a decision must not rest on (sex and marital status, age, nationality),
    as a Task declares them (`Task.protected`).

    The store keeps them with every input row, so the fairness report can group by them; the
    Kind leaves them out of the model's features, so they cannot be a reason either, unless
    `use` opts in, which needs a `note` saying why (the page shows it). `bands` cuts a
    continuous attribute into the groups the report shows: column -> increasing edges, band i
    holding edges[i-1] <= value < edges[i] ("<25", "25–<35", ..., "≥65").
    """

    columns: tuple[str, ...] = ()
    use: bool = False
    note: str = ""
    bands: Mapping[str, tuple[float, ...]] = field(default_factory=dict, hash=False,
                                                   compare=False)

    def __post_init__(self) -> None:
        if len(set(self.columns)) != len(self.columns) or not all(self.columns):
            raise ValueError(f"protected columns must be unique non-empty names, got "
                             f"{self.columns!r}")
        if self.use and not self.note.strip():
            raise ValueError("a Task that lets its model read protected attributes (use=True) "
                             "must say why in `note`; the page shows it beside the report")
        for column, edges in self.bands.items():
            if column not in self.columns:
                raise ValueError(f"bands name {column!r}, which is not a protected column "
                                 f"{self.columns}")
            if not edges or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
                raise ValueError(f"bands[{column!r}] must be strictly increasing edges, got "
                                 f"{edges!r}")

    @property
    def excluded(self) -> tuple[str, ...]:
        """The columns the model must not read: all protected ones unless the Task opted in."""
        return () if self.use else self.columns


def band_labels(edges: Sequence[float]) -> list[str]:
    """The names of the bands `edges` cut a value into, lowest first (len(edges) + 1 names)."""
    shown = [f"{e:g}" for e in edges]
    middle = [f"{a}–<{b}" for a, b in zip(shown, shown[1:], strict=False)]
    return [f"<{shown[0]}", *middle, f"≥{shown[-1]}"]


def banded(values: pd.Series, edges: Sequence[float] | None) -> pd.Series:
    """Each value's group: its band name when `edges` are given, else the value as text;
    MISSING_GROUP for a missing value (a group of its own, never dropped)."""
    missing = values.isna()
    if edges is None:
        groups = values.astype("object").astype(str)
    else:
        numbers = pd.to_numeric(values, errors="raise").to_numpy(dtype=float, na_value=np.nan)
        index = np.searchsorted(np.asarray(edges, dtype=float), numbers, side="right")
        groups = pd.Series(np.asarray(band_labels(edges), dtype=object)[
            np.minimum(index, len(edges))], index=values.index)
    return groups.where(~missing, MISSING_GROUP).astype("object")


def weighted_auc(score: np.ndarray, outcome: np.ndarray, weight: np.ndarray) -> float:
    """AUC of `score` for outcome 1 against 0 with row weights (ties count one half): the share
    of (default, non-default) pairs the score orders right. NaN without both outcomes."""
    frame = pd.DataFrame({"score": score, "pos": weight * (outcome == 1),
                          "neg": weight * (outcome == 0)})
    levels = frame.groupby("score", sort=True)[["pos", "neg"]].sum()
    positives, negatives = levels["pos"].sum(), levels["neg"].sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    below = levels["neg"].cumsum() - levels["neg"]  # non-defaults scored lower than this level
    wins = (levels["pos"] * (below + 0.5 * levels["neg"])).sum()
    return float(wins / (positives * negatives))


def fairness_report(
    frame: pd.DataFrame, attributes: Sequence[str], *,
    bands: Mapping[str, Sequence[float]] | None = None, score: str = "score",
    approved: str = "approved", outcome: str = "outcome", weight: str | None = None,
) -> pd.DataFrame:
    """Per protected attribute and group: REPORT_COLUMNS.

    `frame` holds one row per scored application (or, with `weight`, per group of identical
    rows: SQL counts): the PD `score`, whether it was `approved` at the cut-off, the realised
    `outcome` (1 default, 0 repaid, NaN not known yet) and the attributes' values.
    Approval rate is over every scored row; default rate and AUC only over rows with an
    outcome. The adverse-impact ratio is the group's approval rate over the highest approval
    rate among that attribute's groups (the most-favoured group gets 1.0);
    `below_four_fifths` flags a ratio under FOUR_FIFTHS.
    """
    missing = [c for c in (score, approved, outcome, *attributes, *([weight] if weight else []))
               if c not in frame.columns]
    if missing:
        raise KeyError(f"fairness_report: the frame lacks columns {missing}; columns: "
                       f"{', '.join(map(str, frame.columns))}")
    w = (frame[weight].to_numpy(dtype=float) if weight is not None
         else np.ones(len(frame)))
    result = pd.DataFrame(
        {"score": frame[score].to_numpy(dtype=float),
         "approved": w * frame[approved].to_numpy(dtype=bool),
         "outcome": pd.to_numeric(frame[outcome]).to_numpy(dtype=float, na_value=np.nan),
         "w": w})
    result["known"] = np.where(np.isnan(result["outcome"]), 0.0, w)
    result["defaults"] = np.where(result["outcome"] == 1, w, 0.0)
    tables = []
    for attribute in attributes:
        edges = (bands or {}).get(attribute)
        groups = banded(frame[attribute].reset_index(drop=True), edges)
        order = band_labels(edges) if edges is not None else sorted(set(groups) - {MISSING_GROUP})
        rows = []
        for group in [*order, MISSING_GROUP]:
            part = result[(groups == group).to_numpy()]
            if part.empty:
                continue
            known = part[part["known"] > 0]
            scored, outcomes = part["w"].sum(), known["w"].sum()
            rows.append({
                "attribute": attribute, "group": group, "scored": int(round(scored)),
                "approved": int(round(part["approved"].sum())),
                "approval_rate": part["approved"].sum() / scored if scored else np.nan,
                "outcomes": int(round(outcomes)), "defaults": int(round(part["defaults"].sum())),
                "default_rate": part["defaults"].sum() / outcomes if outcomes else np.nan,
                "auc": weighted_auc(known["score"].to_numpy(), known["outcome"].to_numpy(),
                                    known["w"].to_numpy()),
            })
        table = pd.DataFrame(rows, columns=REPORT_COLUMNS[:9])
        best = table["approval_rate"].max()
        table["adverse_impact_ratio"] = (table["approval_rate"] / best if best and best > 0
                                         else np.nan)
        table["below_four_fifths"] = table["adverse_impact_ratio"] < FOUR_FIFTHS
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=list(REPORT_COLUMNS))
    return pd.concat(tables, ignore_index=True)[list(REPORT_COLUMNS)]


def report_from_counts(counts: Mapping[str, pd.DataFrame], *, approve: str, positive: Any,
                       bands: Mapping[str, Sequence[float]] | None = None) -> pd.DataFrame:
    """fairness_report over counted rows per attribute (attribute -> a frame of value, label,
    outcome, score, rows: dashboards.components.fairness counts them in SQL): approved = the
    label `approve` (the decision below the cut-off), outcome 1 = the stored target equals
    `positive`."""
    tables = []
    for attribute, part in counts.items():
        if part.empty:
            continue
        known = part["outcome"].notna()
        frame = pd.DataFrame({
            attribute: part["value"], "score": part["score"].astype(float),
            "approved": (part["label"].astype("object") == approve).to_numpy(),
            "outcome": np.where(known, (part["outcome"].astype("object") == positive)
                                .astype(float), np.nan),
            "rows": part["rows"].astype(float)})
        tables.append(fairness_report(frame, [attribute], bands=bands, weight="rows"))
    if not tables:
        return pd.DataFrame(columns=list(REPORT_COLUMNS))
    return pd.concat(tables, ignore_index=True)
