"""Imaging diagnosis: is the lesion in this 2D study malignant? Calibrated, at a set sensitivity."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from core.images import image_statistics, is_valid
from core.kinds.images import ImageClassification
from core.task import Dataset, Task
from verticals.healthcare.imaging_sources import load_dicom, load_image_folder, load_medmnist
from verticals.healthcare.lesions import sample

# One study image per row; `image` is a base64 PNG (core.images), `study` a pseudonymous key.
SCHEMA = pa.DataFrameSchema({
    "id": pa.Column(str, unique=True),
    "study": pa.Column(str),
    "modality": pa.Column(str, pa.Check.str_matches(r"^[A-Z]{2,8}$")),
    "image": pa.Column(str, pa.Check(is_valid, element_wise=True, name="decodable_image",
                                     error="decodable_image: a 2D image of 16-4096 px as "
                                           "base64 PNG")),
    "label": pa.Column(str, pa.Check.str_matches(r"^[a-z0-9_]+$"), nullable=True),
    "split": pa.Column(str, pa.Check.isin(["train", "val", "test"]), nullable=True),
    "source": pa.Column(str),
})

DATASETS = {
    "medmnist": Dataset("medmnist", "any 2D MedMNIST .npz (official train/val/test split)",
                        load_medmnist, suffixes=(".npz",)),
    "image_folder": Dataset("image_folder", "PNG/JPEG files in ROOT/<class>/ (or "
                            "ROOT/<split>/<class>/); one file scores unlabelled",
                            load_image_folder, suffixes=(".png", ".jpg", ".jpeg")),
    "dicom": Dataset("dicom", "a DICOM file or folder, de-identified on read (no labels)",
                     load_dicom, suffixes=(".dcm", "/"), private_paths=True),
}

PROFILES = {
    "smoke": {"logistic": {"max_iter": 100},
              "lightgbm": {"n_estimators": 20, "num_leaves": 7},
              "cnn": {"width": 8, "max_epochs": 2, "patience": 2, "tta": False}},
    "quick": {"lightgbm": {"n_estimators": 150},
              "cnn": {"width": 16, "max_epochs": 15, "patience": 6}},
    "full": {"lightgbm": {"n_estimators": 400},
             "cnn": {"width": 16, "ensemble": 5, "max_epochs": 60, "patience": 15}},
}


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """Brightness and contrast per image: what drifts when a scanner or its settings change."""
    return frame.assign(**image_statistics(frame["image"]))


TASK = Task(
    name="healthcare.imaging_diagnosis",
    title="Imaging diagnosis",
    description="Malignant or benign lesion on a 2D study: calibrated probability, decision at "
                "95% sensitivity, Grad-CAM heatmap, audited overrides.",
    kind=ImageClassification(labels=("benign", "malignant"), id="id", image="image",
                             split="split", positive="malignant", drift=("modality",)),
    schema=SCHEMA,
    sample=sample,
    datasets=DATASETS,
    features=features,
    profiles=PROFILES,
    page="verticals.healthcare.imaging_page:page",
    sample_rows=400,
)
