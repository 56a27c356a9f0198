"""The imaging-diagnosis Task: sample file, generator, adapters (MedMNIST, image folder), ingest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from PIL import Image

from core import images
from core.store.engine import ensure_task_table, read_task_frame
from pipelines.ingest import ingest, ingest_file
from verticals.healthcare.imaging_diagnosis import TASK
from verticals.healthcare.lesions import lesion_image

SAMPLE = Path(__file__).parents[3] / "data_samples" / "healthcare_imaging_diagnosis.csv"


@pytest.fixture(autouse=True)
def fixed_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_PSEUDONYM_SALT", "test-salt")


def test_sample_file_is_the_generator_output_and_small():
    assert SAMPLE.stat().st_size < 1_000_000
    stored = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    generated = TASK.sample(TASK.sample_rows, 0)
    assert stored["id"].tolist() == generated["id"].tolist()
    assert stored["image"].tolist() == generated["image"].tolist()
    assert set(stored["label"]) == {"benign", "malignant"}


def test_generator_classes_differ_in_shape_not_brightness():
    rng = np.random.default_rng(0)
    benign = np.array([lesion_image(rng, False) for _ in range(60)], dtype=float)
    malignant = np.array([lesion_image(rng, True) for _ in range(60)], dtype=float)
    # Mean brightness overlaps (a brightness threshold cannot separate the classes) ...
    assert abs(benign.mean() - malignant.mean()) < 12
    # ... while the edge is rougher: more high-frequency energy in malignant lesions.
    def roughness(batch: np.ndarray) -> float:
        return float(np.abs(np.diff(batch, axis=1)).mean() + np.abs(np.diff(batch, axis=2)).mean())
    assert roughness(malignant) > roughness(benign)


def test_sample_csv_ingests_without_quarantine(engine: sa.Engine):
    result = ingest_file(engine, TASK, SAMPLE)
    assert (result.accepted, result.quarantined) == (TASK.sample_rows, 0)
    with engine.connect() as connection:
        back = read_task_frame(connection, TASK)
    TASK.schema.validate(back)
    first = images.decode(back["image"].iloc[0])
    assert first.shape == (28, 28) and first.dtype == np.uint8


def test_bad_image_cells_are_quarantined_with_the_rule(engine: sa.Engine, tmp_path: Path):
    frame = TASK.sample(5, 1)
    frame.loc[1, "image"] = "bm90IGFuIGltYWdl"  # base64 of "not an image"
    frame.loc[3, "image"] = images.encode(np.zeros((20, 20), np.uint8))[:-30]  # truncated
    path = tmp_path / "studies.csv"
    frame.to_csv(path, index=False)
    result = ingest_file(engine, TASK, path)
    assert (result.accepted, result.quarantined) == (3, 2)
    assert {rule.split(":")[0] for (column, rule) in result.reasons
            if column == "image"} == {"decodable_image"}


def _medmnist(path: Path, multilabel: bool = False) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 4)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (rng.integers(0, 2, (n, 3)) if multilabel
                                     else np.arange(n).reshape(n, 1) % 2)
    np.savez(path, **arrays)
    return path


def test_medmnist_adapter_keeps_the_official_split_and_names_breast_labels(tmp_path: Path):
    frame = TASK.datasets["medmnist"].load(_medmnist(tmp_path / "breastmnist.npz"))
    TASK.schema.validate(frame)
    assert frame["split"].value_counts().to_dict() == {"train": 6, "test": 4, "val": 2}
    assert frame["label"].iloc[:2].tolist() == ["malignant", "benign"]  # 0 malignant, 1 benign
    assert frame["id"].iloc[0] == "breastmnist-train-00000" and set(frame["modality"]) == {"US"}
    other = TASK.datasets["medmnist"].load(_medmnist(tmp_path / "chestmnist.npz", True))
    assert set(other["label"]) <= {"finding", "no_finding"}
    with pytest.raises(images.ImageError, match="not a MedMNIST"):
        TASK.datasets["medmnist"].load(tmp_path / "missing.npz")


def test_image_folder_adapter_reads_classes_and_names_a_bad_file(tmp_path: Path):
    for label, count in (("Benign", 2), ("malignant", 1)):
        (tmp_path / "train" / label).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((32, 32), 40 * i, np.uint8)).save(
                tmp_path / "train" / label / f"Doe_John_{i}.png")
    frame = TASK.datasets["image_folder"].load(tmp_path)
    TASK.schema.validate(frame)
    assert sorted(frame["label"]) == ["benign", "benign", "malignant"]
    assert set(frame["split"]) == {"train"}
    assert not frame["id"].str.contains("Doe").any()  # file names are pseudonymised
    (tmp_path / "train" / "malignant" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    frame = TASK.datasets["image_folder"].load(tmp_path)
    # The bad file becomes a row ingest quarantines, named by position, never by its name.
    refused = frame["image"].str.startswith("refused decodable_image: file 4 of 4 (content")
    assert refused.tolist() == [False, False, False, True]
    assert not frame["image"].str.contains("broken|Doe").any()


def test_a_failing_load_writes_nothing(engine: sa.Engine, tmp_path: Path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "scan.png").write_bytes(b"GIF89a not really")  # the only file: unusable
    with pytest.raises(images.ImageError, match="file 1 of 1 .*: not an image") as raised:
        ingest(engine, TASK, lambda: TASK.datasets["image_folder"].load(tmp_path), source="t")
    assert "scan.png" not in str(raised.value)
    table = ensure_task_table(engine, TASK)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0


def test_medmnist_adapter_reads_an_rgb_multiclass_file_it_has_no_names_for(tmp_path: Path):
    rng = np.random.default_rng(3)
    arrays = {}
    for split, n in (("train", 9), ("val", 3), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 3).reshape(n, 1)
    path = tmp_path / "somenewmnist.npz"
    np.savez(path, **arrays)
    frame = TASK.datasets["medmnist"].load(path)
    TASK.schema.validate(frame)
    assert frame["split"].value_counts().to_dict() == {"train": 9, "val": 3, "test": 3}
    assert sorted(frame["label"].unique()) == ["class_0", "class_1", "class_2"]
    first = images.decode(frame["image"].iloc[0])
    assert first.shape == (28, 28, 3)  # colour survives the PNG round trip
    assert np.array_equal(first, arrays["train_images"][0])
