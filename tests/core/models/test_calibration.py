"""Calibrators fix miscalibrated scores, keep the ranking, and round-trip through JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.models.calibration import Calibrator


def overconfident(n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return 1 / (1 + np.exp(-3 * z)), y  # log-odds 3x too large


def test_platt_recovers_the_true_slope() -> None:
    p, y = overconfident()
    calibrator = Calibrator("platt").fit(p, y)
    assert calibrator.params_["slope"] == pytest.approx(1 / 3, abs=0.05)
    assert calibrator.params_["intercept"] == pytest.approx(0.0, abs=0.1)
    q = calibrator.transform(p)
    assert np.all(np.diff(q[np.argsort(p)]) >= 0)  # ranking kept


def test_isotonic_is_monotone_and_bounded() -> None:
    p, y = overconfident()
    q = Calibrator("isotonic").fit(p, y).transform(np.linspace(0, 1, 101))
    assert np.all(np.diff(q) >= 0) and q.min() >= 0 and q.max() <= 1


@pytest.mark.parametrize("method", ["platt", "isotonic", "identity"])
def test_json_round_trip_is_exact(method: str) -> None:
    p, y = overconfident(500)
    calibrator = Calibrator(method).fit(p, y)
    again = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    assert np.array_equal(again.transform(p), calibrator.transform(p))


def test_errors_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="both classes"):
        Calibrator("platt").fit(np.array([0.2, 0.3]), np.array([1, 1]))
    with pytest.raises(ValueError, match="unknown calibration"):
        Calibrator("beta").fit(np.array([0.2, 0.3]), np.array([0, 1]))
    with pytest.raises(RuntimeError, match="not fitted"):
        Calibrator("platt").transform(np.array([0.5]))
