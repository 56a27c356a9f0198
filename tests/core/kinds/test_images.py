"""ImageClassification: hand-computed metrics, operating point, splits, CNN, predictor."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import images
from core.kinds.image_metrics import (
    ClassCalibrator,
    confusion,
    guaranteed_sensitivity,
    image_metrics,
    roc_curve,
    sensitivity_specificity,
    threshold_for_sensitivity,
)
from core.kinds.images import ImageClassification, ImagePredictor
from core.models.formats import installed_formats
from verticals.healthcare.imaging_diagnosis import TASK

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_threshold_for_sensitivity_is_split_conformal():
    positive = np.array([1, 1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.6, 0.7, 0.1])  # positives ascending: 0.3, 0.6, 0.8, 0.9
    # k = floor((1 - target) * (n + 1)) with n = 4: the k-th lowest positive score.
    assert threshold_for_sensitivity(positive, p, 0.5) == 0.6  # k = floor(2.5) = 2
    assert threshold_for_sensitivity(positive, p, 0.25) == 0.8  # k = floor(3.75) = 3
    assert threshold_for_sensitivity(positive, p, 0.75) == 0.3  # k = floor(1.25) = 1
    assert guaranteed_sensitivity(4, 0.75) == pytest.approx(0.8)
    # 4 positives cannot support 95%: the lowest score, and it promises only 4/5.
    assert threshold_for_sensitivity(positive, p, 0.95) == 0.3
    assert guaranteed_sensitivity(4, 0.95) == pytest.approx(0.8)
    assert guaranteed_sensitivity(21, 0.95) == pytest.approx(21 / 22)
    assert sensitivity_specificity(positive == 1, p >= 0.6) == (0.75, 0.5)
    with pytest.raises(ValueError, match="target sensitivity"):
        threshold_for_sensitivity(positive, p, 0.0)


def test_the_threshold_keeps_its_promise_on_new_cases():
    """Over many draws of 21 held-out positives, new positives score at or above the
    threshold at least 95% of the time (the old 'catch 95% of the held-out ones' rule: ~91%)."""
    rng = np.random.default_rng(0)
    caught = []
    for _ in range(4000):
        held_out, new = rng.normal(size=21), rng.normal(size=50)
        t = threshold_for_sensitivity(np.ones(21, dtype=bool), held_out, 0.95)
        caught.append(np.mean(new >= t))
    assert np.mean(caught) >= 0.95
    assert np.mean(caught) == pytest.approx(21 / 22, abs=0.005)


def test_binary_metrics_match_hand_computation():
    y = np.array([0, 0, 0, 1, 1])
    p1 = np.array([0.1, 0.4, 0.6, 0.7, 0.3])
    P = np.column_stack([1 - p1, p1])
    m = image_metrics(y, P, ["benign", "malignant"], positive=1, threshold=0.3)
    assert m["accuracy"] == pytest.approx(3 / 5)  # 0.1, 0.4 right; 0.6 wrong; 0.7 right; 0.3 wrong
    assert m["auc"] == pytest.approx(4 / 6)  # pairs (pos > neg): 0.7 beats 3, 0.3 beats 1
    assert m["sensitivity_malignant"] == 0.5 and m["specificity_malignant"] == pytest.approx(2 / 3)
    assert m["sensitivity_benign"] == pytest.approx(2 / 3) and m["specificity_benign"] == 0.5
    # At 0.3 both positives are caught; negatives 0.4 and 0.6 are false alarms.
    assert (m["op_sensitivity"], m["op_specificity"]) == (1.0, pytest.approx(1 / 3))
    # ECE, 10 bins: every score alone in its bin -> mean |y - p| = (.1+.4+.6+.3+.7)/5
    assert m["ece"] == pytest.approx(0.42)
    assert confusion(y, P.argmax(axis=1), 2) == [[2, 1], [1, 1]]


def test_roc_curve_runs_from_origin_to_corner():
    roc = roc_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert roc["fpr"] == [0.0, 0.0, 0.5, 0.5, 1.0] and roc["tpr"] == [0.0, 0.5, 0.5, 1.0, 1.0]


def test_multiclass_auc_is_one_vs_rest_mean_and_temperature_calibrates():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(0, 1, (300, 3))
    logits[np.arange(300), y] += 1.5
    P = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)  # overconfident
    m = image_metrics(y, P, ["a", "b", "c"], positive=2, threshold=0.5)
    from core.evaluate import auc

    assert m["auc"] == pytest.approx(np.mean([auc(y == k, P[:, k]) for k in range(3)]), abs=1e-6)
    calibrator = ClassCalibrator(positive=2).fit(P, y)
    assert calibrator.params_["temperature"] > 1.5  # softens the overconfident scores
    calibrated = calibrator.transform(P)
    assert image_metrics(y, calibrated, ["a", "b", "c"], 2, 0.5)["ece"] < m["ece"]
    again = ClassCalibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    np.testing.assert_allclose(again.transform(P), calibrated)


def _frame(split: bool) -> pd.DataFrame:
    frame = TASK.sample(200, 3)
    return frame if split else frame.drop(columns=["split"])


def test_official_split_is_used_when_present_else_stratified():
    kind = TASK.kind
    frame = _frame(split=True)
    rows, y, classes = kind.labelled(frame)
    assert classes == ["benign", "malignant"]
    fit, val, test = kind.parts(rows, y, seed=0)
    assert set(rows["split"].iloc[test]) == {"test"} and set(rows["split"].iloc[val]) == {"val"}
    rows, y, _ = kind.labelled(_frame(split=False))
    fit, val, test = kind.parts(rows, y, seed=0)
    assert (len(fit), len(val), len(test)) == (140, 20, 40)
    assert abs(y[test].mean() - y.mean()) < 0.05  # stratified


def test_cnn_trains_tiny_on_cpu_and_beats_chance(tmp_path: Path):
    frame = TASK.feature_frame(TASK.sample(400, 0))
    kind = ImageClassification(labels=("benign", "malignant"), positive="malignant")
    tiny = replace(TASK, profiles={"smoke": {"cnn": {"width": 8, "max_epochs": 4, "patience": 4,
                                                     "tta": False}}})
    [cnn] = kind.train(tiny, frame, profile="smoke", seed=0, models=("cnn",))
    assert cnn.metrics["auc"] > 0.75, cnn.metrics
    assert cnn.params["confusion"]["classes"] == ["benign", "malignant"]
    assert sum(map(sum, cnn.params["confusion"]["matrix"])) == cnn.params["rows"]["test"]
    # Ledger rows: calibrated score, decision at the threshold, probabilities in the payload.
    predictor = cnn.predictor
    ledger = predictor.predict(frame.head(20))
    payload = json.loads(ledger["payload"].iloc[0])
    assert set(payload["probabilities"]) == {"benign", "malignant"}
    assert payload["threshold"] == pytest.approx(predictor.threshold, abs=1e-6)
    expected = np.where(ledger["score"] >= predictor.threshold, "malignant", "benign")
    assert (ledger["label"].to_numpy() == expected).all()
    np.testing.assert_allclose(ledger["score"], [json.loads(p)["probabilities"]["malignant"]
                                                 for p in ledger["payload"]], atol=1e-6)
    # Safe-format round trip (safetensors + JSON) gives the same scores and a Grad-CAM map.
    predictor.save(tmp_path)
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "image_resnet.json", "model.safetensors"]
    loaded = kind.load_predictor(tmp_path, {"format": predictor.format}, installed_formats())
    np.testing.assert_allclose(loaded.predict(frame.head(20))["score"], ledger["score"],
                               rtol=1e-5)
    probabilities, heat = loaded.explain(images.decode(frame["image"].iloc[0]))
    assert heat.shape == (28, 28) and 0 <= heat.min() and heat.max() <= 1
    assert sum(probabilities.values()) == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize("model", ["logistic", "lightgbm"])
def test_pixel_baselines_learn_and_explain(model: str, tmp_path: Path):
    frame = TASK.sample(300, 1)
    [candidate] = TASK.kind.train(TASK, frame, profile="smoke", seed=0, models=(model,))
    assert candidate.metrics["auc"] > 0.7, candidate.metrics
    candidate.predictor.save(tmp_path)
    loaded = ImagePredictor.load(tmp_path, installed_formats())
    _, heat = loaded.explain(images.decode(frame["image"].iloc[0]))
    assert heat.shape == (28, 28) and heat.max() == pytest.approx(1.0)


def test_multiclass_decision_takes_the_likeliest_other_class_below_the_threshold():
    predictor = ImagePredictor(model=None, calibrator=ClassCalibrator(), classes=["a", "b", "c"],
                               positive=2, threshold=0.3, size=28, channels=1)
    P = np.array([[0.5, 0.2, 0.3], [0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    assert predictor.decide(P).tolist() == ["c", "b", "a"]


def test_image_codec_rejects_corrupt_non_image_and_wrong_size():
    good = np.random.default_rng(0).integers(0, 255, (32, 40), dtype=np.uint8)
    text = images.encode(good)
    np.testing.assert_array_equal(images.decode(text), good)
    png = images.png_bytes(text)
    with pytest.raises(images.ImageError, match="corrupt image data"):
        images.decode_bytes(png[: len(png) // 2], "half.png")
    with pytest.raises(images.ImageError, match="not an image"):
        images.decode_bytes(b"name,age\nx,1\n", "table.csv")
    with pytest.raises(images.ImageError, match="8x8 px"):
        images.encode(np.zeros((8, 8), dtype=np.uint8), "tiny.png")
    with pytest.raises(images.ImageError, match="shape"):
        images.check_pixels(np.zeros((4, 32, 32)), "volume")
    with pytest.raises(images.ImageError, match="not base64 PNG"):
        images.decode("not base64!", "row 7")
    assert not images.is_valid("") and images.is_valid(text)


def test_load_rejects_another_kind_of_artifact(tmp_path: Path) -> None:
    kind = ImageClassification(labels=("benign", "malignant"), positive="malignant")
    with pytest.raises(ValueError, match="is not an image predictor"):
        kind.load_predictor(tmp_path, {"format": "forecasting.arima"}, installed_formats())


def test_the_reference_keeps_image_statistics_and_size_with_their_training_range():
    from core.kinds.images import pixel_statistics

    rows = TASK.sample(40, 3)
    pixels = [images.decode(text) for text in rows["image"]]
    stats = pixel_statistics(pixels)
    stored = images.image_statistics(rows["image"])
    np.testing.assert_allclose(stats["brightness"], stored["brightness"])
    np.testing.assert_allclose(stats["contrast"], stored["contrast"])
    reference = TASK.kind.reference(rows)
    assert {"brightness", "contrast", "height", "width"} <= set(reference)
    assert reference["height"]["low"] == reference["height"]["high"] == pixels[0].shape[0]
    assert reference["brightness"]["low"] == pytest.approx(stats["brightness"].min())
    assert reference["brightness"]["high"] == pytest.approx(stats["brightness"].max())
