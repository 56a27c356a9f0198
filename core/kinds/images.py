"""ImageClassification: one label per 2D image, calibrated, decided at an operating point."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core import images, progress
from core.evaluate import leaderboard, stratified_split
from core.intervals import Interval, auc_statistic, bootstrap, mean_statistic, ratio_statistic
from core.kinds.base import (
    PRIMARY_OUTPUT,
    SECTIONS,
    Batching,
    Benchmark,
    Candidate,
    Gate,
    TaskSpec,
    ledger_frame,
    require_format,
    sorted_groups,
)
from core.kinds.image_metrics import (
    ClassCalibrator,
    confusion,
    guaranteed_sensitivity,
    image_metrics,
    roc_curve,
    threshold_for_sensitivity,
)
from core.kinds.live import classifier_metrics, realised_rows
from core.kinds.predictor_files import load_predictor_files, save_predictor
from core.models.formats import BUILTIN, lazy_factory
from core.models.protocol import json_params
from core.monitor import reference_profile

if TYPE_CHECKING:
    from core.models.formats import Formats
    from core.models.protocol import Model

PREDICTOR_FILE = "image_predictor.json"
FORMAT_PREFIX = "images."
SPLITS = ("train", "val", "test")
RANDOM_SPLIT = (0.7, 0.1, 0.2)  # fit / validation (calibration, threshold) / test


@dataclass(frozen=True)
class ImageClassification:
    """A Kind for "which class is this image?" with a calibrated positive (lesion) class.

    `labels` orders the classes (others found in the data are appended); `positive` is the class
    the operating point is for (default: the last label). Splits: the `split` column's official
    train/val/test when the data has one, stratified 70/10/20 otherwise. Images are resized to
    `size` px; validation rows calibrate the probabilities and fix the threshold that gives a
    new positive case `target_sensitivity` (split-conformal, core.kinds.image_metrics). Drift
    is watched on image brightness and contrast plus the Task's `drift` columns.
    """

    labels: tuple[str, ...]
    id: str = "id"
    image: str = "image"
    split: str | None = "split"
    target: str = "label"
    positive: str | None = None
    size: int = 28
    target_sensitivity: float = 0.95
    calibration: str = "platt"
    drift: tuple[str, ...] = ()  # Task columns to watch for drift besides image statistics

    name = "image_classification"
    primary_metric = "auc"
    higher_is_better = True
    outputs = (PRIMARY_OUTPUT,)
    batching = Batching.ROWS
    display_metrics = ("auc", "accuracy", "op_sensitivity", "op_specificity", "op_guarantee")
    sections = SECTIONS
    bench_options = ("seeds",)
    frame_attrs = ()  # every row carries its own image
    gate = Gate("auc", 0.7, min_outcomes=30)

    # --- the declared contract (core.kinds.base.Kind) -------------------------------------------

    @property
    def entity(self) -> str:
        return self.id

    @property
    def step_column(self) -> str | None:
        return None  # a study is one row

    @property
    def label_columns(self) -> tuple[str, ...]:
        return (self.target,)

    def benchmarks(self) -> Mapping[str, Benchmark]:
        return {}

    def realised(self, task: TaskSpec, frame: pd.DataFrame,
                 ledger: pd.DataFrame) -> pd.DataFrame:
        """Studies whose class arrived: actual 1.0 for the positive class."""
        wanted = self.positive or self.labels[-1]
        return realised_rows(ledger, frame, entity=self.id, label=self.target,
                             actual=lambda labels: (labels.astype(str) == wanted).astype(float))

    def live_metrics(self, realised: pd.DataFrame) -> dict[str, float]:
        """AUC/KS of the positive probability; F1 of the decisions the predictor made (its own
        threshold, which the ledger label records)."""
        wanted = self.positive or self.labels[-1]
        decided = (realised["label"].astype(str) == wanted).to_numpy()
        return classifier_metrics(realised, 0.5, decided=decided)

    def default_models(self) -> Mapping[str, Callable[..., Model]]:
        return {"logistic": lazy_factory(BUILTIN["pixel_logistic"]),
                "lightgbm": lazy_factory(BUILTIN["pixel_lightgbm"]),
                "cnn": lazy_factory(BUILTIN["image_resnet"])}

    def key_columns(self) -> tuple[str, ...]:
        return (self.id,)

    def scoring_columns(self, task: TaskSpec) -> list[str]:
        return [c for c in task.schema.columns if c != self.target]  # the model never sees labels

    def scoring_groups(self, keys: Sequence[Any], chunk_size: int) -> list[list[Any]]:
        return sorted_groups(keys, chunk_size)

    def classes(self, values: pd.Series) -> list[str]:
        seen = {str(v) for v in values.dropna().unique()}
        return [c for c in self.labels if c in seen] + sorted(seen - set(self.labels))

    def positive_index(self, classes: list[str]) -> int:
        wanted = self.positive or self.labels[-1]
        return classes.index(wanted) if wanted in classes else len(classes) - 1

    def labelled(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
        for column in (self.id, self.image, self.target):
            if column not in frame.columns:
                raise KeyError(f"the frame has no column {column!r}; columns: "
                               f"{', '.join(map(str, frame.columns))}")
        rows = frame[frame[self.target].notna()].reset_index(drop=True)
        classes = self.classes(rows[self.target])
        if len(classes) < 2:
            raise ValueError(f"{self.target!r} needs at least two classes among labelled rows "
                             f"({len(rows)} rows, classes {classes})")
        y = rows[self.target].astype(str).map({c: k for k, c in enumerate(classes)})
        return rows, y.to_numpy(dtype=np.int64), classes

    def parts(self, rows: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
        """(fit, validation, test) row indices: the official split when present, else stratified."""
        if self.split and self.split in rows.columns and rows[self.split].notna().all():
            split = rows[self.split].astype(str).to_numpy()
            fit, val, test = (np.flatnonzero(split == name) for name in SPLITS)
            if len(fit) and len(test):
                if not len(val):  # no official validation part: carve it from train
                    inner, held = stratified_split(y[fit], (0.85, 0.15), seed)
                    fit, val = fit[inner], fit[held]
                return fit, val, test
        return stratified_split(y, RANDOM_SPLIT, seed)

    def reference(self, rows: pd.DataFrame) -> dict[str, Any]:
        """Drift and out-of-distribution reference: brightness and contrast (as
        core.images.image_statistics, which the Task's `features` add to scored rows), height
        and width (pixel_statistics) and the `drift` columns the Task names."""
        pixels = [images.decode(text, f"row {self.id}={key}") for key, text in
                  zip(rows[self.id], rows[self.image], strict=True)]
        stats = pixel_statistics(pixels).set_axis(rows.index)
        frame = pd.concat([stats, rows[[c for c in self.drift if c in rows.columns]]], axis=1)
        return reference_profile(frame, list(frame.columns))

    def arrays(self, rows: pd.DataFrame, channels: int | None = None) -> tuple[np.ndarray, int]:
        pixels = [images.decode(text, f"row {self.id}={key}") for key, text in
                  zip(rows[self.id], rows[self.image], strict=True)]
        channels = channels or images.channels_of(pixels)
        return images.to_batch(pixels, self.size, channels), channels

    def train(
        self, task: TaskSpec, frame: pd.DataFrame, *, profile: str, seed: int,
        models: tuple[str, ...] | None = None,
    ) -> list[Candidate]:
        """Fit each candidate on the fit part, calibrate and set the threshold on validation,
        report metrics on test."""
        rows, y, classes = self.labelled(frame)
        fit, val, test = self.parts(rows, y, seed)
        X, channels = self.arrays(rows)
        positive = self.positive_index(classes)
        reference = self.reference(rows.iloc[fit])
        candidates = []
        for name in (list(task.candidates()) if models is None else list(models)):
            progress.update(candidate=name, seed=seed)
            model = task.build_model(name, profile, seed=seed)
            started = time.perf_counter()
            model.fit(X[fit], y[fit], X_valid=X[val], y_valid=y[val])
            seconds = time.perf_counter() - started
            calibrator = ClassCalibrator(self.calibration, positive).fit(
                model.predict_proba(X[val]), y[val])
            threshold = threshold_for_sensitivity(
                y[val] == positive, calibrator.transform(model.predict_proba(X[val]))[:, positive],
                self.target_sensitivity)
            raw = model.predict_proba(X[test])
            P = calibrator.transform(raw)
            predictor = ImagePredictor(model, calibrator, classes, positive, threshold, self.size,
                                       channels, self.id, self.image)
            params = {
                "model": json_params(model.get_params()), "classes": classes,
                "positive": classes[positive], "threshold": threshold,
                "target_sensitivity": self.target_sensitivity, "fit_seconds": round(seconds, 2),
                "epochs": getattr(model, "epochs_", None),
                "rows": {"fit": len(fit), "validation": len(val), "test": len(test)},
                "confusion": operating_confusion(y[test], P, classes, positive, threshold),
                "roc": roc_curve(y[test] == positive, P[:, positive]),
            }
            candidates.append(Candidate(
                name=name, predictor=predictor, params=params, train_rows=len(fit),
                metrics={**image_metrics(y[test], P, classes, positive, threshold),
                         # read off the matrix the page draws: one truth for both
                         **operating_rates(params["confusion"]),
                         # the sensitivity the threshold promises a new malignant case
                         "op_guarantee": round(guaranteed_sensitivity(
                             int(np.sum(y[val] == positive)), self.target_sensitivity), 4),
                         # what the MedMNIST evaluator reports: argmax of the raw softmax
                         "accuracy_uncalibrated": round(float(np.mean(
                             raw.argmax(axis=1) == y[test])), 6)},
                reference=reference,
                intervals=held_out_intervals(y[test], P, positive, threshold)))
        return candidates

    def load_predictor(self, directory: Path, config: Mapping[str, Any],
                       formats: Formats) -> ImagePredictor:
        require_format(directory, config, FORMAT_PREFIX, "an image predictor")
        return ImagePredictor.load(Path(directory), formats)

    def bench(
        self, task: TaskSpec, frame: pd.DataFrame, *, dataset: str, profile: str, seed: int,
        seeds: int = 1, **options: Any,
    ) -> dict[str, Any]:
        """Train every candidate with seeds seed..seed+seeds-1; mean and std of test metrics."""
        runs: dict[str, list[dict[str, float]]] = {}
        seconds: dict[str, list[float]] = {}
        for offset in range(seeds):
            for candidate in self.train(task, frame, profile=profile, seed=seed + offset):
                runs.setdefault(candidate.name, []).append(candidate.metrics)
                seconds.setdefault(candidate.name, []).append(candidate.params["fit_seconds"])
        results = {}
        for name, metrics in runs.items():
            summary: dict[str, float] = {}
            for key in metrics[0]:
                values = np.array([m[key] for m in metrics], dtype=float)
                summary[key] = round(float(np.mean(values)), 4)
                if key in ("auc", "accuracy", "accuracy_uncalibrated", "op_sensitivity",
                           "op_specificity", "ece"):
                    summary[f"{key}_std"] = round(float(np.std(values)), 4)
            summary["fit_seconds"] = round(float(np.mean(seconds[name])), 1)
            results[name] = summary
        best_name, best = leaderboard(results, self.primary_metric, self.higher_is_better)[0]
        rows, y, classes = self.labelled(frame)
        official = bool(self.split and self.split in rows.columns
                        and rows[self.split].notna().all())
        protocol = (
            f"{'official train/val/test split' if official else 'stratified 70/10/20 split'} "
            f"({len(rows)} labelled images, classes {classes}, resized to {self.size} px); "
            f"fit on train, {self.calibration if len(classes) == 2 else 'temperature'} "
            "calibration and the operating point (split-conformal: a new "
            f"{classes[self.positive_index(classes)]} case scores above it with probability >= "
            f"{self.target_sensitivity}, op_guarantee with the val positives there are) on val, "
            "metrics on test; accuracy is "
            f"argmax (threshold 0.5) of calibrated probabilities; mean and std over {seeds} "
            f"seed(s) starting at {seed}; profile {profile}"
        )
        return {"task": task.name, "dataset": dataset, "protocol": protocol, "models": results,
                "best": {"model": best_name, **best}}


@dataclass
class ImagePredictor:
    """A fitted model + calibrator + operating point: stored images in, ledger rows out."""

    model: Any
    calibrator: ClassCalibrator
    classes: list[str]
    positive: int
    threshold: float
    size: int
    channels: int
    id: str = "id"
    image: str = "image"

    @property
    def format(self) -> str:
        return FORMAT_PREFIX + self.model.format

    def batch(self, pixels: list[np.ndarray]) -> np.ndarray:
        return images.to_batch(pixels, self.size, self.channels)

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        return self.calibrator.transform(self.model.predict_proba(X))

    def decide(self, P: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """The positive class when its probability reaches the threshold, else the likeliest
        other class."""
        threshold = self.threshold if threshold is None else threshold
        names = np.asarray(self.classes, dtype=object)
        return names[decided(P, self.positive, threshold)]

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Ledger rows: calibrated positive-class probability, decision, probabilities JSON."""
        missing = [c for c in (self.id, self.image) if c not in frame.columns]
        if missing:
            raise KeyError(f"rows to score lack columns {missing}")
        pixels = [images.decode(text, f"row {self.id}={key}")
                  for key, text in zip(frame[self.id], frame[self.image], strict=True)]
        P = self.probabilities(self.batch(pixels)) if pixels else np.empty((0, len(self.classes)))
        payload = [json.dumps({"probabilities": dict(zip(self.classes, map(_round, p),
                                                         strict=True)),
                               "threshold": round(self.threshold, 6),
                               "positive": self.classes[self.positive]}) for p in P]
        n = len(frame)
        return ledger_frame(
            n, frame[self.id].astype("str").to_numpy(), P[:, self.positive] if n else np.empty(0),
            label=self.decide(P) if n else np.empty(0, dtype=object),
            payload=np.asarray(payload, dtype=object))

    def explain(self, pixels: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        """One image -> (calibrated probabilities per class, heatmap (size, size) in [0, 1]) for
        the positive class (Grad-CAM for the CNN, pixel effects for the baselines)."""
        X = self.batch([pixels])
        P = self.probabilities(X)[0]
        heat = self.model.heatmap(X[0], self.positive)
        return dict(zip(self.classes, map(_round, P), strict=True)), heat

    def save(self, directory: Path) -> None:
        save_predictor(directory, PREDICTOR_FILE, self.model, {
            "format": self.format, "calibrator": self.calibrator.to_dict(),
            "classes": self.classes, "positive": self.positive, "threshold": self.threshold,
            "size": self.size, "channels": self.channels, "id": self.id, "image": self.image})

    @classmethod
    def load(cls, directory: Path, formats: Formats) -> ImagePredictor:
        state, model = load_predictor_files(directory, PREDICTOR_FILE, "image predictor",
                                            formats)
        return cls(model=model, calibrator=ClassCalibrator.from_dict(state["calibrator"]),
                   classes=state["classes"], positive=state["positive"],
                   threshold=state["threshold"], size=state["size"], channels=state["channels"],
                   id=state["id"], image=state["image"])


def pixel_statistics(pixels: Sequence[np.ndarray]) -> pd.DataFrame:
    """Per image: brightness and contrast (mean and std intensity in 0..1, as
    core.images.image_statistics) and height and width in px, the columns the reference keeps
    and an uploaded image is checked against (core.ood.out_of_range with IMAGE_MARGIN)."""
    return pd.DataFrame({
        "brightness": [float(p.mean()) / 255.0 for p in pixels],
        "contrast": [float(p.std()) / 255.0 for p in pixels],
        "height": [int(p.shape[0]) for p in pixels],
        "width": [int(p.shape[1]) for p in pixels]},
        columns=["brightness", "contrast", "height", "width"])


# How far past the training images' range (a share of it, each side) an image's statistics
# may lie before a page warns: the range is only the training sample's, so a little beyond it
# is still a study like theirs; a different scanner or modality lands far outside.
IMAGE_MARGIN = 0.1


def decided(P: np.ndarray, positive: int, threshold: float) -> np.ndarray:
    """Class indices decided at the operating point: the positive class when its probability
    reaches `threshold`, else the likeliest other class (not argmax: at a threshold below 0.5
    a case the model finds more likely benign is still called positive)."""
    others = np.array(P, dtype=float, copy=True)
    others[:, positive] = -1.0
    return np.where(P[:, positive] >= threshold, positive, others.argmax(axis=1))


def operating_confusion(y: np.ndarray, P: np.ndarray, classes: list[str], positive: int,
                        threshold: float) -> dict[str, Any]:
    """counts[true][decided] of the decisions at the operating point, with the threshold and
    positive class they were made for (model_versions.params["confusion"])."""
    return {"classes": list(classes), "positive": classes[positive],
            "threshold": round(float(threshold), 6),
            "matrix": confusion(y, decided(P, positive, threshold), len(classes))}


def operating_rates(matrix: Mapping[str, Any]) -> dict[str, float]:
    """op_sensitivity and op_specificity of the positive class read off an operating-point
    confusion matrix (operating_confusion); NaN when a class has no rows."""
    counts = np.asarray(matrix["matrix"], dtype=float)
    k = list(matrix["classes"]).index(matrix["positive"])
    positives = counts[k].sum()
    negatives = counts.sum() - positives
    false_positive = counts[:, k].sum() - counts[k, k]
    sens = counts[k, k] / positives if positives else float("nan")
    spec = 1 - false_positive / negatives if negatives else float("nan")
    return {"op_sensitivity": round(float(sens), 6), "op_specificity": round(float(spec), 6)}


def held_out_intervals(y: np.ndarray, P: np.ndarray, positive: int, threshold: float
                       ) -> dict[str, Interval]:
    """Bootstrap intervals over the test images of auc (one-vs-rest mean over classes present
    beyond two, as image_metrics), accuracy (argmax) and the operating point's sensitivity and
    specificity, on the same resamples."""
    classes = range(P.shape[1]) if P.shape[1] > 2 else [positive]
    aucs = [auc_statistic(y == k, P[:, k]) for k in classes if 0 < (y == k).sum() < len(y)]
    hit = P.argmax(axis=1) == y
    called, sick = P[:, positive] >= threshold, y == positive
    return bootstrap({
        "auc": lambda counts: np.mean([a(counts) for a in aucs], axis=0),
        "accuracy": mean_statistic(hit),
        "op_sensitivity": ratio_statistic(called & sick, sick),
        "op_specificity": ratio_statistic(~called & ~sick, ~sick)}, len(y), over="test images")


def _round(value: float) -> float:
    return round(float(value), 6)
