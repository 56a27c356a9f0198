"""Machine failure Task: AI4I adapter, generator rules, physics features, conformance."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
import pytest

from core.kinds.base import PRIMARY_OUTPUT
from core.testing import check_task
from verticals.manufacturing import failure_data as data
from verticals.manufacturing.failure_prediction import SCHEMA, TASK

AI4I_HEADER = ("UDI,Product ID,Type,Air temperature [K],Process temperature [K],"
               "Rotational speed [rpm],Torque [Nm],Tool wear [min],Machine failure,"
               "TWF,HDF,PWF,OSF,RNF")


def _ai4i_file(tmp_path: Path) -> Path:
    rows = ["1,M14860,M,298.1,308.6,1551,42.8,0,0,0,0,0,0,0",
            "2,L47181,L,298.2,308.7,1408,46.3,3,0,0,0,0,0,0",
            "3,L47182,L,302.5,310.6,1300,60.1,190,1,0,1,0,1,0"]
    file = tmp_path / "ai4i2020.csv"
    # The real file's pitfalls: a UTF-8 BOM and CRLF line ends.
    file.write_bytes(("\ufeff" + "\r\n".join([AI4I_HEADER, *rows]) + "\r\n").encode("utf-8"))
    return file


def test_ai4i_adapter_reads_bom_crlf_and_bracketed_names(tmp_path):
    frame = data.ai4i(_ai4i_file(tmp_path).parent)
    assert list(frame.columns) == [data.ID, data.TYPE, *data.NUMERIC, data.TARGET, *data.MODES]
    assert frame[data.ID].tolist() == ["RUN-000001", "RUN-000002", "RUN-000003"]
    assert frame["torque_nm"].tolist() == [42.8, 46.3, 60.1]
    assert frame.loc[2, ["HDF", "OSF"]].tolist() == [1, 1]
    SCHEMA.validate(frame)


def test_ai4i_adapter_names_missing_columns(tmp_path):
    file = tmp_path / "x.csv"
    file.write_text("UDI,Type\n1,L\n")
    with pytest.raises(ValueError, match="missing AI4I columns"):
        data.ai4i(file)


def test_rules_reproduce_the_flags_on_the_real_file():
    folder = Path(__file__).parents[3] / ".." / "shared" / "datasets" / "ai4i2020"
    if not (folder / "ai4i2020.csv").exists():
        pytest.skip("AI4I file not staged")
    frame = data.ai4i(folder)
    assert len(frame) == 10_000 and int(frame[data.TARGET].sum()) == 339
    rules = data.mode_rules(frame)
    assert (rules.to_numpy() == frame[["HDF", "PWF", "OSF"]].astype(int).to_numpy()).all()


def test_sample_follows_the_rules_and_the_schema():
    frame = TASK.sample(2000, 3)
    SCHEMA.validate(frame)
    rules = data.mode_rules(frame)
    assert (rules.to_numpy() == frame[["HDF", "PWF", "OSF"]].astype(int).to_numpy()).all()
    assert (frame[data.TARGET] == frame[list(data.MODES)].max(axis=1)).all()
    assert 0.01 < frame[data.TARGET].astype(int).mean() < 0.15


def test_physics_features():
    row = pd.DataFrame({data.ID: ["a"], data.TYPE: ["L"], "air_temperature_k": [300.0],
                        "process_temperature_k": [308.0], "rotational_speed_rpm": [1500],
                        "torque_nm": [60.0], "tool_wear_min": [220]})
    out = data.features(row).iloc[0]
    assert out["temperature_delta_k"] == pytest.approx(8.0)
    assert out["power_w"] == pytest.approx(60 * 1500 * 2 * np.pi / 60, abs=0.1)
    assert out["overstrain_ratio"] == pytest.approx(220 * 60 / 11_000, abs=1e-4)
    assert out["wear_to_window_min"] == 20


def test_celsius_and_unknown_type_are_rejected_naming_the_column():
    frame = TASK.sample(50, 0)
    frame.loc[0, "air_temperature_k"] = 25.0  # °C sent where K is expected
    frame.loc[1, data.TYPE] = "X"
    with pytest.raises(pandera.errors.SchemaErrors) as error:
        SCHEMA.validate(frame, lazy=True)
    text = str(error.value)
    assert "air_temperature_k" in text and "product_type" in text


def test_modes_are_labels_never_features():
    kind = TASK.kind
    assert kind.label_columns == (data.TARGET, *data.MODES)
    features = kind.feature_columns(TASK.feature_frame(TASK.sample(100, 0)))
    assert not set(features) & {data.TARGET, *data.MODES}
    assert not set(kind.scoring_columns(TASK)) & {data.TARGET, *data.MODES}


def _trained(costs):
    task = replace(TASK, kind=replace(TASK.kind, costs=costs))
    frame = task.feature_frame(task.sample(1500, 0))
    return task.kind.train(task, frame, profile="smoke", seed=0, models=("lightgbm",))[0], frame


def test_cost_based_cutoff_is_stored_in_the_predictor():
    candidate, frame = _trained((50.0, 1.0))
    predictor = candidate.predictor
    assert predictor.cutoff != TASK.kind.cutoff  # chosen by cost, not the fixed 0.5
    ledger = predictor.predict(frame)
    ledger = ledger[ledger["output"] == PRIMARY_OUTPUT].reset_index(drop=True)
    assert set(ledger["label"]) <= {"run", "stop"}
    assert (ledger["label"] == "stop").tolist() == (ledger["score"] >= predictor.cutoff).tolist()
    # On overlapping scores, dear misses stop machines sooner than dear stops do.
    X = frame[predictor.features]
    noisy = np.random.default_rng(0).random(len(X)) < 0.3
    cutoffs = [replace(TASK.kind, costs=costs)._cutoff(
        predictor.model, predictor.calibrator, X, noisy.astype(int))
        for costs in ((50.0, 1.0), (1.0, 50.0))]
    assert cutoffs[0] < cutoffs[1]


def test_every_mode_is_a_calibrated_output_row_with_its_own_metrics(tmp_path):
    candidate, frame = _trained((50.0, 1.0))
    assert TASK.kind.outputs == (PRIMARY_OUTPUT, *data.MODES)
    ledger = candidate.predictor.predict(frame)
    assert ledger["output"].value_counts().to_dict() == {o: len(frame) for o in TASK.kind.outputs}
    hdf = ledger[ledger["output"] == "HDF"].set_index("entity_key")["score"]
    truth = frame.set_index(data.ID)["HDF"].astype(int)
    # The HDF head separates HDF runs from the rest and is not the failure probability.
    assert hdf[truth == 1].mean() > 0.5 > hdf[truth == 0].mean()
    assert ledger[ledger["output"] == "HDF"]["label"].isna().all()  # the decision is the run's
    for mode in ("HDF", "PWF", "OSF"):
        assert 0.0 <= candidate.metrics[f"recall_{mode}"] <= 1.0
        assert f"pr_auc_{mode}" in candidate.metrics
    # RNF (~0.1% of runs) has too few positives to fit: its head is the base rate, no reasons.
    rnf = ledger[ledger["output"] == "RNF"]
    assert rnf["score"].nunique() == 1 and (rnf["reasons"] == "[]").all()
    candidate.predictor.save(tmp_path)
    loaded = TASK.kind.load_predictor(tmp_path, {"format": candidate.predictor.format},
                                      TASK.model_formats()).predict(frame)
    pd.testing.assert_frame_equal(ledger, loaded, check_exact=False, rtol=1e-6)


def test_reasons_speak_the_planners_language():
    row = pd.DataFrame({data.ID: ["a"], data.TYPE: ["L"], "air_temperature_k": [300.0],
                        "process_temperature_k": [308.1], "rotational_speed_rpm": [1320],
                        "torque_nm": [67.6], "tool_wear_min": [215]})
    said = {f: fn(row).iloc[0] for f, fn in data.REASON_TEXT.items()}
    assert said["power_w"] == "power 9,344 W, above the 9,000 W limit"
    assert said["wear_to_window_min"] == "tool wear 215 min, in the 200–240 min tool-change window"
    assert said["overstrain_ratio"] == "overstrain 14,534 min·Nm, above type L's 11,000 limit"
    assert said["temperature_delta_k"] == ("temperature difference 8.1 K, below 8.6 K, "
                                           "at 1,320 rpm (below 1,380)")
    candidate, frame = _trained((50.0, 1.0))
    ledger = candidate.predictor.predict(frame)
    failing = frame[data.ID][frame["PWF"].astype(int) == 1].iloc[0]
    reasons = json.loads(ledger[(ledger["entity_key"] == failing)
                                & (ledger["output"] == "PWF")]["reasons"].iloc[0])
    texts = [r.get("text", "") for r in reasons]
    assert any(t.startswith("power ") and "W" in t for t in texts), reasons


def test_task_conforms():
    check_task(TASK, rows=600)


def test_bench_on_the_seeded_sample_reports_mode_recall_and_costs():
    kind = replace(TASK.kind, bench_models={"smoke": ("lightgbm",)})
    task = replace(TASK, kind=kind)
    frame = task.feature_frame(task.sample(1500, 0))
    result = kind.bench(task, frame, dataset="sample", profile="smoke", seed=0)
    assert list(result["models"]) == ["lightgbm"] and result["best"]["model"] == "lightgbm"
    best = result["best"]
    for mode in data.MODES:  # a mode absent from the sample (RNF is ~0.1%) has no recall
        assert (f"recall_{mode}" in best) == (result["mode_rates"][mode] > 0)
    # The rules' modes are mostly caught from the physics features, even with 20 trees.
    assert best["recall_HDF"] == best["recall_PWF"] == 1.0 and best["recall_OSF"] > 0.8
    assert best["cost_per_1000"] < min(best["never_act_per_1000"], best["always_act_per_1000"])
    # A missed failure costs ten needless stops: the cost cut-off sits no higher than F1's.
    assert best["threshold"] <= best["f1_threshold"]
    rates = frame[list(data.MODES)].astype(float).mean().round(4).to_dict()
    assert result["mode_rates"] == rates
    assert "cost-minimising" in result["protocol"]
    json.dumps(result)
