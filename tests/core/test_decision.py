"""Cost curve and the cost-minimising threshold."""

import numpy as np
import pytest

from core.decision import Costs, best_threshold, cost_curve, policy_costs


def test_cost_curve_counts_misses_and_needless_stops():
    y = np.array([1, 0, 0, 1])
    p = np.array([0.9, 0.6, 0.1, 0.3])
    grid, cost = cost_curve(y, p, Costs(missed=10, needless=1), np.array([0.0, 0.5, 1.0]))
    # 0.0: act on all -> 2 needless; 0.5: miss one (0.3), one needless (0.6); 1.0: miss both.
    assert cost.tolist() == pytest.approx([2 / 4, 11 / 4, 20 / 4])


def test_best_threshold_separates_when_possible():
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8])
    threshold, cost = best_threshold(y, p, Costs(missed=5, needless=1))
    assert 0.3 < threshold <= 0.7
    assert cost == 0.0


def test_expensive_misses_lower_the_threshold():
    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.1
    p = np.clip(y * 0.3 + rng.random(2000) * 0.7, 0, 1)
    low, _ = best_threshold(y, p, Costs(missed=100, needless=1))
    high, _ = best_threshold(y, p, Costs(missed=1, needless=100))
    assert low < high


def test_policy_costs_and_bad_costs():
    assert policy_costs(np.array([1, 0, 0, 0]), Costs(8, 2)) == {"never": 2.0, "always": 1.5}
    with pytest.raises(ValueError, match="non-negative"):
        Costs(-1, 2)
    with pytest.raises(ValueError, match="same non-zero length"):
        cost_curve(np.array([1]), np.array([0.1, 0.2]), Costs(1, 1))
