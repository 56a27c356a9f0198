"""Bootstrap intervals of held-out metrics: the point on every unit once, resamples of units."""

from __future__ import annotations

import numpy as np
import pytest

from core import intervals
from core.evaluate import auc, brier, gini, ks
from core.intervals import (
    Interval,
    auc_statistic,
    binary_statistics,
    bootstrap,
    bootstrap_values,
    classification_intervals,
    error_intervals,
    interval_of,
    mean_statistic,
    ratio_statistic,
    recorded,
    resample_counts,
)


def scored(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels with a 30% positive rate and scores that rank them (ties from rounding)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = np.clip(0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1).round(2)
    return y, p


def test_each_unit_drawn_once_gives_the_point_metrics() -> None:
    y, p = scored(500)
    once = np.ones((1, len(y)), dtype=int)
    statistic, order = binary_statistics(y == 1, p)
    value_auc, value_ks, value_brier = statistic(once[:, order])[0]
    # Ties (scores rounded to 0.01) count as core.evaluate counts them.
    assert value_auc == pytest.approx(auc(y, p), abs=1e-9)
    assert value_ks == pytest.approx(ks(y, p), abs=1e-6)
    assert value_brier == pytest.approx(brier(y, p), abs=1e-6)
    assert auc_statistic(y == 1, p)(once)[0] == pytest.approx(auc(y, p), abs=1e-9)
    twice = np.where(np.arange(len(y)) < 250, 2, 0)[None, :]  # the first half, twice each
    assert auc_statistic(y == 1, p)(twice)[0] == pytest.approx(auc(y[:250], p[:250]), abs=1e-9)
    errors = np.array([1.0, -2.0, 3.0, -4.0])
    assert mean_statistic(errors)(np.array([[1, 1, 1, 1], [0, 2, 0, 2]])).tolist() == [-0.5, -3.0]
    rmse = ratio_statistic(errors ** 2, np.ones(4), root=True)(np.ones((1, 4)))[0]
    assert rmse == pytest.approx(np.sqrt(np.mean(errors ** 2)))


def test_resample_counts_draw_every_unit_the_right_number_of_times() -> None:
    counts = resample_counts(np.random.default_rng(0), 50, 40)
    assert counts.shape == (50, 40) and (counts.sum(axis=1) == 40).all()
    assert counts.min() >= 0 and 0.3 < (counts == 0).mean() < 0.45  # ~ (1 - 1/n)^n = 0.37


def test_the_classifier_interval_holds_its_point_and_narrows_with_more_rows() -> None:
    small, large = scored(300), scored(3000)
    a, b = classification_intervals(*small), classification_intervals(*large)
    for (y, p), found in ((small, a), (large, b)):
        assert set(found) == {"auc", "gini", "ks", "brier"}
        point = {"auc": auc(y, p), "gini": gini(y, p), "ks": ks(y, p), "brier": brier(y, p)}
        for name, interval in found.items():
            assert interval.contains(point[name]), (name, interval, point[name])
            assert interval.level == 0.95 and interval.resamples == 200
            assert interval.units == len(y) and interval.over == "test rows"
    width = {name: (i.high - i.low) for name, i in a.items()}
    assert all(b[name].high - b[name].low < 0.6 * width[name] for name in width)  # ~1/sqrt(10)
    assert 0.05 < width["auc"] < 0.2  # about 4 standard errors of an AUC on 300 rows
    assert a["gini"].low == pytest.approx(2 * a["auc"].low - 1)  # the same draws


def test_the_same_seed_draws_the_same_resamples_in_any_chunking(
        monkeypatch: pytest.MonkeyPatch) -> None:
    y, p = scored(400)
    statistic = {"auc": auc_statistic(y == 1, p)}
    whole = bootstrap_values(statistic, len(y))["auc"]
    monkeypatch.setattr(intervals, "MAX_CELLS", 400 * 7)  # chunks of 7 resamples
    assert np.array_equal(bootstrap_values(statistic, len(y))["auc"], whole)
    other = bootstrap_values(statistic, len(y), seed=1)["auc"]
    assert not np.array_equal(other, whole)


def test_units_are_resampled_whole() -> None:
    rng = np.random.default_rng(0)
    # 20 engines of 10 cuts each: an engine's cuts share its bias, so they are not independent.
    units = np.repeat(np.arange(20), 10)
    error = rng.normal(0, 5, 20)[units] + rng.normal(0, 1, 200)
    by_unit = error_intervals(error, units, over="held-out units")
    by_row = error_intervals(error, np.arange(200), over="held-out rows")
    assert by_unit["rmse"].units == 20 and by_row["rmse"].units == 200
    assert by_unit["rmse"].contains(float(np.sqrt(np.mean(error ** 2))))
    assert by_unit["mae"].contains(float(np.mean(np.abs(error))))
    # Rows drawn one by one hide the shared bias: an interval far too narrow.
    assert (by_unit["mae"].high - by_unit["mae"].low) > 2 * (by_row["mae"].high
                                                             - by_row["mae"].low)
    covered = np.abs(error) < 5
    named = error_intervals(error, units, over="held-out units", covered=covered,
                            names={"coverage": "coverage80"})
    assert set(named) == {"rmse", "mae", "coverage80"}
    assert named["coverage80"].contains(float(covered.mean()))


def test_undefined_resamples_are_left_out_and_all_undefined_is_nan() -> None:
    interval = interval_of(np.array([np.nan, 0.5, 0.7, np.nan]), units=4, over="test rows")
    assert (interval.low, interval.high) == (pytest.approx(0.505), pytest.approx(0.695))
    assert interval.resamples == 4
    empty = interval_of(np.full(3, np.nan), units=4, over="test rows")
    assert np.isnan(empty.low) and np.isnan(empty.high)
    # Two positives among 30 rows: some resamples draw none, and AUC is undefined there.
    y, p = np.r_[1, 1, np.zeros(28)], np.linspace(0, 1, 30)
    found = bootstrap({"auc": auc_statistic(y == 1, p)}, 30, over="test rows")["auc"]
    assert 0 <= found.low <= found.high <= 1
    with pytest.raises(ValueError, match="at least one held-out unit"):
        bootstrap_values({"auc": auc_statistic(y == 1, p)}, 0)


def test_recorded_reads_what_the_registry_keeps() -> None:
    interval = Interval(0.7, 0.8, 0.95, 200, 300, "test rows")
    params = {"model": {}, intervals.PARAMS_KEY: {"auc": interval.to_dict()}}
    assert recorded(params) == {"auc": interval}
    assert recorded({"model": {}}) == {} and recorded(None) == {}
    assert interval.contains(0.8 + 5e-6) and not interval.contains(0.81)
