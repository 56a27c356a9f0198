"""Live metrics per Kind: ledger rows joined with arriving outcomes, realised metrics exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from core.kinds.base import ledger_frame
from core.kinds.forecasting import Forecasting
from core.kinds.images import ImageClassification
from core.kinds.tabular import TabularClassification


def test_tabular_joins_arrived_labels_and_scores_auc_ks_f1() -> None:
    kind = TabularClassification(target="default", id="id", time="applied")
    scores = np.array([0.9, 0.8, 0.3, 0.2, 0.6, 0.1])
    ledger = ledger_frame(6, [str(i) for i in range(6)], scores)
    frame = pd.DataFrame({"id": range(7), "default": [1, 0, 1, 0, None, 0, 1],
                          "applied": pd.to_datetime(["2024-01-05"] * 3 + ["2024-02-01"] * 4)})
    realised = kind.realised(None, frame, ledger)
    assert sorted(realised["entity_key"]) == ["0", "1", "2", "3", "5"]  # 4 unlabelled, 6 unscored
    metrics = kind.live_metrics(realised)
    y, p = [1, 0, 1, 0, 0], [0.9, 0.8, 0.3, 0.2, 0.1]
    assert metrics["n"] == 5
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, p))
    assert metrics["ks"] == pytest.approx(2 / 3)  # at 0.3: every positive, 1 of 3 negatives
    assert metrics["f1"] == pytest.approx(0.5)  # cut-off 0.5: one hit, one false alarm, one miss
    assert set(pd.to_datetime(realised["at"]).dt.month) == {1, 2}


def test_forecasting_scores_against_the_value_h_steps_later_and_the_random_walk() -> None:
    kind = Forecasting(series="ticker", time="date", target="close", horizon=2)
    days = pd.date_range("2024-01-01", periods=4, freq="D")
    frame = pd.DataFrame({"ticker": ["A"] * 4, "date": days, "close": [10.0, 12.0, 11.0, 15.0]})
    # From origin day 1 (close 10): h=1 says 11, h=2 says 13; from day 3 (11): h=1 says 14.
    ledger = ledger_frame(3, ["A", "A", "A"], [11.0, 13.0, 14.0],
                          as_of=np.array([days[0], days[0], days[2]]),
                          horizon=np.array([1, 2, 1]), lower=np.array([10.5, 12.0, 14.5]),
                          upper=np.array([12.5, 14.0, 16.0]))
    realised = kind.realised(None, frame, ledger)
    assert list(realised["actual"]) == [12.0, 11.0, 15.0]
    assert list(realised["baseline"]) == [10.0, 10.0, 11.0]
    metrics = kind.live_metrics(realised)
    assert metrics["mae"] == pytest.approx((1 + 2 + 1) / 3)
    assert metrics["naive_mae"] == pytest.approx((2 + 1 + 4) / 3)
    assert metrics["mae_ratio"] == pytest.approx(4 / 7)
    assert metrics["coverage80"] == pytest.approx(2 / 3)  # 11 is below [12, 14]


def test_forecasting_log_returns_compare_with_a_zero_return() -> None:
    kind = Forecasting(series="s", time="t", target="p", horizon=1, transform="log_return")
    days = pd.date_range("2024-01-01", periods=2, freq="D")
    frame = pd.DataFrame({"s": ["X", "X"], "t": days, "p": [100.0, 110.0]})
    ledger = ledger_frame(1, ["X"], [0.05], as_of=np.array([days[0]]), horizon=np.array([1]))
    realised = kind.realised(None, frame, ledger)
    assert realised["actual"].iloc[0] == pytest.approx(np.log(1.1))
    metrics = kind.live_metrics(realised)
    assert metrics["mae_ratio"] == pytest.approx(abs(0.05 - np.log(1.1)) / np.log(1.1))


def test_images_score_the_positive_class_and_the_decisions_made() -> None:
    kind = ImageClassification(labels=("benign", "malignant"), positive="malignant")
    ledger = ledger_frame(4, ["a", "b", "c", "d"], [0.9, 0.7, 0.2, 0.4],
                          label=np.array(["malignant", "benign", "benign", "malignant"],
                                         dtype=object))
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"],
                          "label": ["malignant", "malignant", "benign", "benign"]})
    metrics = kind.live_metrics(kind.realised(None, frame, ledger))
    assert metrics["auc"] == pytest.approx(1.0)
    assert metrics["f1"] == pytest.approx(0.5)  # decisions: one hit, one miss, one false alarm


def test_nothing_arrived_gives_no_rows_and_no_figures() -> None:
    kind = TabularClassification(target="default", id="id")
    ledger = ledger_frame(2, ["1", "2"], [0.4, 0.6])
    frame = pd.DataFrame({"id": [1, 2], "default": [None, None]})
    realised = kind.realised(None, frame, ledger)
    assert realised.empty
    assert kind.live_metrics(realised)["n"] == 0
