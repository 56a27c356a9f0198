"""Adapter `speed_matrix`: a time x sensor speed CSV (the T-GCN layout) plus an adjacency CSV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SPEED_GLOB = ("*speed*.csv",)
ADJ_GLOB = ("*adj*.csv",)
DATE_NAMES = ("date", "time", "timestamp", "datetime")


class SpeedMatrixError(ValueError):
    """Bad speed or adjacency input: the message names file, row and sensor."""


@dataclass(frozen=True)
class SpeedMatrix:
    """Speeds (time x sensor, NaN where missing), their times, sensor ids and the adjacency."""

    speed: np.ndarray  # (T, N) float
    times: pd.DatetimeIndex
    sensors: tuple[str, ...]
    adjacency: np.ndarray  # (N, N) float, weighted or 0/1, as given (not symmetrised)

    @property
    def step(self) -> pd.Timedelta:
        return self.times[1] - self.times[0]

    def long_frame(self) -> pd.DataFrame:
        """One row per (sensor, time): the Task's schema layout."""
        t, n = self.speed.shape
        return pd.DataFrame({
            "sensor": np.tile(np.asarray(self.sensors, dtype=object), t).astype("str"),
            "time": np.repeat(self.times.to_numpy(), n).astype("datetime64[ns]"),
            "speed": self.speed.ravel().astype(float),
        })


def _pick(folder: Path, patterns: tuple[str, ...], what: str) -> Path:
    for pattern in patterns:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    raise SpeedMatrixError(f"{folder}: no {what} file ({' or '.join(patterns)}); pass the file "
                           "itself (--adjacency FILE for the adjacency) or name them like "
                           "sz_speed.csv / sz_adj.csv")


def _times(raw: pd.DataFrame, file: Path, start: str | None, freq: str | None
           ) -> tuple[pd.DatetimeIndex, pd.DataFrame]:
    date_cols = [c for c in raw.columns if str(c).strip().lower() in DATE_NAMES]
    if date_cols:
        column = date_cols[0]
        parsed = pd.to_datetime(raw[column], errors="coerce", format="mixed")
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if len(bad):
            row = int(bad[0]) + 2  # 1-based, after the header
            raise SpeedMatrixError(f"{file}: row {row}, column {column!r}: "
                                   f"{raw[column].iloc[bad[0]]!r} is not a date")
        return pd.DatetimeIndex(parsed), raw.drop(columns=[column])
    if start is None or freq is None:
        raise SpeedMatrixError(f"{file}: no date column ({'/'.join(DATE_NAMES)}); pass --start "
                               "and --freq (e.g. --start 2015-01-01 --freq 15min)")
    return pd.date_range(start, periods=len(raw), freq=freq), raw


def _check_times(times: pd.DatetimeIndex, file: Path) -> None:
    if len(times) < 3:
        raise SpeedMatrixError(f"{file}: {len(times)} rows; need at least 3 time steps")
    dup = np.flatnonzero(times.duplicated())
    if len(dup):
        raise SpeedMatrixError(f"{file}: row {int(dup[0]) + 2}: duplicate timestamp "
                               f"{times[dup[0]]}; keep one row per time")
    gaps = np.diff(times.to_numpy())
    step = gaps[gaps > np.timedelta64(0)].min() if (gaps > np.timedelta64(0)).any() else None
    odd = np.flatnonzero(gaps != step) if step is not None else np.array([0])
    if len(odd):
        i = int(odd[0])
        raise SpeedMatrixError(
            f"{file}: row {i + 3}: irregular time step ({times[i]} -> {times[i + 1]}, "
            f"expected every {pd.Timedelta(step) if step is not None else '?'}); insert the "
            "missing times with empty cells or sort the rows")


def read_speeds(file: Path, *, start: str | None = None, freq: str | None = None
                ) -> tuple[np.ndarray, pd.DatetimeIndex, tuple[str, ...]]:
    raw = pd.read_csv(file, dtype=str, keep_default_na=False)
    times, cells = _times(raw, file, start, freq)
    _check_times(times, file)
    sensors = tuple(str(c).strip() for c in cells.columns)
    text = cells.apply(lambda c: c.str.strip())
    values = text.apply(lambda c: pd.to_numeric(c.replace({"": None, "NA": None,
                                                           "NaN": None, "nan": None}),
                                                errors="coerce"))
    bad = values.isna().to_numpy() & (text != "").to_numpy() & ~text.isin(["NA", "NaN", "nan"]
                                                                           ).to_numpy()
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise SpeedMatrixError(f"{file}: row {r + 2}, sensor {sensors[c]!r}: "
                               f"{text.iat[r, c]!r} is not a number (leave missing cells empty)")
    speed = values.to_numpy(dtype=float)
    negative = np.argwhere(speed < 0)
    if len(negative):
        r, c = negative[0]
        raise SpeedMatrixError(f"{file}: row {r + 2}, sensor {sensors[c]!r}: negative speed "
                               f"{speed[r, c]}; speeds are >= 0 (empty for missing)")
    return speed, times, sensors


def read_adjacency(file: Path, sensors: tuple[str, ...]) -> np.ndarray:
    """An N x N matrix, with or without a header row of sensor ids (reordered to `sensors`)."""
    raw = pd.read_csv(file, header=None, dtype=str, keep_default_na=False)
    n = len(sensors)
    first = raw.iloc[0].str.strip().tolist() if len(raw) else []
    has_header = bool(first) and not all(_is_number(v) for v in first)
    order = None
    if has_header:
        ids = [v for v in first if v != ""]
        unknown = [v for v in ids if v not in sensors]
        if unknown:
            raise SpeedMatrixError(f"{file}: row 1: sensor ids {unknown[:5]} are not in the "
                                   "speed file's header")
        raw = raw.iloc[1:].reset_index(drop=True)
        if len(first) == raw.shape[1] and first[0] == "" or len(ids) == raw.shape[1] - 1:
            raw = raw.iloc[:, 1:]  # a leading row-label column
        order = [ids.index(s) if s in ids else -1 for s in sensors]
    if raw.shape != (n, n):
        raise SpeedMatrixError(f"{file}: adjacency is {raw.shape[0]} x {raw.shape[1]}, the speed "
                               f"file has {n} sensors; give an {n} x {n} matrix")
    values = raw.apply(lambda c: pd.to_numeric(c.str.strip(), errors="coerce"))
    if values.isna().any().any():
        r, c = np.argwhere(values.isna().to_numpy())[0]
        raise SpeedMatrixError(f"{file}: row {r + 1 + has_header}, column {c + 1}: "
                               f"{raw.iat[r, c]!r} is not a number")
    matrix = values.to_numpy(dtype=float)
    if (matrix < 0).any():
        r, c = np.argwhere(matrix < 0)[0]
        raise SpeedMatrixError(f"{file}: row {r + 1 + has_header}, column {c + 1}: negative "
                               "weight; adjacency weights are >= 0")
    if order is not None:
        if -1 in order:
            missing = [s for s, o in zip(sensors, order, strict=True) if o < 0]
            raise SpeedMatrixError(f"{file}: sensors {missing[:5]} of the speed file are missing")
        matrix = matrix[np.ix_(order, order)]
    return matrix


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def load(path: Path, *, adjacency: Path | None = None, start: str | None = None,
         freq: str | None = None) -> SpeedMatrix:
    """A folder holding *speed*.csv and *adj*.csv, or the speed CSV and `adjacency`."""
    path = Path(path)
    if path.is_dir():
        speed_file = _pick(path, SPEED_GLOB, "speed")
        adjacency = Path(adjacency) if adjacency else _pick(path, ADJ_GLOB, "adjacency")
    else:
        speed_file = path
        if adjacency is None:
            adjacency = _pick(path.parent, ADJ_GLOB, "adjacency")
    speed, times, sensors = read_speeds(speed_file, start=start, freq=freq)
    return SpeedMatrix(speed, times, sensors, read_adjacency(Path(adjacency), sensors))


def speed_matrix(path: Path, **options: str) -> pd.DataFrame:
    """The Dataset loader: long frame (sensor, time, speed); the adjacency rides in attrs."""
    matrix = load(path, **options)
    frame = matrix.long_frame()
    frame.attrs["adjacency"] = matrix.adjacency.tolist()
    frame.attrs["sensors"] = list(matrix.sensors)
    return frame
