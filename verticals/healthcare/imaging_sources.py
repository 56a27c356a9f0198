"""Adapters that turn MedMNIST files, PNG/JPEG folders and DICOM files into imaging studies."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from core.dicom import dicom_files, pseudonym, read_dicom, salt
from core.images import IMAGE_SUFFIXES, ImageError, encode, read_image_file

COLUMNS = ("id", "study", "modality", "image", "label", "split", "source")
# Label names of MedMNIST files whose classes we know by name (medmnist/info.py); other
# files get class_<k>. BreastMNIST: 0 = malignant, 1 = normal or benign.
MEDMNIST_LABELS = {"breastmnist": ("malignant", "benign"),
                   "pneumoniamnist": ("normal", "pneumonia")}
MEDMNIST_MODALITY = {"breastmnist": "US", "pneumoniamnist": "CR", "chestmnist": "CR",
                     "dermamnist": "XC", "retinamnist": "OP", "octmnist": "OCT"}
SPLIT_KEYS = {"train": "train", "val": "val", "test": "test"}


def _frame(rows: dict[str, list]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(rows[name], dtype="str") for name in COLUMNS})


def load_medmnist(path: Path) -> pd.DataFrame:
    """Any 2D MedMNIST .npz: every split (train/val/test kept as `split`), one row per image.

    Multi-label files (ChestMNIST) become binary: "finding" when any label is set, else
    "no_finding".
    """
    path = Path(path)
    stem = path.stem.split("_")[0].lower()
    try:
        data = np.load(path)
    except (OSError, ValueError) as error:
        raise ImageError(f"{path}: not a MedMNIST .npz file ({error})") from error
    missing = [f"{s}_images" for s in SPLIT_KEYS if f"{s}_images" not in data.files]
    if missing:
        raise ImageError(f"{path}: no {', '.join(missing)} arrays; a 2D MedMNIST file has "
                         "train/val/test _images and _labels (3D files are not supported)")
    names = MEDMNIST_LABELS.get(stem)
    rows: dict[str, list] = {name: [] for name in COLUMNS}
    for split in SPLIT_KEYS:
        pixels, labels = data[f"{split}_images"], data[f"{split}_labels"]
        if pixels.ndim not in (3, 4):
            raise ImageError(f"{path}: {split}_images has shape {pixels.shape}; expected 2D images")
        labels = labels.reshape(len(labels), -1)
        for i in range(len(pixels)):
            if labels.shape[1] > 1:
                label = "finding" if labels[i].any() else "no_finding"
            else:
                k = int(labels[i, 0])
                label = names[k] if names and k < len(names) else f"class_{k}"
            key = f"{stem}-{split}-{i:05d}"
            rows["id"].append(key)
            rows["study"].append(key)
            rows["modality"].append(MEDMNIST_MODALITY.get(stem, "OT"))
            rows["image"].append(encode(pixels[i], f"{path} {split}_images[{i}]"))
            rows["label"].append(label)
            rows["split"].append(split)
            rows["source"].append(f"medmnist:{stem}")
    return _frame(rows)


def _label_name(folder: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", folder.strip().lower()).strip("_") or "unlabelled"


def load_image_folder(path: Path) -> pd.DataFrame:
    """PNG/JPEG files: ROOT/<class>/*.png, or ROOT/<train|val|test>/<class>/*.png, or one file.

    Ids are salted pseudonyms of the relative path (file names may carry patient names); one
    unreadable file stops the load with its name, so nothing is written.
    """
    path = Path(path)
    key = salt()
    if path.is_file():
        files, root = [path], path.parent
    elif path.is_dir():
        root = path
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        raise ImageError(f"{path}: no such file or folder")
    if not files:
        raise ImageError(f"{path}: no PNG/JPEG files; expected ROOT/<class>/<image>.png")
    rows: dict[str, list] = {name: [] for name in COLUMNS}
    for file in files:
        parts = file.relative_to(root).parts[:-1]
        split = parts[0] if parts and parts[0] in SPLIT_KEYS else None
        classes = parts[1:] if split else parts
        image_id = pseudonym(file.relative_to(root).as_posix(), "img", key)
        rows["id"].append(image_id)
        rows["study"].append(image_id)
        rows["modality"].append("OT")
        rows["image"].append(encode(read_image_file(file), str(file)))
        rows["label"].append(_label_name(classes[-1]) if classes else None)
        rows["split"].append(split)
        rows["source"].append("image_folder")
    return _frame(rows)


def load_dicom(path: Path) -> pd.DataFrame:
    """A DICOM file or folder: de-identified pixels, modality and pseudonymous keys, no label.

    Nothing from the header but the modality is kept (see core.dicom), and the file name is not
    either: `source` is just "dicom".
    """
    key = salt()
    rows: dict[str, list] = {name: [] for name in COLUMNS}
    for file in dicom_files(Path(path)):
        study = read_dicom(file, key=key)
        rows["id"].append(study.image)
        rows["study"].append(study.study)
        rows["modality"].append(study.modality)
        rows["image"].append(encode(study.pixels, str(file)))
        rows["label"].append(None)
        rows["split"].append(None)
        rows["source"].append("dicom")
    return _frame(rows)
