"""The classifier charts' numbers against sklearn / scipy / direct counts on the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score, roc_curve

from dashboards.components import classifier_charts as charts


@pytest.fixture(scope="module")
def data() -> charts.Outcomes:
    """2,000 rows, scores rounded to two places (ties, as a scorecard's points make)."""
    rng = np.random.default_rng(7)
    y = rng.random(2000) < 0.3
    p = np.clip(rng.normal(0.25 + 0.2 * y, 0.15), 0, 1).round(2)
    return charts.Outcomes.of(y.astype(float), p)


def test_outcomes_keep_rows_with_both_values_and_refuse_other_labels() -> None:
    kept = charts.Outcomes.of([1, 0, np.nan, 1], [0.9, np.nan, 0.2, 0.4])
    assert kept.rows == 2 and kept.positives == 2 and not kept.both_classes
    assert kept.p.tolist() == [0.9, 0.4]
    with pytest.raises(ValueError, match=r"0 or 1, got \[2.0\]"):
        charts.Outcomes.of([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="3 outcomes but 2 scores"):
        charts.Outcomes.of([0, 1, 1], [0.1, 0.2])


def test_roc_auc_from_the_chart_data_equals_sklearns(data: charts.Outcomes) -> None:
    roc = charts.roc_frame(data)
    assert charts.auc_of(roc) == pytest.approx(roc_auc_score(data.y, data.p), abs=1e-12)
    assert roc[["fpr", "tpr"]].iloc[0].tolist() == [0, 0]
    assert roc[["fpr", "tpr"]].iloc[-1].tolist() == [1, 1]
    figure = charts.roc_figure(roc, charts.confusion_at(data, 0.5))
    assert figure.layout.title.text == f"ROC, AUC {roc_auc_score(data.y, data.p):.3f}"


def test_ks_is_the_largest_tpr_minus_fpr_and_the_two_sample_statistic(
        data: charts.Outcomes) -> None:
    ks, at = charts.ks_of(charts.roc_frame(data))
    fpr, tpr, thresholds = roc_curve(data.y, data.p)
    assert ks == pytest.approx(np.max(tpr - fpr), abs=1e-12)
    assert at == thresholds[np.argmax(tpr - fpr)]
    # Credit's KS: the widest gap between the score distributions of bads and goods.
    assert ks == pytest.approx(ks_2samp(data.p[data.y == 1], data.p[data.y == 0]).statistic,
                               abs=1e-12)


def test_confusion_counts_sum_to_the_rows_and_follow_the_cutoff(data: charts.Outcomes) -> None:
    cutoff = 0.37
    c = charts.confusion_at(data, cutoff)
    assert c.rows == data.rows == 2000
    flagged = data.p >= cutoff  # at or above: flagged, as the tabular predictor decides
    assert c.true_positive == int((flagged & (data.y == 1)).sum())
    assert c.false_positive == int((flagged & (data.y == 0)).sum())
    assert c.false_negative == int((~flagged & (data.y == 1)).sum())
    assert c.passed == int((~flagged).sum()) and c.flagged == int(flagged.sum())
    assert c.sensitivity == c.true_positive / data.positives
    # The rate chart at the same cut-off says the same numbers (one truth per number).
    rates = charts.cutoff_frame(data, [cutoff])
    assert rates["pass_rate"].iloc[0] == pytest.approx(c.pass_rate)
    assert rates["positive_rate_passed"].iloc[0] == pytest.approx(
        data.y[data.p < cutoff].mean())
    assert rates["positive_rate_passed"].iloc[0] == pytest.approx(c.positive_rate_passed)


def test_cutoff_rates_run_from_nobody_to_everybody_passed(data: charts.Outcomes) -> None:
    rates = charts.cutoff_frame(data)
    assert len(rates) == 101
    first, last = rates.iloc[0], rates.iloc[-1]
    assert first["passed"] == int((data.p < 0).sum()) == 0 and np.isnan(
        first["positive_rate_passed"])
    assert last["passed"] == int((data.p < 1.0).sum())
    assert rates["pass_rate"].is_monotonic_increasing


def test_gains_and_lift_count_the_positives_in_the_top_scores() -> None:
    p = np.linspace(1, 0, 100, endpoint=False)  # no ties: groups are exact
    y = (np.arange(100) % 3 == 0).astype(float)  # 34 positives
    data = charts.Outcomes.of(y, p)
    gains = charts.gains_frame(data)
    assert gains["rows"].tolist() == list(range(10, 101, 10))
    assert gains["positives"].iloc[0] == int(y[:10].sum()) == 4
    assert gains["gains"].iloc[0] == pytest.approx(4 / 34)
    assert gains["lift"].iloc[0] == pytest.approx((4 / 34) / 0.1)
    assert gains["gains"].iloc[-1] == 1.0 and gains["lift"].iloc[-1] == pytest.approx(1.0)


def test_calibration_bins_hold_equal_rows_and_their_means(data: charts.Outcomes) -> None:
    table = charts.calibration_frame(data, bins=10)
    assert table["rows"].tolist() == [200] * 10
    order = np.argsort(data.p, kind="mergesort")
    first = order[:200]
    assert table["mean_score"].iloc[0] == pytest.approx(data.p[first].mean())
    assert table["observed_rate"].iloc[0] == pytest.approx(data.y[first].mean())
    expected = np.mean([abs(data.p[part].mean() - data.y[part].mean())
                        for part in np.array_split(order, 10)])
    assert charts.ece_of(table) == pytest.approx(expected)


def test_curves_need_both_outcomes() -> None:
    one_class = charts.Outcomes.of([0, 0, 0], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="needs both outcomes"):
        charts.roc_frame(one_class)
    with pytest.raises(ValueError, match="need positives"):
        charts.gains_frame(one_class)
    assert charts.confusion_at(one_class, 0.5).false_positive == 2


def test_figures_draw_from_the_frames(data: charts.Outcomes) -> None:
    roc = charts.roc_frame(data)
    c = charts.confusion_at(data, 0.5)
    heat = charts.confusion_figure(c, "decline", "approve", "default", "no default")
    assert [list(row) for row in heat.data[0].z] == [[c.false_negative, c.true_positive],
                                                     [c.true_negative, c.false_positive]]
    assert list(heat.data[0].x) == ["approve", "decline"]
    ks = charts.ks_figure(roc)
    assert ks.layout.title.text == f"KS {charts.ks_of(roc)[0]:.3f}"
    rates = charts.cutoff_figure(charts.cutoff_frame(data), 0.5, "approve", "default")
    assert rates.layout.shapes[0].x0 == 0.5  # the page's cut-off marked
    assert len(charts.gains_figure(charts.gains_frame(data)).data) == 3
    assert charts.calibration_figure(charts.calibration_frame(data)).layout.title.text.startswith(
        "Calibration, ECE ")
