"""Reference profiles are JSON-able; PSI is zero on the reference and flags real shifts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.monitor import EPSILON, psi, reference_profile, reference_rows


def frame(n: int = 1000, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "amount": rng.normal(100 + shift, 10, n),
        "region": pd.Series(rng.choice(["north", "south"], n), dtype="str"),
    })


def test_profile_shape_and_json() -> None:
    reference = reference_profile(frame(), ["amount", "region"])
    json.dumps(reference)
    amount, region = reference["amount"], reference["region"]
    assert amount["kind"] == "numeric" and len(amount["edges"]) == 9
    assert len(amount["proportions"]) == 11  # 10 buckets + missing
    assert np.allclose(amount["proportions"][:10], 0.1, atol=0.002)
    assert region["categories"] == ["north", "south"]
    assert len(region["proportions"]) == 4  # north, south, other, missing
    assert sum(region["proportions"]) == pytest.approx(1.0)
    assert reference_rows(reference) == 1000


def test_psi_zero_on_the_reference_and_large_on_a_shift() -> None:
    reference = reference_profile(frame(), ["amount", "region"])
    assert psi(reference, frame()) == pytest.approx({"amount": 0.0, "region": 0.0})
    assert psi(reference, frame(shift=10))["amount"] > 0.2


def test_psi_categorical_by_hand() -> None:
    reference = reference_profile(
        pd.DataFrame({"c": pd.Series(["a", "b"] * 50, dtype="str")}), ["c"])
    result = psi(reference, pd.DataFrame({"c": pd.Series(["a"] * 10, dtype="str")}))
    expected = (1 - 0.5) * np.log(1 / 0.5) + (EPSILON - 0.5) * np.log(EPSILON / 0.5)
    assert result["c"] == pytest.approx(expected)


def test_unseen_categories_and_missing_values_count() -> None:
    reference = reference_profile(pd.DataFrame({"c": pd.Series(["a", "b"] * 5, dtype="str"),
                                                "x": np.arange(10.0)}), ["c", "x"])
    batch = pd.DataFrame({"c": pd.Series(["z", None], dtype="str"), "x": [np.nan, np.nan]})
    result = psi(reference, batch)
    assert result["c"] > 1 and result["x"] > 1
    assert set(psi(reference, batch[["c"]])) == {"c"}  # absent columns are skipped


def test_profile_names_missing_columns() -> None:
    with pytest.raises(KeyError, match="nope"):
        reference_profile(frame(), ["nope"])
