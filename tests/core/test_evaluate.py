"""Every metric on a hand-computed example; splits keep class mix and time order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import evaluate

# Worked by hand: positives score 0.35 and 0.8, negatives 0.1 and 0.4.
Y = np.array([0, 0, 1, 1])
P = np.array([0.1, 0.4, 0.35, 0.8])


def test_auc_counts_winning_pairs() -> None:
    # pairs (pos, neg): 0.35>0.1 win, 0.35<0.4 loss, 0.8 beats both -> 3/4
    assert evaluate.auc(Y, P) == pytest.approx(0.75)
    assert evaluate.gini(Y, P) == pytest.approx(0.5)
    assert evaluate.auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_ks_is_the_largest_cdf_gap() -> None:
    # cumulative bad 0, .5, .5, 1 vs good .5, .5, 1, 1 in score order -> 0.5
    assert evaluate.ks(Y, P) == pytest.approx(0.5)
    # tied scores cannot be split by a threshold
    assert evaluate.ks(np.array([0, 1]), np.array([0.3, 0.3])) == pytest.approx(0.0)


def test_pr_auc_is_average_precision() -> None:
    # precision 1 at recall .5 (0.8), 2/3 at recall 1 (0.35) -> .5 + .5 * 2/3
    assert evaluate.pr_auc(Y, P) == pytest.approx(0.5 + 1 / 3)


def test_brier_and_ece() -> None:
    assert evaluate.brier(Y, P) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    # each score alone in its bin: |0-.1| + |0-.4| + |1-.35| + |1-.8| over 4 rows
    assert evaluate.ece(Y, P) == pytest.approx((0.1 + 0.4 + 0.65 + 0.2) / 4)
    # 0.2 and 0.25 share bin 2: |mean y - mean p| = |0.5 - 0.225|; p = 1.0 lands in the last bin
    assert evaluate.ece(np.array([0, 1, 1]), np.array([0.2, 0.25, 1.0])) == pytest.approx(
        (2 * 0.275 + 0.0) / 3)


def test_error_rate_and_f1_at_the_cutoff() -> None:
    assert evaluate.error_rate(Y, P) == pytest.approx(0.25)  # only 0.8 called positive
    assert evaluate.f1(Y, P) == pytest.approx(2 / 3)  # tp 1, called 1, positives 2
    assert evaluate.error_rate(Y, P, cutoff=0.3) == pytest.approx(0.25)  # 0.4 wrongly called
    assert evaluate.f1(Y, P, cutoff=0.9) == 0.0


def test_classification_metrics_names() -> None:
    metrics = evaluate.classification_metrics(Y, P)
    assert set(metrics) == {"auc", "ks", "gini", "pr_auc", "brier", "ece", "error_rate", "f1"}
    assert all(isinstance(v, float) for v in metrics.values())


def test_metric_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="both classes"):
        evaluate.auc(np.array([1, 1]), np.array([0.2, 0.3]))
    with pytest.raises(ValueError, match="same length"):
        evaluate.brier(np.array([1, 0]), np.array([0.2]))


def test_stratified_split_keeps_the_class_mix() -> None:
    y = np.array([0] * 80 + [1] * 20)
    parts = evaluate.stratified_split(y, (0.6, 0.2, 0.2), seed=1)
    assert [len(p) for p in parts] == [60, 20, 20]
    assert [int(y[p].sum()) for p in parts] == [12, 4, 4]
    assert len(np.unique(np.concatenate(parts))) == 100
    again = evaluate.stratified_split(y, (0.6, 0.2, 0.2), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))


def test_time_split_never_trains_on_the_future() -> None:
    times = pd.Series(pd.to_datetime(["2024-03-01", "2024-01-01", "2024-02-01", "2024-04-01",
                                      "2024-05-01"]))
    fit, cal, test = evaluate.time_split(times, (0.6, 0.2, 0.2))
    assert times[fit].max() < times[cal].min() <= times[test].min()
    assert sorted(fit.tolist()) == [0, 1, 2]


def test_repeated_folds_and_leaderboard() -> None:
    y = np.array([0, 1] * 10)
    folds = list(evaluate.repeated_stratified_folds(y, n_splits=5, n_repeats=3, seed=0))
    assert len(folds) == 15
    assert all(y[test].sum() == 2 for _, test in folds)
    board = evaluate.leaderboard({"a": {"auc": 0.7}, "b": {"auc": 0.8}}, "auc")
    assert [name for name, _ in board] == ["b", "a"]
    assert [n for n, _ in evaluate.leaderboard({"a": {"mae": 2}, "b": {"mae": 1}}, "mae",
                                               higher_is_better=False)] == ["b", "a"]
    with pytest.raises(KeyError, match="no 'auc'"):
        evaluate.leaderboard({"a": {"ks": 1.0}}, "auc")
