"""The fairness report: approval and default rates, AUC and the adverse-impact ratio per
protected group, with the four-fifths rule; and the Protected declaration's own rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.fairness import (
    MISSING_GROUP,
    Protected,
    band_labels,
    banded,
    fairness_report,
    report_from_counts,
    weighted_auc,
)


def hand_made() -> pd.DataFrame:
    """Group a: 10 scored, 8 approved; group b: 10 scored, 5 approved (ratio 0.625); outcomes
    known for 4 rows of each."""
    return pd.DataFrame({
        "sex": ["a"] * 10 + ["b"] * 10,
        "score": [0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.7, 0.9,
                  0.1, 0.2, 0.3, 0.4, 0.45, 0.6, 0.7, 0.8, 0.9, 0.95],
        "approved": [True] * 8 + [False] * 2 + [True] * 5 + [False] * 5,
        # a: defaults at 0.4 and 0.9, repaid at 0.1, 0.2 -> AUC 1; b: default at 0.1, repaid
        # at 0.9, default at 0.8, repaid at 0.2 -> pairs (0.1>0.9 no, 0.1>0.2 no, 0.8>0.9 no,
        # 0.8>0.2 yes) = 1/4
        "outcome": [0, 0, np.nan, 1, np.nan, np.nan, np.nan, np.nan, np.nan, 1,
                    1, 0, np.nan, np.nan, np.nan, np.nan, np.nan, 1, 0, np.nan],
    })


def test_adverse_impact_ratio_and_the_four_fifths_flag_on_a_hand_made_frame() -> None:
    report = fairness_report(hand_made(), ["sex"]).set_index("group")
    assert report.loc["a", "approval_rate"] == pytest.approx(0.8)
    assert report.loc["b", "approval_rate"] == pytest.approx(0.5)
    assert report.loc["a", "adverse_impact_ratio"] == pytest.approx(1.0)
    assert report.loc["b", "adverse_impact_ratio"] == pytest.approx(0.625)
    assert not report.loc["a", "below_four_fifths"]
    assert report.loc["b", "below_four_fifths"]
    assert report.loc["a", ["scored", "approved", "outcomes", "defaults"]].tolist() == [10, 8, 4,
                                                                                      2]
    assert report.loc["a", "default_rate"] == pytest.approx(0.5)
    assert report.loc["b", "default_rate"] == pytest.approx(0.5)
    assert report.loc["a", "auc"] == pytest.approx(1.0)
    assert report.loc["b", "auc"] == pytest.approx(0.25)


def test_a_ratio_of_exactly_four_fifths_passes() -> None:
    frame = pd.DataFrame({"g": ["x"] * 5 + ["y"] * 5, "score": 0.3,
                          "approved": [True] * 5 + [True] * 4 + [False], "outcome": np.nan})
    report = fairness_report(frame, ["g"]).set_index("group")
    assert report.loc["y", "adverse_impact_ratio"] == pytest.approx(0.8)
    assert not report["below_four_fifths"].any()
    assert math.isnan(report.loc["x", "default_rate"]) and math.isnan(report.loc["x", "auc"])


def test_age_is_reported_in_its_declared_bands_and_missing_values_are_a_group() -> None:
    assert band_labels((25, 35, 50, 65)) == ["<25", "25–<35", "35–<50", "50–<65", "≥65"]
    ages = pd.Series([19, 25, 34, 35, 64, 65, 90, None])
    assert banded(ages, (25, 35, 50, 65)).tolist() == [
        "<25", "25–<35", "25–<35", "35–<50", "50–<65", "≥65", "≥65", MISSING_GROUP]
    frame = pd.DataFrame({"age": ages, "score": 0.2, "approved": True, "outcome": 0})
    report = fairness_report(frame, ["age"], bands={"age": (25, 35, 50, 65)})
    # bands in their order (an empty band is left out), missing last
    assert report["group"].tolist() == ["<25", "25–<35", "35–<50", "50–<65", "≥65",
                                        MISSING_GROUP]
    assert report["scored"].tolist() == [1, 2, 1, 1, 2, 1]


def test_weighted_rows_give_the_report_of_the_rows_they_stand_for() -> None:
    rows = hand_made()
    keys = ["sex", "score", "approved", "outcome"]
    counts = (rows.assign(outcome=rows["outcome"].fillna(-1)).groupby(keys).size()
              .rename("rows").reset_index().replace({"outcome": {-1: np.nan}}))
    assert len(counts) < len(rows)
    weighted = fairness_report(counts, ["sex"], weight="rows")
    pd.testing.assert_frame_equal(weighted, fairness_report(rows, ["sex"]))


def test_report_from_sql_counts_reads_labels_and_outcomes_in_the_tasks_words() -> None:
    counts = pd.DataFrame({"value": ["f", "f", "m", "m"], "label": ["approve", "decline"] * 2,
                           "outcome": [0, 1, None, 1], "score": [0.2, 0.7, 0.1, 0.6],
                           "rows": [3, 1, 4, 4]})
    report = report_from_counts({"sex": counts}, approve="approve", positive=1).set_index(
        "group")
    assert report.loc["f", "approval_rate"] == pytest.approx(0.75)
    assert report.loc["m", "approval_rate"] == pytest.approx(0.5)
    assert report.loc["m", "adverse_impact_ratio"] == pytest.approx(0.5 / 0.75)
    assert report.loc["m", ["outcomes", "defaults"]].tolist() == [4, 4]
    assert report.loc["f", "auc"] == pytest.approx(1.0)


def test_weighted_auc_counts_ties_as_half() -> None:
    assert weighted_auc(np.array([0.5, 0.5]), np.array([1, 0]), np.ones(2)) == 0.5
    assert weighted_auc(np.array([0.9, 0.1]), np.array([1, 0]), np.array([2.0, 3.0])) == 1.0
    assert math.isnan(weighted_auc(np.array([0.9]), np.array([1]), np.ones(1)))


def test_missing_columns_are_named() -> None:
    with pytest.raises(KeyError, match=r"lacks columns \['sex'\]"):
        fairness_report(hand_made().drop(columns="sex"), ["sex"])


def test_protected_declaration_rules() -> None:
    assert Protected(("sex", "age")).excluded == ("sex", "age")
    assert Protected(("sex",), use=True, note="regulator-approved").excluded == ()
    with pytest.raises(ValueError, match="must say why in `note`"):
        Protected(("sex",), use=True)
    with pytest.raises(ValueError, match="not a protected column"):
        Protected(("sex",), bands={"age": (30,)})
    with pytest.raises(ValueError, match="strictly increasing"):
        Protected(("age",), bands={"age": (30, 30)})
    with pytest.raises(ValueError, match="unique"):
        Protected(("sex", "sex"))
