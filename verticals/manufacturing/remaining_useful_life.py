"""Remaining useful life: how many cycles each engine has left, how sure we are, and when to
plan its overhaul."""

from __future__ import annotations

import pandera.pandas as pa

from core.kinds.sequence import SequenceRegression
from core.task import Dataset, Task
from verticals.manufacturing import rul_data as data

LEAD_TIME = 15  # cycles needed to plan a shop visit
# Sensors are noisy readings of a slow wear: a causal exponential average (alpha) of each
# unit's normalised readings. Chosen on FD001's held-out units, never its test units
# (validation RMSE of the GRU / window LightGBM: 11.5 / 11.9 at 0.1, 11.8 / 12.9 at 0.2,
# 12.2 / 13.2 at 0.3, 12.7 / 13.3 unsmoothed); a property of the sensors' noise rather than of
# the subset, and at 0.1 the last ~10 cycles carry most of the weight.
SMOOTHING = 0.1
# An in-service failure (unplanned removal, secondary damage) against an early overhaul, in EUR.
COST_FAILURE, COST_OVERHAUL = 1_000_000.0, 150_000.0

SCHEMA = pa.DataFrameSchema(
    {
        data.UNIT: pa.Column(str),
        data.CYCLE: pa.Column(int, pa.Check.ge(1)),
        **{s: pa.Column(float) for s in data.SETTINGS},
        **{s: pa.Column(float, nullable=False) for s in data.SENSORS},
        data.FAILURE: pa.Column("Int64", pa.Check.ge(1), nullable=True),
    },
    unique=[data.UNIT, data.CYCLE], strict=True, coerce=True,
)

TASK = Task(
    name="manufacturing.remaining_useful_life",
    title="Remaining useful life",
    description="Cycles each engine has left with an 80% interval, the probability that it "
                "fails within the planning lead time and the cycle to plan its overhaul at.",
    kind=SequenceRegression(
        unit=data.UNIT, step=data.CYCLE, label=data.FAILURE, sensors=data.SENSORS,
        condition=data.CONDITION, rul_cap=125, window=30, smoothing=SMOOTHING,
        lead_time=LEAD_TIME,
        failure_cost=COST_FAILURE, overhaul_cost=COST_OVERHAUL,
        decisions=("run", "plan overhaul")),
    schema=SCHEMA,
    sample=data.sample,
    features=data.features,
    datasets={
        "cmapss": Dataset("cmapss", "NASA C-MAPSS turbofan subset: folder with train_FD00x.txt "
                          "(and test_FD00x.txt + RUL_FD00x.txt); --subset when it holds several",
                          data.cmapss, options=("subset",)),
    },
    profiles={
        "smoke": {"window_lightgbm": {"n_estimators": 30, "num_leaves": 7, "n_jobs": 1,
                                      "early_stopping_rounds": 10},
                  # Tiny nets, two epochs: the smoke profile checks wiring, not accuracy.
                  "sequence_cnn": {"epochs": 2, "channels": 4, "dense": 16},
                  "sequence_gru": {"epochs": 2, "hidden": 8, "dense": 8},
                  "sequence_transformer": {"epochs": 2, "d_model": 8, "heads": 2,
                                           "feedforward": 16}},
        "quick": {"window_lightgbm": {"n_estimators": 300}},
        "full": {"window_lightgbm": {"n_estimators": 1500, "learning_rate": 0.02}},
    },
    sample_rows=3000,
    page="verticals.manufacturing.rul_page:page",
)
