"""C-MAPSS turbofan histories: the `cmapss` adapter, a seeded generator of degrading units,
and the operating-condition feature."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

UNIT, CYCLE, FAILURE = "unit", "cycle", "failure_cycle"
SETTINGS = ("setting_1", "setting_2", "setting_3")
SENSORS = tuple(f"s{i}" for i in range(1, 22))
COLUMNS = (UNIT, CYCLE, *SETTINGS, *SENSORS)  # the 26 columns of a C-MAPSS file, in order
CONDITION = "operating_condition"
# Operating conditions are points on a grid (altitude in kft, Mach, throttle angle): rounding
# the settings to these decimals maps every row to its grid point on all four subsets (FD001
# and FD003 collapse to one condition, FD002 and FD004 to six) without a hand list. Mach to
# two decimals, because one grid point is Mach 0.25: to one decimal, half-to-even rounding
# puts a reading of exactly 0.2500 (to 0.2) apart from one of 0.2501 (to 0.3).
CONDITION_DECIMALS = (0, 2, 0)
# The generator: sensors that drift with wear (sign = direction), and those that never move.
DRIFTING = {"s2": 1, "s3": 1, "s4": 1, "s7": -1, "s8": 1, "s9": 1, "s11": 1, "s12": -1,
            "s13": 1, "s14": 1, "s15": 1, "s17": 1, "s20": -1, "s21": -1}
LEVEL = {"s1": 518.67, "s2": 642.5, "s3": 1590.0, "s4": 1408.0, "s5": 14.62, "s6": 21.61,
         "s7": 553.4, "s8": 2388.1, "s9": 9065.0, "s10": 1.3, "s11": 47.5, "s12": 521.4,
         "s13": 2388.1, "s14": 8143.0, "s15": 8.44, "s16": 0.03, "s17": 393.0, "s18": 2388.0,
         "s19": 100.0, "s20": 38.8, "s21": 23.3}
NOISE_SHARE = 0.0008  # sensor noise as a share of its level
DRIFT_SHARE = 0.004  # drift at failure as a share of the level


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds operating_condition: the settings rounded to their grid (altitude to whole kft,
    Mach to 0.01, throttle to whole degrees), e.g. "0|0.00|100"; sensors are normalised
    within it by the Kind. Reads the settings only, never the failure label."""
    if not set(SETTINGS) <= set(frame.columns):
        return frame
    # + 0.0 turns a rounded -0.0 into 0.0: sea-level readings scatter around 0 (altitude
    # -0.0007, Mach -0.0004 on FD001), and "-0" beside "0" split one condition into four.
    parts = [(frame[c].astype(float).round(d) + 0.0).map(lambda v, d=d: f"{v:.{d}f}")
             for c, d in zip(SETTINGS, CONDITION_DECIMALS, strict=True)]
    return frame.assign(**{CONDITION: parts[0] + "|" + parts[1] + "|" + parts[2]})


def _read(file: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(file, sep=r"\s+", header=None, dtype=float)
    except ValueError as error:
        raise ValueError(f"{file}: not a C-MAPSS file of numbers ({error})") from error
    if raw.shape[1] != len(COLUMNS):
        raise ValueError(f"{file}: {raw.shape[1]} columns, a C-MAPSS file has {len(COLUMNS)} "
                         "(unit, cycle, 3 settings, 21 sensors)")
    raw.columns = list(COLUMNS)
    for number in (UNIT, CYCLE):
        bad = raw[raw[number].isna() | (raw[number] != raw[number].round())]
        if len(bad):
            raise ValueError(f"{file}: line {bad.index[0] + 1}: {number} must be a whole "
                             f"number, got {raw.loc[bad.index[0], number]}")
    raw[UNIT] = raw[UNIT].astype(int)
    raw[CYCLE] = raw[CYCLE].astype(int)
    missing = raw[list(SETTINGS + SENSORS)].isna()
    if missing.any().any():
        row = int(np.flatnonzero(missing.any(axis=1).to_numpy())[0])
        column = missing.columns[missing.iloc[row].to_numpy()][0]
        raise ValueError(f"{file}: unit {raw.loc[row, UNIT]}, cycle {raw.loc[row, CYCLE]}: "
                         f"{column} is missing (NaN); fix or drop that line")
    previous = raw.groupby(UNIT)[CYCLE].shift()
    bad = raw[previous.notna() & (raw[CYCLE] <= previous)]
    if len(bad):
        row = bad.index[0]
        what = "repeated" if raw.loc[row, CYCLE] == previous[row] else "out of order"
        raise ValueError(f"{file}: unit {raw.loc[row, UNIT]}, cycle {raw.loc[row, CYCLE]}: "
                         f"cycle {what} (after cycle {int(previous[row])}); cycles of a unit "
                         "must increase")
    return raw


def _subset(folder: Path, subset: str | None) -> str:
    found = sorted({m.group(1) for f in folder.iterdir()
                    if (m := re.fullmatch(r"(?:train|test)_(FD\d{3})\.txt", f.name))})
    if subset is not None:
        if subset not in found:
            raise FileNotFoundError(f"{folder}: no train_{subset}.txt or test_{subset}.txt; "
                                    f"subsets here: {found or 'none'}")
        return subset
    if len(found) != 1:
        raise FileNotFoundError(f"{folder}: {'no C-MAPSS files' if not found else found}: "
                                "pass a folder with one subset or --subset FD00x")
    return found[0]


def cmapss(path: str | Path, subset: str | None = None) -> pd.DataFrame:
    """A C-MAPSS subset folder (train_FD00x.txt, and test_FD00x.txt with RUL_FD00x.txt):
    training units as "train-<n>" with failure_cycle = their last cycle, test units as
    "test-<n>" with failure_cycle = last cycle + the RUL file's value (ids never collide).
    A test unit's history stops before its failure, so the Kind never fits on it (it trains
    on units run to failure): stored beside the training units, it stays a test unit."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: pass the folder holding train_FD00x.txt")
    name = _subset(folder, subset)
    parts = []
    train = folder / f"train_{name}.txt"
    if train.exists():
        rows = _read(train)
        rows[FAILURE] = rows.groupby(UNIT)[CYCLE].transform("max")
        parts.append(rows.assign(**{UNIT: "train-" + rows[UNIT].astype(str)}))
    test = folder / f"test_{name}.txt"
    if test.exists():
        truth = folder / f"RUL_{name}.txt"
        if not truth.exists():
            raise FileNotFoundError(f"{test}: its RUL file {truth.name} is missing: the test "
                                    "units' true RUL is needed (put it beside the test file)")
        rows = _read(test)
        rul = pd.read_csv(truth, sep=r"\s+", header=None).iloc[:, 0]
        units = rows[UNIT].drop_duplicates().to_numpy()
        if len(rul) != len(units) or rul.isna().any():
            raise ValueError(f"{truth}: {len(rul)} values for the {len(units)} units of "
                             f"{test.name}: one RUL per test unit, in unit order")
        last = rows.groupby(UNIT)[CYCLE].max()
        failure = dict(zip(units, last.loc[units].to_numpy() + rul.to_numpy().astype(int),
                           strict=True))
        rows[FAILURE] = rows[UNIT].map(failure)
        parts.append(rows.assign(**{UNIT: "test-" + rows[UNIT].astype(str)}))
    frame = pd.concat(parts, ignore_index=True)
    frame[FAILURE] = frame[FAILURE].astype("Int64")
    return frame[[*COLUMNS, FAILURE]]


def sample(rows: int, seed: int) -> pd.DataFrame:
    """`rows` cycles of degrading units (seeded): each unit's wear grows exponentially to
    failure, sensors drift with it under noise; about a quarter of the units are still in
    service (cut before their failure, failure_cycle unknown) and so is the last one."""
    rng = np.random.default_rng(seed)
    mean_life = int(min(200, max(25, rows // 10)))
    parts, total, number = [], 0, 0
    while total < rows:
        number += 1
        life = int(max(8, rng.normal(mean_life, mean_life * 0.25)))
        in_service = rng.random() < 0.25
        length = int(rng.integers(max(life // 3, 1), life)) if in_service else life
        length = min(length, rows - total)
        cycles = np.arange(1, length + 1)
        wear = np.expm1(3.0 * cycles / life) / np.expm1(3.0)  # 0 at start, 1 at failure
        data = {UNIT: f"unit-{number:03d}", CYCLE: cycles,
                "setting_1": rng.normal(0, 0.002, length).round(4),
                "setting_2": rng.normal(0, 0.0002, length).round(4),
                "setting_3": np.full(length, 100.0)}
        for sensor in SENSORS:
            level = LEVEL[sensor]
            drift = DRIFTING.get(sensor, 0) * DRIFT_SHARE * level * wear * rng.uniform(0.7, 1.3)
            noise = rng.normal(0, NOISE_SHARE * level, length) if sensor in DRIFTING else 0.0
            data[sensor] = np.round(level + drift + noise, 4)
        unit = pd.DataFrame(data)
        unit[FAILURE] = pd.array([None if in_service or length < life else life] * length,
                                 dtype="Int64")
        parts.append(unit)
        total += length
    return pd.concat(parts, ignore_index=True)[[*COLUMNS, FAILURE]]
