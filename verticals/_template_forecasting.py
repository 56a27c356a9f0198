"""TEMPLATE (forecasting) — copy to verticals/<industry>/<task>.py, fill in every TODO.

A forecasting Task is a panel: many series (stores, sensors, tickers), one row per series and
time step, a numeric target forecast 1..horizon steps ahead with quantiles. When it is filled in:
  1. register it: add `"<industry>.<task>" = "verticals.<industry>.<task>:TASK"` under
     [project.entry-points."verticals.tasks"] in pyproject.toml, then `pip install -e .`
     (from your own package: the same line in its pyproject.toml);
  2. `verticals sample <industry>.<task> --out data_samples/<industry>_<task>.csv` writes the
     sample the demo ingests (without --out: ./<industry>_<task>.csv);
  3. `pytest tests/test_conformance.py -k <task>` tells you everything the Task still gets wrong.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from core.kinds.forecasting import Forecasting
from core.task import Dataset, Task

SERIES, TIME, TARGET = "store_id", "date", "units_sold"  # TODO: your series, time, target

# TODO: one Column per input field; (series, time) must be unique. The target is nullable:
# rows without it are still stored (and the latest known values are the forecast origin).
SCHEMA = pa.DataFrameSchema(
    {
        SERIES: pa.Column(str, pa.Check.str_length(1, 40)),
        TIME: pa.Column("datetime64[ns]"),
        "promo": pa.Column("int64", pa.Check.isin([0, 1])),
        TARGET: pa.Column(float, pa.Check.ge(0), nullable=True),
    },
    strict=True, coerce=True, unique=[SERIES, TIME],
)


def sample(n: int, seed: int) -> pd.DataFrame:
    """TODO: a seeded generator with realistic structure; document the rules behind the target.

    Here: n daily rows over up to 4 stores from 2024-01-01. Each store sells around its own
    level (80-200 units), 30% more on Saturdays and Sundays, 25% more on promotion days (10%
    of days, at random), with a slow trend of +/-0.2%/day and Poisson noise on top.
    """
    rng = np.random.default_rng(seed)
    stores = max(1, min(4, n // 60))
    lengths = [n // stores + (i < n % stores) for i in range(stores)]
    frames = []
    for i, days in enumerate(lengths):
        dates = pd.date_range("2024-01-01", periods=days, freq="D")
        promo = (rng.random(days) < 0.1).astype("int64")
        weekend = np.where(dates.dayofweek >= 5, 1.3, 1.0)
        trend = 1 + rng.uniform(-0.002, 0.002) * np.arange(days)
        mean = rng.uniform(80, 200) * weekend * trend * (1 + 0.25 * promo)
        frames.append(pd.DataFrame({
            SERIES: f"S{i + 1:02d}", TIME: dates, "promo": promo,
            TARGET: rng.poisson(mean).astype(float),
        }))
    frame = pd.concat(frames, ignore_index=True)
    frame[TIME] = frame[TIME].astype("datetime64[ns]")
    return frame


def load_public(path, **options) -> pd.DataFrame:
    """TODO: turn a public benchmark file into SCHEMA rows (read it from --data, never copy it)."""
    raise NotImplementedError("fill in the adapter for your public dataset")


# Tiny settings so every candidate fits in seconds in tests (`check_task` uses "smoke").
DEEP_SMOKE = {"encoder_length": 10, "hidden_size": 4, "max_epochs": 1, "limit_train_batches": 2,
              "batch_size": 32, "n_samples": 50}

TASK = Task(
    name="template.forecasting_example",  # TODO: "<industry>.<task>": registry, URL, SQL key
    title="Forecasting example",  # TODO
    description="TODO: one sentence an analyst understands.",
    # TODO: horizon in steps of `freq` (pandas alias: "D", "B", "h", "W"); transform="log_return"
    # for positive prices; covariates = numeric columns your `features` add (past only).
    kind=Forecasting(series=SERIES, time=TIME, target=TARGET, horizon=7, freq="D"),
    schema=SCHEMA,
    sample=sample,
    datasets={"public": Dataset("public", "TODO: which file, from where", load_public)},
    # features=...,  # optional: pure domain features from the past; never reads the target
    # models=...,    # optional: name -> factory; default is the Kind's candidates
    profiles={  # TODO: "smoke" must fit every candidate in seconds (tests); "quick" is the demo
        "smoke": {"tft": DEEP_SMOKE, "nhits": DEEP_SMOKE, "deepar": DEEP_SMOKE,
                  "lightgbm": {"n_estimators": 10, "min_child_samples": 10},
                  "arima": {"max_p": 2}, "drift": {"window": 30}},
    },
    # page=...,      # optional: extra Streamlit section, page(ctx)
    sample_rows=1200,
)
