"""How numbers read on screen: by unit, never cut, with what they are and which way is good."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from core.store.queries import ModelSummary
from dashboards.components.formats import (
    better,
    champion_sentence,
    column_label,
    compact_count,
    metric_display,
    percent,
    points_change,
    readable_columns,
    seconds,
)
from dashboards.components.tiles import Tile, count_tile, metric_tile


@pytest.mark.parametrize(("value", "shown"), [
    (0, "0"), (999, "999"), (9_999, "9,999"), (12_345, "12.3k"), (999_950, "1.0M"),
    (1_000_000, "1.0M"), (1_234_567, "1.2M"), (2_500_000_000, "2.5B"), (None, "0")])
def test_compact_counts_fit_a_tile(value: int | None, shown: str) -> None:
    assert compact_count(value) == shown


def test_a_large_count_tile_is_compact_with_the_exact_count_in_its_help() -> None:
    tile = count_tile("Predictions", 1_000_000, "rows in the ledger")
    assert tile.value == "1.0M"
    assert tile.tooltip == "Rows in the ledger. Exactly 1,000,000.".replace("Rows", "rows")
    small = count_tile("Quarantined", 2, "rows ingest rejected")
    assert (small.value, small.tooltip) == ("2", "rows ingest rejected.")


@pytest.mark.parametrize(("value", "shown"), [
    (0.0042, "<0.01 s"), (0.4213, "0.42 s"), (3.0, "3.00 s"), (12.345, "12.3 s"),
    (185.4, "3 min 05 s"), (7322, "2 h 02 min"), (float("nan"), "n/a"), (None, "n/a")])
def test_seconds_have_sensible_precision(value: float | None, shown: str) -> None:
    assert seconds(value) == shown


def test_shares_and_their_differences() -> None:
    assert percent(0.9567) == "95.7%" and percent(None) == "n/a"
    assert points_change(0.012) == "+1.2 pp" and points_change(-0.05) == "-5.0 pp"
    assert metric_display("op_sensitivity", 0.957) == "95.7%"
    assert metric_display("auc", 0.8123) == "0.812"  # AUC is no share of rows


def test_metric_tiles_say_rows_and_direction() -> None:
    assert better("auc") == "higher" and better("mae") == "lower"
    assert better("coverage") is None  # its goal is the nominal level
    assert better("mae", higher_is_better=True) == "higher"  # the Kind's word wins
    tile = metric_tile("mae", 1.25, "600 held-out test rows")
    assert tile == Tile("MAE", "1.250", "MAE", rows="600 held-out test rows", better="lower")
    assert tile.tooltip == "MAE. On 600 held-out test rows. Lower is better."


def test_raw_column_names_get_readable_labels() -> None:
    assert column_label("rows_out") == "rows out"
    assert column_label("kupiec_p99") == "Kupiec p (99% VaR)"
    assert column_label("direction_base") == "direction hit rate, baseline"
    assert column_label("mase") == "MASE" and column_label("some_thing") == "some thing"
    frame = readable_columns(pd.DataFrame({"rows_out": [1], "duration_s": [2.0]}))
    assert list(frame.columns) == ["rows out", "seconds"]


def _model(params: dict, train_rows: int | None = 1800) -> ModelSummary:
    return ModelSummary(id=1, task="t", version=3, model="lightgbm",
                        created_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC), profile="smoke",
                        dataset="store", train_rows=train_rows, primary_metric="auc",
                        primary_value=0.8, params=params)


def test_the_champion_sentence_says_the_split() -> None:
    tabular = champion_sentence(_model({"test_rows": 600}))
    assert "(fit on 1,800 rows, metrics on 600 test rows, smoke profile)" in tabular
    images = champion_sentence(_model({"rows": {"fit": 280, "validation": 40, "test": 80}},
                                      train_rows=280))
    assert ("fit on 280 rows, 40 held out for calibration, metrics on 80 test rows"
            in images)
    assert "(unknown rows, smoke profile)" in champion_sentence(_model({}, train_rows=None))
