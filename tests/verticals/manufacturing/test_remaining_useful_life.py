"""manufacturing.remaining_useful_life: the cmapss adapter and its bad input, the Task's
conformance, and ingest -> score -> later cycles of a unit -> score on the store."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from core.models.formats import BUILTIN, lazy_factory
from core.store.schema import predictions
from core.task import get_task
from core.testing import check_task
from pipelines.ingest import ingest
from pipelines.score import score
from pipelines.train import train
from verticals.manufacturing import rul_data

FULL = get_task("manufacturing.remaining_useful_life")
# The classical candidate only: fast and torch-free (the nets have their own tests).
TASK = dataclasses.replace(
    FULL, models={"window_lightgbm": lazy_factory(BUILTIN["window_lightgbm"])},
    profiles={profile: {"window_lightgbm": models["window_lightgbm"]}
              for profile, models in FULL.profiles.items()})


def line(unit: int, cycle: int, sensor: float = 1.0) -> str:
    settings = "0.0023 -0.0003 100.0"
    sensors = " ".join(str(sensor + i) for i in range(21))
    return f"{unit} {cycle} {settings} {sensors} \n"  # C-MAPSS lines end in a space


def write(folder: Path, name: str, rows: list[tuple[int, int]]) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("".join(line(u, c) for u, c in rows))
    return path


@pytest.fixture
def subset(tmp_path: Path) -> Path:
    folder = tmp_path / "fd"
    write(folder, "train_FD001.txt", [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)])
    write(folder, "test_FD001.txt", [(1, 1), (1, 2), (2, 1)])
    (folder / "RUL_FD001.txt").write_text("30\n45\n")
    return folder


def test_the_adapter_reads_a_subset_with_ids_that_never_collide(subset: Path) -> None:
    frame = rul_data.cmapss(subset)
    assert frame.columns.tolist() == [*rul_data.COLUMNS, rul_data.FAILURE]
    assert frame["unit"].drop_duplicates().tolist() == ["train-1", "train-2", "test-1", "test-2"]
    failure = frame.groupby("unit")[rul_data.FAILURE].first().to_dict()
    assert failure == {"train-1": 3, "train-2": 2, "test-1": 32, "test-2": 46}
    assert frame["s21"].iloc[0] == 21.0
    TASK.schema.validate(frame)
    featured = TASK.feature_frame(frame)
    assert set(featured[rul_data.CONDITION]) == {"0|0.00|100"}


def test_operating_conditions_are_the_grid_points_whatever_the_noise() -> None:
    """Readings scattered around each of FD002/FD004's six grid points (FD001's sea level
    among them) map to six conditions: a sea-level reading just under 0 is not a condition of
    its own ("-0"), nor is a Mach 0.25 that reads exactly 0.2500."""
    grid = [(0, 0.0, 100), (10, 0.25, 100), (20, 0.70, 100), (25, 0.62, 60), (35, 0.84, 100),
            (42, 0.84, 100)]
    noise = [(-0.0007, -0.0004), (0.0019, 0.0), (0.0045, 0.0007), (-0.0018, 0.0019)]
    rows = [{"setting_1": a + da, "setting_2": m + dm, "setting_3": float(t)}
            for a, m, t in grid for da, dm in noise]
    conditions = rul_data.features(pd.DataFrame(rows))[rul_data.CONDITION]
    assert conditions.nunique() == 6
    assert conditions.groupby(np.repeat(np.arange(6), len(noise))).nunique().eq(1).all()
    assert conditions.iloc[0] == "0|0.00|100" and conditions.iloc[4] == "10|0.25|100"


@pytest.mark.parametrize(("rows", "message"), [
    ([(1, 1), (1, 2), (1, 2)], r"train_FD001.txt: unit 1, cycle 2: cycle repeated"),
    ([(1, 1), (1, 3), (1, 2)], r"train_FD001.txt: unit 1, cycle 2: cycle out of order"),
])
def test_bad_cycles_are_named(tmp_path: Path, rows: list, message: str) -> None:
    write(tmp_path / "fd", "train_FD001.txt", rows)
    with pytest.raises(ValueError, match=message):
        rul_data.cmapss(tmp_path / "fd")


def test_a_nan_sensor_and_a_missing_rul_file_are_named(tmp_path: Path) -> None:
    path = write(tmp_path / "fd", "train_FD001.txt", [(1, 1), (1, 2)])
    path.write_text(path.read_text().replace(" 5.0 ", " nan ", 1))
    with pytest.raises(ValueError, match=r"train_FD001.txt: unit 1, cycle 1: s5 is missing"):
        rul_data.cmapss(tmp_path / "fd")
    path.unlink()
    write(tmp_path / "fd", "test_FD001.txt", [(1, 1)])
    with pytest.raises(FileNotFoundError, match=r"test_FD001.txt: its RUL file RUL_FD001.txt"):
        rul_data.cmapss(tmp_path / "fd")
    (tmp_path / "fd" / "RUL_FD001.txt").write_text("3\n4\n")
    with pytest.raises(ValueError, match="2 values for the 1 units of test_FD001.txt"):
        rul_data.cmapss(tmp_path / "fd")


def test_the_sample_is_seeded_valid_and_has_in_service_units() -> None:
    frame = TASK.sample(3000, 0)
    assert len(frame) == 3000
    TASK.schema.validate(frame)
    known = frame.groupby("unit")[rul_data.FAILURE].first()
    assert known.notna().sum() >= 8 and known.isna().sum() >= 2
    constant = [s for s in rul_data.SENSORS if frame[s].nunique() == 1]
    assert constant == ["s1", "s5", "s6", "s10", "s16", "s18", "s19"]


def test_the_task_conforms_with_the_window_lightgbm() -> None:
    check_task(TASK)


def _ledger(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(predictions.c.entity_key, predictions.c.step,
                                      predictions.c.score, predictions.c.lower,
                                      predictions.c.upper, predictions.c.payload)).all()
    return pd.DataFrame(rows, columns=["entity_key", "step", "score", "lower", "upper",
                                       "payload"])


def test_later_cycles_of_a_unit_change_its_forecast_without_duplicates(engine) -> None:
    frame = TASK.sample(3000, 0)
    service = frame.groupby("unit")[rul_data.FAILURE].first().isna()
    unit = service[service].index[0]
    rows = frame[frame["unit"] == unit]
    early, later = frame.drop(rows.index[-10:]), rows.iloc[-10:]
    ingest(engine, TASK, lambda: early, source="frame")
    train(engine, TASK, profile="smoke")
    first = score(engine, TASK, chunk_size=5)
    ledger = _ledger(engine)
    assert first.rows == frame["unit"].nunique() == len(ledger)
    before = ledger.set_index("entity_key").loc[unit]
    assert before["step"] == rows["cycle"].iloc[-11]
    assert before["lower"] <= before["score"] <= before["upper"]
    payload = json.loads(before["payload"])
    assert 0 <= payload["p_fail_within_lead"] <= 1
    assert payload["recommended_step"] >= before["step"] + TASK.kind.lead_time

    result = ingest(engine, TASK, lambda: pd.concat([early, later]), source="frame")
    assert result.accepted == 10  # the known rows are skipped, the new cycles accepted
    score(engine, TASK, chunk_size=5)
    after = _ledger(engine)
    assert not after.duplicated(["entity_key", "step"]).any()
    latest = after.sort_values("step").groupby("entity_key").last()
    assert latest.loc[unit, "step"] == rows["cycle"].iloc[-1]
    assert latest.loc[unit, "score"] != before["score"]
    others = latest.drop(index=unit)
    assert len(after) == len(ledger) + 1 and len(others) == len(ledger) - 1
    assert np.isfinite(after["score"]).all()


def to_cmapss(frame: pd.DataFrame, path: Path) -> list[str]:
    """Write `frame`'s units as a C-MAPSS file (units renumbered 1, 2, ...); their names."""
    names = frame["unit"].drop_duplicates().tolist()
    numbered = frame.assign(unit=frame["unit"].map({u: i + 1 for i, u in enumerate(names)}))
    numbered[list(rul_data.COLUMNS)].to_csv(path, sep=" ", header=False, index=False)
    return names


def test_test_units_from_the_rul_file_are_scored_but_never_trained_on(
        tmp_path: Path, engine) -> None:
    frame = TASK.sample(3000, 0)
    failure = frame.groupby("unit")[rul_data.FAILURE].first()
    ran = failure.dropna().index.tolist()
    folder = tmp_path / "fd"
    folder.mkdir()
    to_cmapss(frame[frame["unit"].isin(ran[:-3])], folder / "train_FD001.txt")
    held = frame[frame["unit"].isin(ran[-3:])]
    truncated = held[held.groupby("unit").cumcount(ascending=False) >= 12]  # 12 cycles short
    to_cmapss(truncated, folder / "test_FD001.txt")
    (folder / "RUL_FD001.txt").write_text("12\n12\n12\n")
    ingest(engine, TASK, lambda: rul_data.cmapss(folder), source="cmapss")
    train(engine, TASK, profile="smoke")
    with engine.connect() as conn:
        params = json.loads(conn.execute(sa.text(
            "SELECT params FROM model_versions ORDER BY id DESC")).scalars().first())
    tests = ["test-1", "test-2", "test-3"]
    assert params["truncated_units"] == tests
    assert sorted(params["fit_units"] + params["valid_units"]) == sorted(
        f"train-{i}" for i in range(1, len(ran) - 2))
    score(engine, TASK)
    ledger = _ledger(engine).set_index("entity_key")
    assert set(tests) <= set(ledger.index)  # the test units are scored like any unit
    assert ledger.loc[tests, "step"].tolist() == truncated.groupby("unit").size().tolist()
