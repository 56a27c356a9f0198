"""DICOM: windowing, de-identification (nothing identifying reaches any table), clear errors."""

from __future__ import annotations

import io
import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import sqlalchemy as sa
from pydicom.data import get_testdata_file

from core import images
from core.dicom import (
    BASIC_PROFILE_REMOVE,
    KEEP_UIDS,
    DicomError,
    deidentify,
    pseudonym,
    read_dicom,
    window,
)
from core.store.engine import ensure_task_table
from pipelines.ingest import ingest
from verticals.healthcare.imaging_diagnosis import TASK

# Bundled with pydicom (no download): CT with rescale slope/intercept, MR with a VOI window.
EXAMPLES = ("CT_small.dcm", "MR_small.dcm")
IDENTIFYING_VRS = {"PN", "DA", "TM", "DT", "UI"}


def example(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom's bundled {name} is missing"
    return Path(path)


@pytest.fixture(autouse=True)
def fixed_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_PSEUDONYM_SALT", "test-salt")


def identifying_values(path: Path) -> set[str]:
    """Every value the basic profile calls identifying (names, dates, times, UIDs, institution,
    ids...), from the file itself, sequences included."""
    found: set[str] = set()

    def collect(dataset: pydicom.Dataset) -> None:
        for element in dataset:
            if element.VR == "SQ":
                for item in element.value:
                    collect(item)
            elif ((element.VR in IDENTIFYING_VRS and element.keyword not in KEEP_UIDS)
                  or element.keyword in BASIC_PROFILE_REMOVE) and element.value not in (None, ""):
                values = element.value if element.VM > 1 else [element.value]
                found.update(str(v).strip() for v in values)

    dataset = pydicom.dcmread(path)
    collect(dataset)
    collect(dataset.file_meta)
    # Person names also leak by component ("CompressedSamples", "CT1").
    found |= {part for name in list(found) for part in name.split("^")}
    # Zero-padded numbers ("0.000000", "-0500", "000Y") say nothing about anyone.
    return {value for value in found if sum(c.isalnum() and c != "0" for c in value) >= 3}


def test_windowing_applies_the_voi_window_and_rescale():
    ds = pydicom.dcmread(example("MR_small.dcm"))
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    expected = np.clip((ds.pixel_array - (center - 0.5)) / (width - 1) + 0.5, 0, 1) * 255
    np.testing.assert_array_equal(window(ds, ds.pixel_array), np.rint(expected).astype(np.uint8))
    ct = pydicom.dcmread(example("CT_small.dcm"))
    hounsfield = ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    low, high = hounsfield.min(), hounsfield.max()  # no window stored: full range
    np.testing.assert_array_equal(read_dicom(example("CT_small.dcm")).pixels,
                                  np.rint((hounsfield - low) / (high - low) * 255).astype(np.uint8))


def test_monochrome1_is_inverted():
    ds = pydicom.dcmread(example("MR_small.dcm"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    inverted = read_dicom(buffer.getvalue()).pixels
    np.testing.assert_array_equal(inverted.astype(int), 255 - read_dicom(
        example("MR_small.dcm")).pixels.astype(int))


def test_deidentify_follows_the_basic_profile():
    ds = pydicom.dcmread(example("CT_small.dcm"))
    study_uid, class_uid = str(ds.StudyInstanceUID), str(ds.SOPClassUID)
    deidentify(ds, key=b"k")
    remaining = [e for e in ds.iterall() if e.VR in ("PN", "DA", "TM", "DT")
                 or e.keyword in BASIC_PROFILE_REMOVE or e.tag.is_private]
    assert remaining == []
    assert str(ds.StudyInstanceUID).startswith("2.25.") and str(ds.StudyInstanceUID) != study_uid
    assert str(ds.SOPClassUID) == class_uid  # names the kind of object, not the patient
    assert ds.PatientIdentityRemoved == "YES"
    assert len(ds.DeidentificationMethod) <= 64  # an LO element
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydicom warns on values that break their VR
        ds.save_as(io.BytesIO(), enforce_file_format=False)
        pydicom.dcmread(_saved(ds), force=True)


def _saved(ds: pydicom.Dataset) -> io.BytesIO:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    buffer.seek(0)
    return buffer


def test_pseudonymous_keys_are_stable_and_salted(monkeypatch: pytest.MonkeyPatch):
    first = read_dicom(example("MR_small.dcm"))
    assert first.study == read_dicom(example("MR_small.dcm")).study
    assert first.study.startswith("st-") and first.image.startswith("im-")
    monkeypatch.setenv("VERTICALS_PSEUDONYM_SALT", "another-site")
    assert read_dicom(example("MR_small.dcm")).study != first.study
    assert pseudonym("x", "st", b"a") != pseudonym("x", "st", b"b")


def test_salt_is_created_once_in_home_when_no_env(monkeypatch: pytest.MonkeyPatch, home: Path):
    from core.dicom import salt

    monkeypatch.delenv("VERTICALS_PSEUDONYM_SALT")
    key = salt()
    assert key == salt() and len(key) == 64
    assert (home / "pseudonym.salt").stat().st_mode & 0o077 == 0  # owner-only


def _all_text(engine: sa.Engine) -> list[tuple[str, str, str]]:
    """(table, column, value) for every non-image cell of every table in the store."""
    cells = []
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(sa.select(table)).mappings():
                cells += [(table.name, column, str(value)) for column, value in row.items()
                          if value is not None and column != "image"]
    return cells


def test_no_identifying_value_reaches_any_table(engine: sa.Engine, tmp_path: Path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    secrets_seen: set[str] = set()
    for name in EXAMPLES:
        shutil.copy(example(name), folder / name)
        secrets_seen |= identifying_values(example(name))
    assert {"CompressedSamples", "CT1"} <= secrets_seen  # the test sees what it must not find
    result = ingest(engine, TASK, lambda: TASK.datasets["dicom"].load(folder), source="dicom")
    assert (result.accepted, result.quarantined) == (2, 0)
    cells = _all_text(engine)
    leaks = [(t, c, s) for t, c, v in cells for s in secrets_seen if s in v]
    assert leaks == []
    table = ensure_task_table(engine, TASK)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(table.c.image, table.c.modality)).all()
    assert sorted(m for _, m in stored) == ["CT", "MR"]
    for text, _ in stored:  # the PNG carries pixels only: no tEXt/iTXt/zTXt/eXIf chunks
        png = images.png_bytes(text)
        assert not any(chunk in png for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf"))


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


@pytest.mark.parametrize(("name", "message"), [
    ("rtplan.dcm", "no pixel data"),
    ("rtdose_1frame.dcm", "10x10 px"),
    ("rtdose.dcm", "15 frames"),
    ("MR_truncated.dcm", "cannot decode the pixel data"),
])
def test_unusable_dicom_is_quarantined_alone_by_position(engine: sa.Engine, tmp_path: Path,
                                                         name: str, message: str):
    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(example("MR_small.dcm"), folder / "a_good.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the truncated file too
        shutil.copy(example(name), folder / f"b_{name}")
        result = ingest(engine, TASK, lambda: TASK.datasets["dicom"].load(folder),
                        source="dicom")
    assert (result.accepted, result.quarantined) == (1, 1)
    from core.store.schema import quarantine

    with engine.connect() as connection:
        (value,) = connection.execute(sa.select(quarantine.c.value)).scalars().all()
    assert message in value and "file 2 of 2" in value  # says which file, by position
    assert f"b_{name}" not in value  # never by its name (paths may be the patient's)


def test_non_dicom_file_is_named(tmp_path: Path):
    fake = tmp_path / "scan.dcm"
    fake.write_text("PatientName,Doe^John\n")
    with pytest.raises(DicomError, match="scan.dcm: not a DICOM file"):
        read_dicom(fake)


def test_folder_listing_skips_dicomdir_and_non_dicom_extensionless_files(tmp_path: Path):
    from core.dicom import dicom_files

    shutil.copy(example("MR_small.dcm"), tmp_path / "IM000001")  # no extension, DICOM inside
    shutil.copy(example("CT_small.dcm"), tmp_path / "DICOMDIR")
    (tmp_path / "README").write_text("scanned on Tuesday")
    assert [p.name for p in dicom_files(tmp_path)] == ["IM000001"]
    (tmp_path / "IM000001").unlink()
    with pytest.raises(DicomError, match="no DICOM files"):
        dicom_files(tmp_path)
