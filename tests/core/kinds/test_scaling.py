"""The scaling bench's parts: sizes and their guard, the growth exponent, the timed loop."""

from __future__ import annotations

import pandas as pd
import pytest

from core.kinds.scaling import MAX_ROWS, SIZES, growth, parse_sizes, scaling
from tests.fakes import make_task


def test_sizes_default_to_four_decades_and_parse_sorted_and_unique() -> None:
    assert parse_sizes(None, None) == SIZES == (1_000, 10_000, 100_000, 1_000_000)
    assert parse_sizes("400, 200,200", None) == (200, 400)
    assert parse_sizes("10_000,1000", None) == (1_000, 10_000)
    assert parse_sizes((300, 100), 500) == (100, 300)


@pytest.mark.parametrize(("sizes", "max_rows", "message"), [
    ("1000,lots", None, "whole row counts"),
    ("", None, "at least 2"),
    ("1,100", None, "at least 2"),
    ("1000,2000000", None, f"above --max-rows {MAX_ROWS:,}"),
    ("1000,20000", 10_000, "size 20,000 is above --max-rows 10,000"),
])
def test_bad_sizes_are_refused_in_words(sizes: str, max_rows: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sizes(sizes, max_rows)


def test_growth_is_the_log_log_slope_from_ten_thousand_rows() -> None:
    sizes = [1_000, 10_000, 100_000, 1_000_000]
    # Linear from 10^4 up; the 10^3 fit's fixed cost would bend the slope if it counted.
    assert growth(sizes, [5.0, 1.0, 10.0, 100.0]) == pytest.approx(1.0)
    assert growth(sizes, [0.1, 1.0, 100.0, 10_000.0]) == pytest.approx(2.0)
    assert growth([200, 400], [1.0, 2.0]) == pytest.approx(1.0)  # too few from 10^4: all
    assert growth([1_000], [1.0]) is None


def test_the_loop_times_each_fit_on_the_generated_rows_and_scores_one_held_out_sample() -> None:
    task = make_task()
    fits: list[tuple[str, int]] = []
    scored: list[int] = []

    def fit(name: str, rows: pd.DataFrame) -> str:
        fits.append((name, len(rows)))
        return name

    def score(model: str, rows: pd.DataFrame) -> float:
        scored.append(len(rows))
        return 0.75

    result = scaling(task, ["a", "b"], fit, score, metric="auc", seed=0, sizes=[20, 40])
    # one untimed warm-up fit per candidate at the smallest size, then every size
    assert fits == [("a", 20), ("b", 20), ("a", 20), ("b", 20), ("a", 40), ("b", 40)]
    assert scored == [40] * 4 and result["test_rows"] == 40 and result["sizes"] == [20, 40]
    assert set(result["models"]) == {"a", "b"} and set(result["growth"]) == {"a", "b"}
    for runs in result["models"].values():
        assert set(runs) == {"20", "40"}
        assert all(run["auc"] == 0.75 and run["fit_s"] >= 0 for run in runs.values())
