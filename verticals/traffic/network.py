"""Seeded generator of a small road network: rush hours, incidents that spread, broken sensors."""

from __future__ import annotations

import numpy as np
import pandas as pd


def road_network(n_sensors: int = 12, days: int = 7, freq: str = "15min", seed: int = 0
                 ) -> tuple[pd.DataFrame, np.ndarray]:
    """A speed matrix (date column + one column per sensor) and a 0/1 directed adjacency.

    Sensors sit on a ring road with a few chords; free-flow speed 50-70 km/h drops in the
    morning (8:00) and evening (18:00) rush on weekdays; incidents cut a sensor's speed and
    half as much one and two links downstream for about an hour; one sensor sticks (repeats
    a value for 3 h), one reports zeros for 2 h, and a few readings are missing.
    """
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-03-04", periods=int(days * pd.Timedelta("1D") /
                                                   pd.Timedelta(freq)), freq=freq)
    n, t = n_sensors, len(times)
    adjacency = np.zeros((n, n))
    for i in range(n):
        adjacency[i, (i + 1) % n] = 1
    for i in rng.choice(n, size=max(n // 4, 1), replace=False):
        adjacency[i, (i + n // 2) % n] = 1
    hour = np.asarray(times.hour + times.minute / 60)
    weekday = np.asarray(times.dayofweek < 5)
    rush = (np.exp(-((hour - 8) ** 2) / 1.5) + 0.8 * np.exp(-((hour - 18) ** 2) / 2)) * weekday
    free = rng.uniform(50, 70, n)
    depth = rng.uniform(0.3, 0.6, n)
    speed = free * (1 - depth * rush[:, None])
    per_hour = int(pd.Timedelta("1h") / pd.Timedelta(freq))
    for _ in range(max(days, 1) * 2):  # incidents, spreading downstream
        at, where = rng.integers(0, t - per_hour), rng.integers(0, n)
        span = slice(at, at + per_hour)
        speed[span, where] *= 0.4
        for nxt in np.flatnonzero(adjacency[where]):
            speed[span, nxt] *= 0.7
    speed += rng.normal(0, 2.0, speed.shape)
    # propagate congestion along links with one step of lag (a graph model can use this)
    lagged = speed.copy()
    lagged[1:] = 0.8 * speed[1:] + 0.2 * (speed[:-1] @ adjacency.T
                                          / np.maximum(adjacency.sum(1), 1))
    speed = np.round(np.clip(lagged, 1.0, None), 2)
    stuck, zero = rng.choice(n, size=2, replace=False)
    s0 = rng.integers(0, t - 3 * per_hour)
    speed[s0:s0 + 3 * per_hour, stuck] = speed[s0, stuck]
    z0 = rng.integers(0, t - 2 * per_hour)
    speed[z0:z0 + 2 * per_hour, zero] = 0.0
    missing = (rng.random(speed.shape) < 0.003) & (speed != 0)  # keep the outage countable
    speed[missing] = np.nan
    sensors = [f"S{i + 1:03d}" for i in range(n)]
    frame = pd.DataFrame(speed, columns=sensors)
    frame.insert(0, "date", times.strftime("%Y-%m-%d %H:%M"))
    return frame, adjacency


def write(folder: str, **options: int | str) -> None:
    """Write <folder>/speed.csv and <folder>/adj.csv (the adapter's layout)."""
    from pathlib import Path

    frame, adjacency = road_network(**options)  # type: ignore[arg-type]
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "speed.csv", index=False)
    pd.DataFrame(adjacency.astype(int)).to_csv(out / "adj.csv", header=False, index=False)
