"""Imaging diagnosis: is the lesion in this 2D study malignant? Calibrated, at a set sensitivity."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from core.images import (
    DECODABLE_IMAGE,
    MAX_PIXELS,
    PIXELS_ONLY,
    TOO_MANY_PIXELS,
    decodable,
    image_statistics,
    pixels_only,
    within_pixel_limit,
)
from core.kinds.images import ImageClassification
from core.task import Dataset, Task
from verticals.healthcare.imaging_sources import (
    load_dicom,
    load_image_csv,
    load_image_folder,
    load_medmnist,
)
from verticals.healthcare.lesions import sample

NAME = "healthcare.imaging_diagnosis"

# One study image per row; `image` is a base64 PNG (core.images), `study` a pseudonymous key.
SCHEMA = pa.DataFrameSchema({
    "id": pa.Column(str, unique=True),
    "study": pa.Column(str),
    "modality": pa.Column(str, pa.Check.str_matches(r"^[A-Z]{2,8}$")),
    # Each bad cell fails one of these; the adapters re-encode every image they read, so only
    # a CSV ingested around them (ingest_file) can fail pixels_only.
    "image": pa.Column(str, [
        pa.Check(within_pixel_limit, element_wise=True, name=TOO_MANY_PIXELS,
                 error=f"{TOO_MANY_PIXELS}: an image over {MAX_PIXELS:,} px (resize or tile it)"),
        pa.Check(decodable, element_wise=True, name=DECODABLE_IMAGE,
                 error=f"{DECODABLE_IMAGE}: a 2D image of 16-4096 px as base64 PNG"),
        pa.Check(pixels_only, element_wise=True, name=PIXELS_ONLY,
                 error=f"{PIXELS_ONLY}: a PNG with metadata chunks (text, EXIF) may name the "
                       f"patient; ingest the CSV with `verticals ingest {NAME} FILE.csv`, which "
                       "re-encodes the pixels"),
    ]),
    "label": pa.Column(str, pa.Check.str_matches(r"^[a-z0-9_]+$"), nullable=True),
    "split": pa.Column(str, pa.Check.isin(["train", "val", "test"]), nullable=True),
    "source": pa.Column(str),
})

DATASETS = {
    "medmnist": Dataset("medmnist", "any 2D MedMNIST .npz (official train/val/test split)",
                        load_medmnist, suffixes=(".npz",)),
    # Folder and file names may be the patient's: runs and quarantine keep a digest, errors
    # name a file by its position and content digest.
    "image_folder": Dataset("image_folder", "PNG/JPEG files in ROOT/<class>/ (or "
                            "ROOT/<split>/<class>/); one file scores unlabelled",
                            load_image_folder, suffixes=(".png", ".jpg", ".jpeg"),
                            private_paths=True),
    "dicom": Dataset("dicom", "a DICOM file or folder, de-identified on read (no labels)",
                     load_dicom, suffixes=(".dcm", "/"), private_paths=True),
    # `verticals ingest TASK FILE.csv` reads schema CSVs here, so their images are re-encoded.
    "image_csv": Dataset("image_csv", "a CSV in the Task's schema; every image is re-encoded "
                         "(pixels only, metadata chunks dropped)", load_image_csv,
                         suffixes=(".csv",)),
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
    name=NAME,
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
