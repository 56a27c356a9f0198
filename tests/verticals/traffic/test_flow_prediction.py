"""traffic.flow_prediction: conformance, ingest -> train -> score on both stores, the bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from core import registry
from core.kinds.base import Batching
from core.store.schema import dataset_attrs, predictions
from core.testing import check_task
from pipelines.bench import BenchError, bench
from pipelines.ingest import ingest_dataset, ingest_file
from pipelines.score import score
from pipelines.train import labelled_rows, train
from verticals.traffic.flow_prediction import TASK, sample
from verticals.traffic.network import write

N_SENSORS, STEPS = 8, 60  # sample(480): 8 sensors x 60 quarter-hours


def test_every_candidate_passes_check_task() -> None:
    check_task(TASK, rows=N_SENSORS * STEPS)


def test_sample_is_a_whole_network_with_its_adjacency() -> None:
    frame = sample(N_SENSORS * STEPS, 0)
    assert frame.groupby("time")["sensor"].nunique().eq(N_SENSORS).all()
    assert len(frame.attrs["adjacency"]) == N_SENSORS and frame.attrs["sensors"][0] == "S001"
    assert (frame["time"].diff().dropna().unique() <= pd.Timedelta("15min")).all()
    assert TASK.kind.batching is Batching.SLICES


def test_ingest_train_score_writes_a_row_per_sensor_and_horizon(engine, tmp_path: Path) -> None:
    file = tmp_path / "flows.csv"
    sample(N_SENSORS * STEPS, 0).to_csv(file, index=False)
    first = ingest_file(engine, TASK, file)
    assert first.accepted == N_SENSORS * STEPS
    again = ingest_file(engine, TASK, file)
    assert again.accepted == 0 and again.skipped_existing == N_SENSORS * STEPS
    result = train(engine, TASK, profile="smoke", models=("last_value", "historical_average"))
    # Chosen on validation (the end of the training part), not on the test figures.
    by_valid = min(result.versions, key=lambda v: v.metrics["valid_rmse_pooled"])
    assert result.champion.id == by_valid.id
    assert all(0 <= v.metrics["coverage80_pooled"] <= 1 for v in result.versions)
    scored = score(engine, TASK, chunk_size=20)
    with engine.connect() as conn:
        ledger = pd.read_sql(sa.select(predictions).where(predictions.c.task == TASK.name), conn)
    # Slices with a full hour of history (4 steps) are forecast: every sensor, horizons 1-4.
    slices = STEPS - 3
    assert len(ledger) == scored.rows == slices * N_SENSORS * 4
    per_key = ledger.groupby(["entity_key", "as_of"])["horizon"].apply(sorted)
    assert per_key.map(lambda h: h == [1, 2, 3, 4]).all()
    assert ledger["entity_key"].nunique() == N_SENSORS
    assert (ledger["lower"] <= ledger["upper"]).all()
    assert {"usual", "flag"} <= set(json.loads(ledger["payload"].iloc[0]))
    score(engine, TASK, chunk_size=20)  # nothing new: the ledger stays as it is
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(predictions)).scalar()
    assert count == len(ledger)


def test_the_adjacency_is_stored_at_ingest_and_a_model_trained_from_the_store_keeps_it(
        engine, tmp_path: Path) -> None:
    folder = tmp_path / "network"
    write(str(folder), n_sensors=4, days=2, seed=5)
    given = pd.read_csv(folder / "adj.csv", header=None).to_numpy(dtype=float)
    first = ingest_dataset(engine, TASK, TASK.datasets["speed_matrix"], folder)
    assert first.attrs == ["adjacency", "sensors"]
    assert ingest_dataset(engine, TASK, TASK.datasets["speed_matrix"], folder).attrs == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(dataset_attrs)).scalar() == 2
    stored = labelled_rows(engine, TASK)
    assert np.asarray(stored.attrs["adjacency"]).tolist() == given.tolist()
    assert stored.attrs["sensors"] == sorted(stored["sensor"].unique())
    result = train(engine, TASK, profile="smoke", models=("graph_gru",))
    predictor = registry.load_predictor(engine, TASK)
    assert result.champion is not None and predictor.adjacency.tolist() == given.tolist()

    # A corrected adjacency (one link removed) is a new value: the old one stays as history.
    i, j = map(int, np.argwhere(given > 0)[0])
    corrected = given.copy()
    corrected[i, j] = 0
    pd.DataFrame(corrected.astype(int)).to_csv(folder / "adj.csv", header=False, index=False)
    assert ingest_dataset(engine, TASK, TASK.datasets["speed_matrix"], folder).attrs == [
        "adjacency"]
    assert np.asarray(labelled_rows(engine, TASK).attrs["adjacency"]).tolist() == \
        corrected.tolist()


def test_health_flags_are_counted_in_the_candidate() -> None:
    frame = sample(12 * 4 * 96, 0)  # the generator's stuck sensor and zero outage
    (candidate,) = TASK.kind.train(TASK, frame, profile="smoke", seed=0, models=("last_value",))
    health = candidate.params["health"]
    assert health["zero"] == 8 and health["stuck"] >= 12 and health["missing"] > 0
    assert candidate.metrics["flagged_share"] > 0
    assert set(candidate.params["flagged_sensors"]) <= set(frame["sensor"])


def test_bench_on_5_minute_files_reports_steps_pooled_and_gains(sqlite_engine, tmp_path) -> None:
    write(str(tmp_path), n_sensors=4, days=3, freq="5min", seed=0)
    result = bench(sqlite_engine, TASK, "speed_matrix", data=tmp_path, profile="smoke",
                   seeds=1)
    assert result["history"] == 12 and result["horizons"] == [3, 6, 9, 12]
    assert set(result["models"]) == {"historical_average", "window_mean", "last_value",
                                     "lightgbm", "gru", "graph_gru"}
    gru = result["models"]["gru"]
    assert gru["vs_gru_pct@12"] == 0.0 and np.isfinite(gru["vs_ha_pct@3"])
    assert {"rmse@3", "rmse_pooled@12", "mae_pooled@6", "accuracy@9", "r2_pooled@12"} <= set(gru)
    assert result["best"]["model"] in result["models"]


def test_bench_refuses_bad_input_naming_file_row_and_sensor(sqlite_engine, tmp_path) -> None:
    (tmp_path / "speed.csv").write_text("date,a,b\n2024-01-01 00:00,10,20\n"
                                        "2024-01-01 00:15,11,-3\n2024-01-01 00:30,12,22\n")
    (tmp_path / "adj.csv").write_text("0,1\n0,0\n")
    with pytest.raises(BenchError, match=r"row 3, sensor 'b': negative speed"):
        bench(sqlite_engine, TASK, "speed_matrix", data=tmp_path, seeds=1)
    with pytest.raises(BenchError, match="takes no option"):
        bench(sqlite_engine, TASK, "speed_matrix", data=tmp_path, options={"target": "x"})


@pytest.fixture
def sqlite_engine(sqlite_url: str):
    from core.store.engine import make_engine, migrate

    store = make_engine(sqlite_url)
    migrate(store)
    yield store
    store.dispose()
