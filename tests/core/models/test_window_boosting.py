"""The window LightGBM: padding-aware window statistics, the refit budget."""

from __future__ import annotations

import numpy as np
import pytest

from core.models.window_boosting import WindowLightGBM, window_statistics


def test_window_statistics_skip_the_front_padding() -> None:
    real = np.array([[1.0], [2.0], [4.0]])
    window = np.concatenate([np.repeat(real[:1], 2, axis=0), real])[None]  # 2 rows padding
    stats = window_statistics(window)[0]
    last, mean, std, slope, lo, hi, count = stats
    assert (last, lo, hi, count) == (4.0, 1.0, 4.0, 3.0)
    assert mean == pytest.approx(7 / 3) and std == pytest.approx(np.std([1, 2, 4]))
    assert slope == pytest.approx(1.5)  # least squares through (0, 1), (1, 2), (2, 4)


def test_recent_statistics_read_the_last_rows_and_skip_padding() -> None:
    real = np.array([[1.0], [2.0], [4.0], [8.0]])
    window = np.concatenate([np.repeat(real[:1], 3, axis=0), real])[None]  # 7 rows, 3 padding
    stats = window_statistics(window, recent=(2, 6))[0]
    assert len(stats) == 7 + 2 * 2
    mean2, slope2, mean6, slope6 = stats[7:]
    assert (mean2, slope2) == (pytest.approx(6.0), pytest.approx(4.0))  # rows 4, 8
    # six rows back reach into the padding: only the four real rows count
    assert mean6 == pytest.approx(3.75) and slope6 == pytest.approx(stats[3])
    with pytest.raises(ValueError, match="recent"):
        window_statistics(window, recent=(8,))


def test_recent_statistics_round_trip_with_the_model(tmp_path) -> None:
    rng = np.random.default_rng(1)
    windows = rng.normal(size=(400, 12, 2)).astype(np.float32)
    target = 5 * windows[:, -3:, 0].mean(axis=1) + rng.normal(0, 0.1, 400)
    model = WindowLightGBM(n_estimators=60, recent=(3,), n_jobs=1).fit(
        windows[100:], target[100:], (windows[:100], target[:100]))
    model.save(tmp_path)
    again = WindowLightGBM.load(tmp_path)
    assert again.recent == (3,)
    np.testing.assert_array_equal(again.predict_quantiles(windows[:50]),
                                  model.predict_quantiles(windows[:50]))


def test_the_refit_runs_the_rounds_early_stopping_chose() -> None:
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(600, 5, 2)).astype(np.float32)
    target = 10 * windows[:, -1, 0] + rng.normal(0, 1, 600)
    valid = (windows[:200], target[:200])
    model = WindowLightGBM(n_estimators=400, learning_rate=0.3, early_stopping_rounds=5,
                           n_jobs=1).fit(windows[200:], target[200:], valid)
    assert 10 <= model.best_iteration_ < 400
    assert model.refit_params() == {"n_estimators": model.best_iteration_,
                                    "early_stopping_rounds": 0}
    again = WindowLightGBM(n_estimators=400, learning_rate=0.3, n_jobs=1).set_params(
        **model.refit_params()).fit(windows, target, valid)
    assert again.best_iteration_ == model.best_iteration_
    assert again.boosters_[1].num_trees() == model.best_iteration_  # no early stop
