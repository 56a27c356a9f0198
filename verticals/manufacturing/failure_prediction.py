"""Machine failure prediction: will this process run fail, and is it worth stopping the machine."""

from __future__ import annotations

import pandera.pandas as pa

from core.kinds.tabular import TabularClassification
from core.store.work_orders import WorkOrders
from core.task import Dataset, Task
from verticals.manufacturing import failure_data as data

# A missed failure (scrap, unplanned downtime) against a needless stop (one lost run), in EUR.
COST_MISSED, COST_NEEDLESS = 5_000.0, 500.0
# LightGBM's defaults sample 30% of the columns and 70% of the rows per tree (wide, noisy
# credit tables). Here 15 columns, most of them one mode's physics, and 3% positives: trees
# that see every column and every run rank the tool-wear failures better (quick bench PR-AUC
# 0.9185 -> 0.9213; an inner CV on the training folds alone picks it in most outer folds).
EVERY_FEATURE = {"colsample_bytree": 1.0, "subsample": 1.0}


def _flag() -> pa.Column:
    return pa.Column("Int64", pa.Check.isin([0, 1]), nullable=True)


SCHEMA = pa.DataFrameSchema(
    {
        data.ID: pa.Column(str, unique=True),
        data.TYPE: pa.Column(str, pa.Check.isin(list(data.TYPES))),
        # Kelvin: a value near 25 means °C was sent; the range check names the column.
        "air_temperature_k": pa.Column(float, pa.Check.in_range(250, 350)),
        "process_temperature_k": pa.Column(float, pa.Check.in_range(250, 360)),
        "rotational_speed_rpm": pa.Column(int, pa.Check.in_range(0, 5_000)),
        "torque_nm": pa.Column(float, pa.Check.in_range(0, 150)),
        "tool_wear_min": pa.Column(int, pa.Check.in_range(0, 400)),
        data.TARGET: _flag(),
        **{mode: _flag() for mode in data.MODES},
    },
    strict=True, coerce=True,
)

TASK = Task(
    name="manufacturing.failure_prediction",
    title="Machine failure prediction",
    description="Probability that a milling process run fails, a stop/run decision at the "
                "cost-optimal threshold and the physics behind each risk (power, heat, strain, "
                "tool wear).",
    kind=TabularClassification(
        target=data.TARGET, id=data.ID, positive=1, decisions=("run", "stop"),
        modes=data.MODES, costs=(COST_MISSED, COST_NEEDLESS), reason_text=data.REASON_TEXT,
        # The net only in the full profile's bench: 30 fits of it dwarf the rest.
        bench_models={"quick": ("scorecard", "lightgbm"), "smoke": ("scorecard", "lightgbm")}),
    schema=SCHEMA,
    # Every scored batch queues a work order for each run the champion says to stop, in the
    # batch's own transaction (core.store.work_orders).
    after_score=WorkOrders(act="stop", missed_cost=COST_MISSED),
    sample=data.sample,
    features=data.features,
    datasets={
        "ai4i": Dataset("ai4i", "AI4I 2020 predictive maintenance (UCI): folder with "
                        "ai4i2020.csv, or the file", data.ai4i),
    },
    profiles={
        "smoke": {
            "scorecard": {"max_n_prebins": 5, "min_prebin_size": 0.1},
            "lightgbm": {"n_estimators": 20, "n_jobs": 1},
            "tabular_net": {"max_epochs": 3, "hidden": (16,), "batch_size": 128},
        },
        "quick": {
            "scorecard": {"max_n_prebins": 10},
            "lightgbm": {"n_estimators": 300, "learning_rate": 0.05, **EVERY_FEATURE},
            "tabular_net": {"max_epochs": 30, "batch_size": 256},
        },
        "full": {"lightgbm": {"n_estimators": 600, "learning_rate": 0.03, **EVERY_FEATURE},
                 "tabular_net": {"max_epochs": 30, "batch_size": 256}},
    },
    sample_rows=3000,
    page="verticals.manufacturing.failure_page:render",
)
