"""Stock forecasting Task: GARCH sample, Yahoo adapter, past-only features, ledger rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.kinds.forecasting import ForecastPredictor
from core.models.forecasters import LightGBMQuantile, RandomWalk
from core.models.formats import installed_formats
from verticals.finance.stock_forecasting import TASK, features, sample, yahoo_csv


def test_sample_has_volatility_clusters() -> None:
    frame = sample(2500, 0)
    assert frame.groupby("ticker").size().tolist() == [500] * 5
    returns = np.log(frame[frame["ticker"] == "TCK1"]["adj_close"]).diff().dropna()
    assert (returns**2).autocorr(1) > 0.05  # GARCH: big moves follow big moves
    assert abs(returns.autocorr(1)) < 0.2  # ...but the direction is not predictable
    TASK.schema.validate(frame)


def test_yahoo_folder(tmp_path: Path) -> None:
    for ticker, close in (("AAA", [10.0, 11.0, 12.0]), ("BBB", [5.0, 5.5, 6.0])):
        pd.DataFrame({"Date": ["2019-01-02", "2019-01-03", "2019-01-04"], "Open": close,
                      "High": close, "Low": close, "Close": close,
                      "Adj Close": [str(c) for c in close[:2]] + ["null"],
                      "Volume": [100, 200, 300]}).to_csv(tmp_path / f"{ticker}.csv", index=False)
    frame = yahoo_csv(tmp_path)
    assert frame["ticker"].tolist() == ["AAA", "AAA", "BBB", "BBB"]  # "null" rows dropped
    assert frame["adj_close"].tolist() == [10.0, 11.0, 5.0, 5.5]
    assert list(frame.columns) == list(TASK.schema.columns)  # clean: no origin column
    TASK.schema.validate(frame)
    (tmp_path / "bad.csv").write_text("Date,Price\n2019-01-02,1\n")
    with pytest.raises(ValueError, match="missing columns"):
        yahoo_csv(tmp_path)


def test_volume_z_uses_the_past_only() -> None:
    frame = sample(300, 1).sample(frac=1.0, random_state=0)  # any row order
    base = features(frame)
    later = frame.copy()
    cut = later["date"] > pd.Timestamp("2015-03-01")
    later.loc[cut, "volume"] *= 50
    changed = features(later)
    early = ~cut
    np.testing.assert_allclose(base.loc[early, "volume_z"], changed.loc[early, "volume_z"])
    assert not np.allclose(base.loc[cut, "volume_z"], changed.loc[cut, "volume_z"])


@pytest.mark.parametrize("model", [RandomWalk(), LightGBMQuantile(n_estimators=5,
                                                                 min_child_samples=5)])
def test_ledger_rows_and_round_trip(model, tmp_path: Path) -> None:  # noqa: ANN001
    frame = features(sample(300, 2))
    panel = TASK.kind.panel(frame)
    predictor = ForecastPredictor(model.fit(panel), "ticker", "date", "adj_close", "log_return",
                                  ("volume_z",))
    ledger = predictor.predict(frame)
    assert len(ledger) == 3 * 5 and ledger["horizon"].tolist()[:5] == [1, 2, 3, 4, 5]
    assert (ledger["as_of"] == frame["date"].max()).all()
    assert (ledger["lower"] <= ledger["score"]).all() and (ledger["score"] <= ledger["upper"]).all()
    payload = json.loads(ledger["payload"].iloc[0])
    last = frame[frame["ticker"] == "TCK1"]["adj_close"].iloc[-1]
    assert payload["last_price"] == pytest.approx(last)
    assert payload["price"] == pytest.approx(last * np.exp(ledger["score"].iloc[0]))
    predictor.save(tmp_path)
    loaded = TASK.kind.load_predictor(tmp_path, {"format": predictor.format}, installed_formats())
    pd.testing.assert_frame_equal(loaded.predict(frame), ledger)


def test_scoring_groups_are_whole_series() -> None:
    assert TASK.kind.scoring_groups(["B", "A", "C"], 2) == [["A", "B"], ["C"]]
    assert "adj_close" in TASK.kind.scoring_columns(TASK)


def test_yahoo_reads_yfinance_dates_and_keeps_unreadable_cells_as_text(tmp_path: Path) -> None:
    (tmp_path / "AAA.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2015-01-02 00:00:00-05:00,1,1,1,1,1,10\n"
        "2015-01-05 00:00:00-05:00,2,2,2,abc,2,20\n"
        "2015-01-06 00:00:00-05:00,null,null,null,null,null,null\n"
    )
    frame = yahoo_csv(tmp_path)
    assert frame["date"].tolist() == [pd.Timestamp("2015-01-02"), pd.Timestamp("2015-01-05")]
    assert frame["adj_close"].dtype == float and frame["close"].tolist() == ["1", "abc"]
    assert frame["origin"].tolist() == ["AAA.csv:2", "AAA.csv:3"]  # the null row is dropped


def test_yahoo_impossible_date_keeps_the_date_column_as_written(tmp_path: Path) -> None:
    (tmp_path / "AAA.csv").write_text("Date,Open,High,Low,Close,Adj Close,Volume\n"
                                      "2015-02-27,1,1,1,1,1,10\n2015-02-30,1,1,1,1,1,10\n")
    assert yahoo_csv(tmp_path)["date"].tolist() == ["2015-02-27", "2015-02-30"]
