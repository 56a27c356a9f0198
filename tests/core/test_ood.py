"""Out-of-distribution flags: values outside the champion's training range, unseen categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.monitor import reference_profile
from core.ood import ABOVE, BELOW, UNSEEN, describe, out_of_range


@pytest.fixture
def reference() -> dict:
    training = pd.DataFrame({"age": [20, 30, 40, 50, 75], "amount": [100.0, 250.0, 400.0,
                                                                    np.nan, 900.0],
                             "housing": ["rent", "own", "own", "free", "rent"]})
    return reference_profile(training, ["age", "amount", "housing"])


def test_the_reference_keeps_the_training_range(reference) -> None:
    assert (reference["age"]["low"], reference["age"]["high"]) == (20.0, 75.0)
    assert (reference["amount"]["low"], reference["amount"]["high"]) == (100.0, 900.0)


def test_a_value_outside_the_range_is_flagged_and_one_inside_is_not(reference) -> None:
    rows = pd.DataFrame({"age": [19, 20, 75, 76, 45], "amount": [500.0, np.nan, 100.0, 900.0,
                                                                 901.0],
                         "housing": ["own", "rent", None, "free", "own"]})
    flags = out_of_range(reference, rows)
    assert flags[["row", "feature", "why"]].values.tolist() == [
        [0, "age", BELOW], [3, "age", ABOVE], [4, "amount", ABOVE]]
    assert flags.loc[1, ["low", "high"]].tolist() == [20.0, 75.0]
    assert describe(flags) == ["age = 19 is below the training range 20–75",
                               "age = 76 is above the training range 20–75",
                               "amount = 901 is above the training range 100–900"]


def test_a_margin_widens_the_range_by_a_share_of_it(reference) -> None:
    rows = pd.DataFrame({"age": [80, 81.5]})  # range 20-75 (55), 10% margin: up to 80.5
    assert out_of_range(reference, rows, margin=0.1)["row"].tolist() == [1]
    with pytest.raises(ValueError, match="margin must be >= 0"):
        out_of_range(reference, rows, margin=-0.1)


def test_an_unseen_category_is_flagged_only_when_the_profile_lists_every_one(reference) -> None:
    rows = pd.DataFrame({"housing": ["own", "castle"]})
    flags = out_of_range(reference, rows)
    assert flags[["row", "value", "why"]].values.tolist() == [[1, "castle", UNSEEN]]
    assert describe(flags) == [f"housing = castle is {UNSEEN}"]
    # When the training rows had categories beyond the listed ones, "castle" may be one of them.
    reference["housing"]["proportions"][-2] = 0.05
    assert out_of_range(reference, rows).empty


def test_profiles_without_a_range_and_absent_features_are_left_alone(reference) -> None:
    old = {name: {k: v for k, v in entry.items() if k not in ("low", "high")}
           for name, entry in reference.items()}
    assert out_of_range(old, pd.DataFrame({"age": [500]})).empty
    assert out_of_range(reference, pd.DataFrame({"other": [1]})).empty
    assert out_of_range({"months": {"bins": [0, 12]}}, pd.DataFrame({"months": [99]})).empty
