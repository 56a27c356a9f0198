"""Every built-in Kind records bootstrap intervals over the units it holds out, per candidate."""

from __future__ import annotations

import pytest

from core.task import get_task

# Task -> (sample rows, the metrics with intervals, what the resampled units are)
EXPECTED = {
    "finance.credit_scoring": (240, {"auc", "gini", "ks", "brier"}, "test rows"),
    "healthcare.imaging_diagnosis": (240, {"auc", "accuracy", "op_sensitivity",
                                           "op_specificity"}, "test images"),
    "manufacturing.remaining_useful_life": (240, {"rmse", "mae", "coverage80"},
                                            "held-out units"),
    "finance.stock_forecasting": (240, {"mae_ratio@1", "mae@1", "rmse@1", "coverage80@1",
                                        "mae_ratio@5"}, "origin dates"),
}


def trained(name: str, rows: int):
    task = get_task(name)
    frame = task.schema.validate(task.sample(rows, 0))
    return task, task.kind.train(task, task.feature_frame(frame), profile="smoke", seed=0)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_candidate_has_intervals_over_the_held_out_units(name: str) -> None:
    rows, metrics, over = EXPECTED[name]
    task, candidates = trained(name, rows)
    for candidate in candidates:
        found = candidate.intervals
        assert set(found) == metrics, candidate.name
        assert {i.over for i in found.values()} == {over}
        # the last horizon's forecasts (stock: mae_ratio@5) span later days: fewer origins
        units = {i.units for k, i in found.items() if k != "mae_ratio@5"}
        assert len(units) == 1  # one set of draws per candidate
        params = candidate.params
        if name == "finance.credit_scoring":
            assert units == {params["test_rows"]}
        elif name == "healthcare.imaging_diagnosis":
            assert units == {params["rows"]["test"]}
        elif name == "manufacturing.remaining_useful_life":
            assert units == {len(params["valid_units"])}
        else:  # origins whose next value is known: all but the last
            assert 0 < units.pop() <= params["origins"]
        primary = task.kind.primary_metric
        assert found[primary].contains(candidate.metrics[primary])
        for metric, interval in found.items():
            assert interval.low <= interval.high, (candidate.name, metric)
    # The same draws for every candidate: equal units, so their intervals compare.
    assert len({c.intervals[task.kind.primary_metric].units for c in candidates}) == 1


def test_a_graph_task_resamples_blocks_of_origins_of_each_part() -> None:
    task, candidates = trained("traffic.flow_prediction", 480)
    for candidate in candidates:
        found = candidate.intervals
        assert set(found) == {"valid_rmse_pooled", "rmse_pooled", "mae_pooled"}
        assert "validation origins" in found["valid_rmse_pooled"].over
        assert "test origins" in found["rmse_pooled"].over
        assert found["valid_rmse_pooled"].contains(candidate.metrics["valid_rmse_pooled"])


def test_forecasts_h_steps_ahead_resample_blocks_of_h_dates() -> None:
    from core.intervals import MIN_BLOCKS, block_length

    # Blocks as long as the forecast's span while that leaves MIN_BLOCKS of them.
    assert block_length(250, 5) == 5 and block_length(30, 5) == 3 and block_length(5, 5) == 1
    assert block_length(MIN_BLOCKS * 12, 12) == 12
    task, candidates = trained("finance.stock_forecasting", 240)
    tickers = task.sample(240, 0)[task.kind.series].nunique()
    for candidate in candidates:
        last = candidate.intervals["mae_ratio@5"]
        # every ticker forecast from each date: so few dates here that blocks are single dates
        assert last.units * tickers == candidate.metrics["origins@5"]
        assert last.over == "origin dates"
        assert last.contains(candidate.metrics["mae_ratio@5"])

