"""Top reasons: largest positive effect first, JSON per row, values of any type."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from core.explain import top_reasons

VALUES = pd.DataFrame({
    "amount": [1200.0, np.nan],
    "status": pd.Series(['lt_0 "x"', None], dtype="str"),
    "months": [24, 6],
    "rate": [0.123456789, 2.5],
})
FEATURES = list(VALUES.columns)


def test_reasons_are_ordered_by_effect() -> None:
    contributions = np.array([[0.5, -1.0, 2.0, 0.1], [0.3, 0.7, -0.2, 0.0]])
    reasons = [json.loads(r) for r in top_reasons(contributions, VALUES, FEATURES)]
    assert reasons[0] == [
        {"feature": "months", "value": 24, "effect": 2},
        {"feature": "amount", "value": 1200, "effect": 0.5},
        {"feature": "rate", "value": 0.123457, "effect": 0.1},
    ]
    assert reasons[1] == [
        {"feature": "status", "value": None, "effect": 0.7},
        {"feature": "amount", "value": None, "effect": 0.3},
        {"feature": "rate", "value": 2.5, "effect": 0},
    ]


def test_text_is_escaped_and_ties_keep_column_order() -> None:
    contributions = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    first, second = (json.loads(r) for r in top_reasons(contributions, VALUES, FEATURES, k=2))
    assert first[0] == {"feature": "status", "value": 'lt_0 "x"', "effect": 1}
    assert [r["feature"] for r in second] == ["amount", "status"]


def test_k_larger_than_the_feature_count_and_empty_input() -> None:
    reasons = top_reasons(np.array([[0.2], [-0.1]]), VALUES[["amount"]], ["amount"], k=3)
    assert [len(json.loads(r)) for r in reasons] == [1, 1]
    assert len(top_reasons(np.zeros((0, 4)), VALUES.iloc[:0], FEATURES)) == 0


def test_returns_a_text_series_of_valid_json() -> None:
    rng = np.random.default_rng(0)
    values = pd.DataFrame({"a": rng.normal(size=500), "b": pd.Series(
        rng.choice(["ä", "b"], 500), dtype="str")})
    reasons = top_reasons(rng.normal(size=(500, 2)), values, ["a", "b"], k=2)
    assert reasons.dtype == "str" and len(reasons) == 500
    parsed = [json.loads(r) for r in reasons]
    assert all(p[0]["effect"] >= p[1]["effect"] for p in parsed)
    assert {p[0]["value"] for p in parsed if p[0]["feature"] == "b"} <= {"ä", "b"}


def test_reasons_carry_the_phrase_of_features_that_have_one() -> None:
    values = pd.DataFrame({"power": [9350.0, 100.0], "wear": [215.0, 5.0]})
    contributions = np.array([[2.0, 1.0], [0.1, 0.5]])
    out = top_reasons(contributions, values, ["power", "wear"], k=2,
                      texts={"power": ["power 9,350 W, above the 9,000 W limit", "power 100 W"]})
    first, second = (json.loads(text) for text in out)
    assert first[0] == {"feature": "power", "value": 9350,
                        "text": "power 9,350 W, above the 9,000 W limit", "effect": 2}
    assert "text" not in first[1] and second[1]["text"] == "power 100 W"
