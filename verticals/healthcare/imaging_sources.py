"""Adapters that turn MedMNIST files, PNG/JPEG folders, DICOM files and study CSVs into studies."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from core.dicom import dicom_files, pseudonym, read_dicom, salt
from core.images import IMAGE_SUFFIXES, ImageError, decode_bytes, encode, reencode, refusal

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
    if path.is_dir():
        raise ImageError(f"{path} is a folder: give the MedMNIST .npz file itself "
                         "(e.g. breastmnist.npz); for a folder of PNG/JPEG files use "
                         "--dataset image_folder")
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


def _where(position: int, total: int, data: bytes | None = None) -> str:
    """How an error names a file of a folder whose paths may be the patient's: its position in
    path order and its content digest (`sha256sum FILE | cut -c1-16` finds it), never a name."""
    digest = "" if data is None else f" (content sha256:{hashlib.sha256(data).hexdigest()[:16]})"
    return f"file {position} of {total}{digest}"


def _read_bytes(file: Path, where: str) -> bytes:
    try:
        return file.read_bytes()
    except OSError as error:
        # `from None`: the OSError's text names the path, and a run keeps its error's chain.
        raise ImageError(f"{where}: cannot be read ({error.strerror or type(error).__name__}); "
                         "check its permissions") from None


def _refuse_all(refused: list[ImageError], total: int, what: str) -> None:
    """No file usable: the source is wrong as a whole, so the load fails (nothing written)."""
    if total == 1:
        raise refused[0]
    raise ImageError(f"none of the {total} {what} could be used, so nothing was ingested; "
                     f"the first: {refused[0]}. Check that this is the right folder")


def _image_files(path: Path) -> tuple[list[Path], Path]:
    if path.is_file():
        return [path], path.parent
    if not path.is_dir():
        raise ImageError("the image folder does not exist (its path is not repeated: it may "
                         "name the patient); check the path")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.is_file() and not p.name.startswith("."))
    if not files:
        raise ImageError("the image folder has no PNG/JPEG files; expected "
                         "ROOT/<class>/<image>.png (for DICOM files use --dataset dicom)")
    return files, path


def load_image_folder(path: Path) -> pd.DataFrame:
    """PNG/JPEG files: ROOT/<class>/*.png, or ROOT/<train|val|test>/<class>/*.png, or one file.

    Ids are salted pseudonyms of the relative path (file names may carry patient names). A file
    that cannot be used becomes a row whose image is its refusal (core.images.refusal), so
    ingest quarantines that file alone, its row number being its position in path order; when
    no file is usable the load fails. Errors never name a path, only "file 3 of 12".
    """
    files, root = _image_files(Path(path))
    key = salt()
    rows: dict[str, list] = {name: [] for name in COLUMNS}
    refused: list[ImageError] = []
    for position, file in enumerate(files, 1):
        parts = file.relative_to(root).parts[:-1]
        split = parts[0] if parts and parts[0] in SPLIT_KEYS else None
        classes = parts[1:] if split else parts
        image_id = pseudonym(file.relative_to(root).as_posix(), "img", key)
        try:
            where = _where(position, len(files))
            data = _read_bytes(file, where)
            where = _where(position, len(files), data)
            image = encode(decode_bytes(data, where), where)
        except ImageError as error:
            refused.append(error)
            image = refusal(error)
        rows["id"].append(image_id)
        rows["study"].append(image_id)
        rows["modality"].append("OT")
        rows["image"].append(image)
        rows["label"].append(_label_name(classes[-1]) if classes else None)
        rows["split"].append(split)
        rows["source"].append("image_folder")
    if len(refused) == len(files):
        _refuse_all(refused, len(files), "image files")
    return _frame(rows)


def _dicom_files(path: Path) -> tuple[list[Path], Path]:
    if not path.exists():
        raise ImageError("the DICOM file or folder does not exist (its path is not repeated: it "
                         "may name the patient); check the path")
    files = dicom_files(path, where="the DICOM folder")
    return files, path.parent if path.is_file() else path


def load_dicom(path: Path) -> pd.DataFrame:
    """A DICOM file or folder: de-identified pixels, modality and pseudonymous keys, no label.

    Nothing from the header but the modality is kept (see core.dicom), and the file name is not
    either: `source` is just "dicom". A file that cannot be used is quarantined alone (its row
    holds the refusal, keyed by a pseudonym of its relative path); when none is usable the
    load fails. Errors name a file by its position, never its path.
    """
    files, root = _dicom_files(Path(path))
    key = salt()
    rows: dict[str, list] = {name: [] for name in COLUMNS}
    refused: list[ImageError] = []
    for position, file in enumerate(files, 1):
        try:
            where = _where(position, len(files))
            data = _read_bytes(file, where)
            where = _where(position, len(files), data)
            study = read_dicom(data, where=where, key=key)
            row = (study.image, study.study, study.modality, encode(study.pixels, where))
        except ImageError as error:
            refused.append(error)
            unusable = pseudonym(file.relative_to(root).as_posix(), "im", key)
            row = (unusable, unusable, "OT", refusal(error))
        for name, value in zip(("id", "study", "modality", "image"), row, strict=True):
            rows[name].append(value)
        rows["label"].append(None)
        rows["split"].append(None)
        rows["source"].append("dicom")
    if len(refused) == len(files):
        _refuse_all(refused, len(files), "DICOM files")
    return _frame(rows)


def _reencoded(text: object, where: str) -> object:
    if not isinstance(text, str):
        return text  # an empty cell: the schema's not_nullable rule names it
    try:
        return reencode(text, where)
    except ImageError as error:
        return refusal(error)


def load_image_csv(path: Path) -> pd.DataFrame:
    """A CSV in the Task's schema with every image re-encoded: the same pixels, no metadata
    chunk (a PNG's tEXt/iTXt/zTXt/eXIf may name the patient) and nothing after the image.

    An image that cannot be used (corrupt, over the pixel limit) becomes its refusal, so
    ingest quarantines that row for its rule and keeps the others.
    """
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not a CSV file: give the CSV file itself; for a "
                         "folder of PNG/JPEG files use --dataset image_folder, for DICOM files "
                         "--dataset dicom")
    if not path.is_file():
        raise ImageError(f"{path}: no such file; give an existing CSV of studies")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ImageError(f"cannot parse {path} as CSV ({type(error).__name__}: {error}); check "
                         "the delimiter, quoting and encoding (UTF-8 expected)") from error
    frame.columns = [str(column).strip() for column in frame.columns]
    if "image" in frame.columns:  # without it ingest names the missing column
        frame["image"] = [_reencoded(text, f"row {row}")
                          for row, text in enumerate(frame["image"], 1)]
    return frame
