"""Stock forecasting: 1-5 day log returns of daily bars per ticker, with quantiles and VaR."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from core.kinds.forecasting import Forecasting
from core.task import Dataset, Task
from verticals.finance.plausibility import date_window, price

SCHEMA = pa.DataFrameSchema({
    "ticker": pa.Column(str, pa.Check.str_length(1, 20)),
    "date": pa.Column("datetime64[ns]", date_window()),
    "open": pa.Column(float, price(), nullable=True),
    "high": pa.Column(float, price(), nullable=True),
    "low": pa.Column(float, price(), nullable=True),
    "close": pa.Column(float, price(), nullable=True),
    "adj_close": pa.Column(float, price(), nullable=True),  # the target's price
    "volume": pa.Column(float, pa.Check.ge(0), nullable=True),
}, unique=["ticker", "date"])


def sample(n: int, seed: int = 0) -> pd.DataFrame:
    """n daily bars over up to 5 tickers, from 2015-01-02 on business days.

    Returns follow GARCH(1,1) (alpha 0.08, beta 0.90: volatility clusters and decays slowly)
    around a small positive drift, plus a shared market shock (correlation ~0.4); Adj Close
    compounds them from 100. Close is Adj Close before a 2%/year dividend adjustment; Open
    gaps from the previous close; High/Low spread with |noise|; volume rises with |shock|.
    """
    rng = np.random.default_rng(seed)
    tickers = max(1, min(5, n // 100))
    lengths = [n // tickers + (i < n % tickers) for i in range(tickers)]
    market = rng.standard_normal(max(lengths))
    frames = []
    for i, days in enumerate(lengths):
        omega, alpha, beta = 2e-6 * (1 + i / 2), 0.08, 0.90
        var = omega / (1 - alpha - beta)
        shock = 0.6 * market[:days] + 0.8 * rng.standard_normal(days)
        r = np.empty(days)
        for t in range(days):
            r[t] = 0.0003 + np.sqrt(var) * shock[t]
            var = omega + alpha * (r[t] - 0.0003) ** 2 + beta * var
        adj = 100 * np.exp(np.cumsum(r))
        close = adj * np.exp(0.02 / 252 * np.arange(days)[::-1])
        open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.002, days))
        spread = np.exp(np.abs(rng.normal(0, 0.006, days)))
        frames.append(pd.DataFrame({
            "ticker": f"TCK{i + 1}",
            "date": pd.bdate_range("2015-01-02", periods=days),
            "open": open_, "high": np.maximum(open_, close) * spread,
            "low": np.minimum(open_, close) / spread, "close": close, "adj_close": adj,
            "volume": np.round(1e6 * np.exp(rng.normal(0, 0.3, days)) * (1 + np.abs(shock))),
        }))
    frame = pd.concat(frames, ignore_index=True)
    frame["ticker"] = frame["ticker"].astype("str")
    frame["date"] = frame["date"].astype("datetime64[ns]")
    return frame


YAHOO_COLUMNS = {"Date": "date", "Open": "open", "High": "high", "Low": "low", "Close": "close",
                 "Adj Close": "adj_close", "Volume": "volume"}
# Where each adapter row came from ("AAPL.csv:12", line 1 the header), in frames with a cell
# the adapter could not read: quarantine rows carry it in their payload, so a bad cell of one
# file of a folder is found by file and line (a clean frame is the schema's columns only).
ORIGIN = "origin"
# yfinance writes each day as the exchange's local midnight with its UTC offset.
_OFFSET = r"(?<=\d\d:\d\d)(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$"


def yahoo_csv(path: Path) -> pd.DataFrame:
    """A folder of Yahoo-format CSVs (Date,Open,High,Low,Close,Adj Close,Volume), one per
    ticker named <TICKER>.csv; Yahoo's "null" rows (no Adj Close) are dropped.

    Dates: `2015-01-02` (Yahoo's export) and yfinance's `2015-01-02 00:00:00-05:00` are both
    read as the exchange's local date: the time and the UTC offset are dropped, not applied
    (applying -05:00 would move every day to 05:00 UTC; a daily bar is a trading date).
    Columns whose every cell reads are typed (dates, floats); a column with a cell that does not
    (a word, an impossible date, a NUL byte) stays text, so ingest quarantines that row with its
    rule and keeps the others, and the frame then carries ORIGIN, each row's file and line (the
    other rows are found by ticker, their file, and date). A file without the Yahoo columns,
    not UTF-8 text, or with a row longer than its header refuses the folder (a ValueError
    naming the file and line).
    """
    path = Path(path)
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no *.csv files in {path}: expected one Yahoo CSV per ticker")
    frame = pd.concat([_yahoo_file(file) for file in files], ignore_index=True)
    frame = frame[[*SCHEMA.columns, ORIGIN]]
    frame["ticker"] = frame["ticker"].astype("str")
    local = frame["date"].str.strip().str.replace(_OFFSET, "", regex=True)
    dates = pd.to_datetime(local, errors="coerce", format="mixed")
    frame["date"] = (dates.dt.normalize().astype("datetime64[ns]") if _all_read(local, dates)
                     else local)
    for column in ("open", "high", "low", "close", "adj_close", "volume"):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if _all_read(frame[column], numbers):
            frame[column] = numbers.astype(float)
    unread = [c for c in SCHEMA.columns if c != "ticker" and pd.api.types.is_string_dtype(frame[c])]
    return frame if unread else frame.drop(columns=ORIGIN)


def _all_read(text: pd.Series, values: pd.Series) -> bool:
    """Every cell read (and a date one nanoseconds hold: the schema's dtype), NUL-free."""
    if (text.notna() & values.isna()).any() or text.str.contains("\x00", na=False).any():
        return False
    if pd.api.types.is_datetime64_any_dtype(values):
        return bool(values.dropna().between(pd.Timestamp.min, pd.Timestamp.max).all())
    return True


def _yahoo_file(file: Path) -> pd.DataFrame:
    """One Yahoo CSV as text cells (NUL bytes kept: pandas' parser would cut the cell)."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{file}: not UTF-8 text ({error}); expected a Yahoo CSV") from error
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration as error:
        raise ValueError(f"{file}: empty file; expected a Yahoo CSV with a header") from error
    missing = [name for name in YAHOO_COLUMNS if name not in header]
    if missing:
        hint = (" (yfinance 0.2.51+ adjusts Close and leaves Adj Close out: download with "
                "auto_adjust=False)" if missing == ["Adj Close"] else "")
        raise ValueError(f"{file}: not a Yahoo CSV, missing columns {missing}{hint}")
    rows, origins, line = [], [], reader.line_num
    try:
        for record in reader:
            first, line = line + 1, reader.line_num
            if not record:
                continue
            if len(record) > len(header):
                raise ValueError(f"{file}: line {first} has {len(record)} fields where the "
                                 f"header has {len(header)}; fix or remove that line")
            rows.append(record + [""] * (len(header) - len(record)))
            origins.append(f"{file.name}:{first}")
    except csv.Error as error:
        raise ValueError(f"{file}: line {line + 1} is not CSV ({error})") from error
    raw = pd.DataFrame(rows, columns=header, dtype=object)
    bars = raw[list(YAHOO_COLUMNS)].rename(columns=YAHOO_COLUMNS)
    bars = bars.apply(lambda cells: cells.str.strip()).replace({"": None, "null": None})
    bars = bars.assign(ticker=file.stem, **{ORIGIN: origins}).dropna(subset=["adj_close"])
    return bars.astype("str")


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """Volume z-score: log volume against its previous 20 days (past only; never the price)."""
    ordered = frame.sort_values(["ticker", "date"], kind="stable")
    log_volume = np.log1p(ordered["volume"].astype(float))
    past = log_volume.groupby(ordered["ticker"]).shift(1)
    rolling = past.groupby(ordered["ticker"]).rolling(20, min_periods=5)
    mean = rolling.mean().reset_index(level=0, drop=True)
    std = rolling.std().reset_index(level=0, drop=True)
    z = ((log_volume - mean) / std.where(std > 0)).clip(-5, 5).fillna(0.0)
    return frame.assign(volume_z=z.reindex(frame.index).to_numpy())


DEEP_SMOKE = {"encoder_length": 10, "hidden_size": 4, "max_epochs": 1, "limit_train_batches": 2,
              "batch_size": 32, "n_samples": 50}
DEEP_QUICK = {"encoder_length": 30, "hidden_size": 8, "max_epochs": 2, "limit_train_batches": 15}
DEEP_FULL = {"encoder_length": 60, "hidden_size": 16, "max_epochs": 4,
             "limit_train_batches": 30}

TASK = Task(
    name="finance.stock_forecasting",
    title="Stock forecasting",
    description="Quantile forecasts of 1-5 day log returns per ticker, the implied price path, "
                "Value-at-Risk, and an honest comparison with the random walk.",
    kind=Forecasting(series="ticker", time="date", target="adj_close", horizon=5, freq="B",
                     transform="log_return", covariates=("volume_z",),
                     bench_window=("2017-01-03", "2019-02-22")),
    schema=SCHEMA,
    sample=sample,
    datasets={
        "yahoo_csv": Dataset("yahoo_csv", "Folder of Yahoo daily CSVs, one per ticker",
                             yahoo_csv, suffixes=("/",)),
    },
    features=features,
    profiles={
        "smoke": {"tft": DEEP_SMOKE, "nhits": DEEP_SMOKE, "deepar": DEEP_SMOKE,
                  "lightgbm": {"n_estimators": 10, "min_child_samples": 10},
                  "arima": {"max_p": 2}, "drift": {"window": 50}},
        "quick": {"tft": DEEP_QUICK, "nhits": DEEP_QUICK, "deepar": DEEP_QUICK,
                  "lightgbm": {"n_estimators": 60}},
        "full": {"tft": DEEP_FULL, "nhits": DEEP_FULL, "deepar": DEEP_FULL},
    },
    page="verticals.finance.stock_page:page",
    sample_rows=2500,
)
