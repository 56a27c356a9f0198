"""The finance schemas' plausibility checks: a date window that moves with today, price bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from verticals.finance.plausibility import date_window, price


def test_date_window_runs_from_1900_to_a_week_past_today() -> None:
    today = pd.Timestamp.now().normalize()
    dates = pd.Series(pd.to_datetime(["1899-12-31", "1900-01-01", "2008-01-02"])
                      ).tolist() + [today + pd.Timedelta(days=7, hours=23),
                                    today + pd.Timedelta(days=8)]
    passed = date_window()(pd.Series(dates)).check_output
    assert passed.tolist() == [False, True, True, True, False]
    assert date_window().error == "in_range(1900-01-01, today + 7 days)"


def test_price_bounds_reject_overflow_and_underflow() -> None:
    prices = pd.Series([np.inf, 1e308, 1e-300, 0.0, 1e-4, 12.5, 7e5, 1e7, 1.1e7])
    assert price()(prices).check_output.tolist() == [
        False, False, False, False, True, True, True, True, False]
