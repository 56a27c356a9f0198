"""Traffic flow prediction: the next hour of speed per road sensor, from the whole network."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pandera.pandas as pa

from core.kinds.forecasting import Forecasting
from core.kinds.slice_forecasting import Graph
from core.task import Dataset, Task
from verticals.traffic.network import road_network
from verticals.traffic.speed_matrix import speed_matrix

SCHEMA = pa.DataFrameSchema({
    "sensor": pa.Column(str, pa.Check.str_length(1, 40)),
    "time": pa.Column("datetime64[ns]"),
    "speed": pa.Column(float, pa.Check.ge(0), nullable=True),  # empty: no reading
}, unique=["sensor", "time"])

STEPS_PER_DAY = 96  # 15-minute readings


def sample(n: int, seed: int = 0) -> pd.DataFrame:
    """n rows of a seeded ring-road network (verticals.traffic.network): 2-12 sensors every
    15 minutes from Monday 2024-03-04, rush hours, incidents spreading downstream, one stuck
    sensor, one zero outage, a few missing readings; the adjacency rides in `attrs`."""
    sensors = int(np.clip(n // 60, 2, 12))
    steps = math.ceil(n / sensors)
    wide, adjacency = road_network(n_sensors=sensors, days=math.ceil(steps / STEPS_PER_DAY),
                                   freq="15min", seed=seed)
    wide = wide.iloc[:steps]
    times = pd.to_datetime(wide.pop("date"))
    ids = list(wide.columns)
    frame = pd.DataFrame({
        "sensor": np.tile(np.asarray(ids, dtype=object), steps).astype("str"),
        "time": np.repeat(times.to_numpy(), sensors).astype("datetime64[ns]"),
        "speed": wide.to_numpy(dtype=float).ravel(),
    }).iloc[:n].reset_index(drop=True)
    frame.attrs.update(adjacency=adjacency.tolist(), sensors=ids)
    return frame


SMOKE_NET = {"hidden": 4, "max_epochs": 1, "batch_size": 64}
QUICK_NET = {"hidden": 16, "max_epochs": 10}

TASK = Task(
    name="traffic.flow_prediction",
    title="Traffic flow prediction",
    description="Speed per road sensor 15-60 minutes ahead from the whole network, with broken "
                "sensors flagged, masked from the metrics and imputed for the models.",
    kind=Forecasting(series="sensor", time="time", target="speed", horizon=4, freq="15min",
                     graph=Graph(), scaling="global", risk=False, calendar=True),
    schema=SCHEMA,
    sample=sample,
    datasets={
        "speed_matrix": Dataset(
            "speed_matrix", "Time x sensor speed CSV (T-GCN layout) + adjacency CSV",
            speed_matrix, options=("adjacency", "start", "freq"), suffixes=("/",)),
    },
    profiles={
        "smoke": {"gru": SMOKE_NET, "graph_gru": SMOKE_NET,
                  "lightgbm": {"n_estimators": 5, "min_child_samples": 5}},
        "quick": {"gru": QUICK_NET, "graph_gru": QUICK_NET, "lightgbm": {"n_estimators": 40}},
    },
    sample_rows=3072,
    page="verticals.traffic.flow_page:page",
)
