"""Bad imaging inputs through the real ingest (and the CLI), on SQLite and PostgreSQL: metadata
chunks never stored, no path of a private source in any column, decompression bombs refused per
image, a folder given for a file named as such (issue #15)."""

from __future__ import annotations

import base64
import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

from core import images
from core.store.engine import ensure_task_table, read_task_frame
from core.store.schema import pipeline_runs, quarantine
from pipelines import cli
from pipelines.cli import app
from pipelines.ingest import IngestError, ingest_dataset, ingest_file
from verticals.healthcare.imaging_diagnosis import TASK

PATIENT = "Doe_John_1961"  # patient folders are named like this in the wild
runner = CliRunner()


@pytest.fixture(autouse=True)
def fixed_salt_and_wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_PSEUDONYM_SALT", "test-salt")
    monkeypatch.setattr(cli.out, "width", 200)
    monkeypatch.setattr(cli.err, "width", 200)


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 30000) -> bytes:
    """A few bytes whose header claims side x side grey pixels: a decompression bomb."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (images.PNG_MAGIC + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + _chunk(b"IEND", b""))


def tagged_png(pixels: np.ndarray) -> bytes:
    """A PNG of `pixels` that names the patient in every kind of metadata chunk PNG has, and
    once more after IEND."""
    info = PngImagePlugin.PngInfo()
    info.add_text("PatientName", "Doe^John")  # tEXt
    info.add_text("PatientID", "PatientName=Doe^John", zip=True)  # zTXt
    info.add_itxt("Comment", "PatientName Doe^John")  # iTXt
    exif = Image.Exif()
    exif[0x010E] = "PatientName Doe^John"  # ImageDescription, in the eXIf chunk
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", pnginfo=info, exif=exif)
    return buffer.getvalue() + b"PatientName=Doe^John"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _everything(engine: sa.Engine, *tables: sa.Table) -> str:
    """Every column of every row of `tables`, as one text to search for identifiers."""
    with engine.connect() as connection:
        return "\n".join(str(tuple(row)) for table in tables
                         for row in connection.execute(sa.select(table)))


def _quarantined(engine: sa.Engine) -> list[sa.Row]:
    with engine.connect() as connection:
        return list(connection.execute(
            sa.select(quarantine.c.row_number, quarantine.c.rule, quarantine.c.value)
            .order_by(quarantine.c.row_number)))


def _stored(engine: sa.Engine) -> pd.DataFrame:
    ensure_task_table(engine, TASK)
    with engine.connect() as connection:
        return read_task_frame(connection, TASK)


def _grey(value: int) -> np.ndarray:
    return (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * value % 256).astype(np.uint8)


# --- identifiers in image metadata ------------------------------------------------------------

def test_metadata_chunks_of_a_csv_image_are_dropped_and_its_pixels_kept(
        engine: sa.Engine, tmp_path: Path) -> None:
    frame = TASK.sample(4, 0)
    pixels = {1: _grey(3), 2: np.dstack([_grey(5), _grey(7), _grey(11)])}  # grey and colour
    for row, array in pixels.items():
        frame.loc[row, "image"] = _b64(tagged_png(array))
    path = tmp_path / "studies.csv"
    frame.to_csv(path, index=False)

    code, stdout, stderr = invoke("ingest", TASK.name, str(path))  # picks image_csv: ".csv"
    assert code == 0, stderr
    assert "4 new rows accepted" in stdout and "0 quarantined" in stdout
    stored = _stored(engine).set_index("id")
    for row, array in pixels.items():
        png = images.png_bytes(stored.loc[frame.loc[row, "id"], "image"])
        assert b"PatientName" not in png and b"Doe" not in png
        kinds, trailing = images.png_chunks(png)
        assert set(kinds) <= {b"IHDR", b"IDAT", b"IEND"} and trailing == 0
        np.testing.assert_array_equal(images.decode_bytes(png, "stored"), array)
    untouched = frame.loc[0, "image"]  # already pixels only: stored as given
    assert stored.loc[frame.loc[0, "id"], "image"] == untouched
    assert "Doe" not in _everything(engine, pipeline_runs, quarantine)


def test_a_metadata_png_ingested_around_the_adapter_is_refused_not_stored(
        engine: sa.Engine, tmp_path: Path) -> None:
    frame = TASK.sample(3, 1)
    frame.loc[2, "image"] = _b64(tagged_png(_grey(3)))
    path = tmp_path / "studies.csv"
    frame.to_csv(path, index=False)

    result = ingest_file(engine, TASK, path)  # the plain schema-CSV path: no re-encoding
    assert (result.accepted, result.quarantined) == (2, 1)
    assert [rule.split(":")[0] for _, rule in result.reasons] == [images.PIXELS_ONLY]
    assert "verticals ingest healthcare.imaging_diagnosis FILE.csv" in _quarantined(engine)[0].rule
    assert frame.loc[2, "id"] not in set(_stored(engine)["id"])


# --- decompression bombs ----------------------------------------------------------------------

def test_a_bomb_is_refused_from_its_header_with_the_limit() -> None:
    with pytest.raises(images.TooManyPixels, match=r"30000x30000 = 900,000,000 px, over the "
                                                   r"limit of 16,777,216 px per image"):
        images.decode_bytes(bomb_png(), "row 2")
    assert images.TOO_MANY_PIXELS == "too_many_pixels(16777216)"
    assert not images.within_pixel_limit(_b64(bomb_png()))
    assert images.decodable(_b64(bomb_png())) and images.pixels_only(_b64(bomb_png()))


@pytest.mark.parametrize("route", ["cli", "ingest_file"])
def test_a_bomb_in_a_csv_row_quarantines_that_row_only(
        engine: sa.Engine, tmp_path: Path, route: str) -> None:
    frame = TASK.sample(5, 2)
    frame.loc[3, "image"] = _b64(bomb_png())
    path = tmp_path / "studies.csv"
    frame.to_csv(path, index=False)

    if route == "cli":
        code, stdout, stderr = invoke("ingest", TASK.name, str(path))
        assert code == 0 and "Traceback" not in stderr, stderr
        assert "4 new rows accepted" in stdout and "1 quarantined" in stdout
        assert images.TOO_MANY_PIXELS in stdout
    else:
        result = ingest_file(engine, TASK, path)
        assert (result.accepted, result.quarantined) == (4, 1)
    (row,) = _quarantined(engine)
    assert row.row_number == 4 and row.rule.startswith(f"{images.TOO_MANY_PIXELS}:")
    assert set(_stored(engine)["id"]) == set(frame["id"].drop(index=3))
    if route == "cli":  # the adapter's refusal says why, and holds no pixels
        assert row.value.startswith(f"refused {images.TOO_MANY_PIXELS}: row 4: the image claims "
                                    "30000x30000")


def test_a_bomb_in_an_image_folder_quarantines_that_file_only(engine: sa.Engine,
                                                              tmp_path: Path) -> None:
    root = tmp_path / PATIENT
    (root / "benign").mkdir(parents=True)
    (root / "malignant").mkdir()
    for i in range(2):
        Image.fromarray(_grey(i + 2)).save(root / "benign" / f"{PATIENT}_{i}.png")
    (root / "malignant" / f"{PATIENT}_bomb.png").write_bytes(bomb_png())

    result = ingest_dataset(engine, TASK, TASK.datasets["image_folder"], root)
    assert (result.accepted, result.quarantined) == (2, 1)
    (row,) = _quarantined(engine)
    assert row.row_number == 3 and row.rule.startswith(f"{images.TOO_MANY_PIXELS}:")
    assert row.value.startswith(f"refused {images.TOO_MANY_PIXELS}: file 3 of 3 (content sha256:")
    assert "Doe" not in _everything(engine, pipeline_runs, quarantine)


# --- paths of private sources -----------------------------------------------------------------

def _dicom_folder(root: Path, corrupt: int) -> Path:
    from pydicom.data import get_testdata_file

    folder = root / PATIENT
    folder.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / f"{PATIENT}_1.dcm")
    for i in range(corrupt):
        (folder / f"{PATIENT}_{i + 2}.dcm").write_text(f"PatientName,{PATIENT}\n")
    return folder


def test_a_corrupt_file_in_a_patient_named_dicom_folder_is_quarantined_without_its_path(
        engine: sa.Engine, tmp_path: Path) -> None:
    folder = _dicom_folder(tmp_path, corrupt=1)
    code, stdout, stderr = invoke("ingest", TASK.name, str(folder))
    assert code == 0, stderr
    assert "1 new rows accepted" in stdout and "1 quarantined" in stdout
    (row,) = _quarantined(engine)
    assert row.row_number == 2 and row.rule.startswith(images.DECODABLE_IMAGE)
    assert row.value.startswith("refused decodable_image: file 2 of 2 (content sha256:")
    assert "not a DICOM file" in row.value
    assert PATIENT not in _everything(engine, pipeline_runs, quarantine)
    assert _stored(engine)["modality"].tolist() == ["CT"]


def test_a_dicom_folder_with_no_usable_file_fails_naming_files_by_position(
        engine: sa.Engine, tmp_path: Path) -> None:
    folder = _dicom_folder(tmp_path, corrupt=2)
    (folder / f"{PATIENT}_1.dcm").unlink()
    with pytest.raises(IngestError, match=r"none of the 2 DICOM files could be used.*"
                                          r"file 1 of 2 \(content sha256:[0-9a-f]{16}\): not a "
                                          r"DICOM file"):
        ingest_dataset(engine, TASK, TASK.datasets["dicom"], folder)
    with engine.connect() as connection:
        status, error = connection.execute(sa.select(pipeline_runs.c.status,
                                                     pipeline_runs.c.error)).one()
    assert status == "failed" and "file 1 of 2" in error
    assert PATIENT not in _everything(engine, pipeline_runs, quarantine)
    assert _stored(engine).empty


def test_a_missing_or_empty_private_folder_is_named_without_its_path(
        engine: sa.Engine, tmp_path: Path) -> None:
    empty = tmp_path / PATIENT
    empty.mkdir()
    for dataset, path, says in (("dicom", empty, "holds no DICOM files"),
                                ("dicom", tmp_path / "Roe_Jane", "does not exist"),
                                ("image_folder", empty, "has no PNG/JPEG files"),
                                ("image_folder", tmp_path / "Roe_Jane", "does not exist")):
        with pytest.raises(IngestError, match=says):
            ingest_dataset(engine, TASK, TASK.datasets[dataset], path)
    text = _everything(engine, pipeline_runs, quarantine)
    assert PATIENT not in text and "Roe_Jane" not in text


def test_an_unreadable_image_file_is_named_by_position(engine: sa.Engine,
                                                       tmp_path: Path) -> None:
    root = tmp_path / PATIENT / "benign"
    root.mkdir(parents=True)
    Image.fromarray(_grey(3)).save(root / "a.png")
    (root / f"{PATIENT}.png").mkdir()  # a folder named like an image is skipped, not read
    (root / "c.png").write_bytes(b"GIF89a not really")
    result = ingest_dataset(engine, TASK, TASK.datasets["image_folder"], tmp_path / PATIENT)
    assert (result.accepted, result.quarantined) == (1, 1)
    (row,) = _quarantined(engine)
    assert row.value.startswith("refused decodable_image: file 2 of 2 (content sha256:")
    assert "not an image" in row.value
    assert PATIENT not in _everything(engine, pipeline_runs, quarantine)


# --- a folder where a file is expected --------------------------------------------------------

def test_a_folder_given_for_a_file_is_a_clear_message(engine: sa.Engine, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    (folder / "benign").mkdir(parents=True)
    Image.fromarray(_grey(3)).save(folder / "benign" / "a.png")
    for args, says in (
            (("--dataset", "medmnist", "--data", str(folder)),
             "is a folder: give the MedMNIST .npz file itself"),
            (("--dataset", "image_csv", "--data", str(folder)),
             "is a folder, not a CSV file: give the CSV file itself"),
            ((str(folder),), "holds no DICOM files (.dcm, .dicom or extension-less); for a "
                             "folder of PNG/JPEG files use --dataset image_folder")):
        code, stdout, stderr = invoke("ingest", TASK.name, *args)
        assert code == 1 and "Traceback" not in stderr, stderr
        assert says in " ".join(stderr.split())
    with engine.connect() as connection:
        statuses = connection.execute(sa.select(pipeline_runs.c.status)).scalars().all()
    assert statuses == ["failed"] * 3 and _stored(engine).empty


@pytest.mark.parametrize(("name", "message"), [
    ("rtplan.dcm", "no pixel data"),
    ("rtdose_1frame.dcm", "10x10 px"),
    ("rtdose.dcm", "15 frames"),
    ("MR_truncated.dcm", "cannot decode the pixel data"),
])
def test_an_unusable_dicom_beside_a_good_one_is_quarantined_alone(
        engine: sa.Engine, tmp_path: Path, name: str, message: str) -> None:
    import warnings

    from pydicom.data import get_testdata_file

    folder = tmp_path / PATIENT
    folder.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "a_good.dcm")
    shutil.copy(get_testdata_file(name), folder / f"b_{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the truncated file too
        result = ingest_dataset(engine, TASK, TASK.datasets["dicom"], folder)
    assert (result.accepted, result.quarantined) == (1, 1)
    (row,) = _quarantined(engine)
    assert row.row_number == 2 and message in row.value and "file 2 of 2" in row.value
    assert name not in row.value and PATIENT not in _everything(engine, pipeline_runs, quarantine)
