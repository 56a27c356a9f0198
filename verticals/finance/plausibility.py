"""Plausible values of finance data: the date window and per-share prices, as schema checks."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

# Records of loans and quotes before 1900 are not what these Tasks learn from (the stock data
# starts 2008, the credit data 2024); a year 1500 or 9999 is a typo or a placeholder.
EARLIEST = pd.Timestamp("1900-01-01")
# A date a week past today is the most a clock or a time-zone slip explains; later is wrong.
FUTURE_DAYS = 7
# Per-share prices, in the quote's currency: a sub-penny OTC stock trades at 0.0001, the dearest
# share (Berkshire A, ~7e5 USD) or a share quoted in won or rupiah stays under 1e7. Outside,
# a price is a unit slip or an overflow (1e308 gave forecast log-returns of 14-28).
PRICE_RANGE = (1e-4, 1e7)


def date_window() -> pa.Check:
    """Dates from 1900-01-01 to today + 7 days; "today" is read when rows are checked."""
    rule = f"in_range({EARLIEST.date()}, today + {FUTURE_DAYS} days)"

    def plausible(values: pd.Series) -> pd.Series:
        latest = pd.Timestamp.now(tz=getattr(values.dt, "tz", None)).normalize()
        low = EARLIEST.tz_localize(latest.tz) if latest.tz is not None else EARLIEST
        return values.between(low, latest + pd.Timedelta(days=FUTURE_DAYS + 1), inclusive="left")

    return pa.Check(plausible, name=rule, error=rule, element_wise=False)


def price() -> pa.Check:
    """A plausible per-share price (PRICE_RANGE); rejects inf, 0 and negatives too."""
    return pa.Check.in_range(*PRICE_RANGE)
