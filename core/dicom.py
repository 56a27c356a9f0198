"""DICOM in: pixels with rescale/VOI windowing applied, de-identified before anything is kept.

De-identification follows the DICOM Basic Application Level Confidentiality Profile (PS3.15
Annex E, table E.1-1): every person name (VR PN), date, time and date-time (DA/TM/DT) goes, the
attributes listed in BASIC_PROFILE_REMOVE go, private tags, overlays and curves go, and every
UID except the SOP class/transfer syntax is replaced by a keyed hash (so links between images
of one study survive, identities do not). Beyond the profile, nothing of the header is stored at
all: a study row keeps the pixels (re-encoded PNG), the modality and the pseudonymous keys.

Pseudonymous keys are HMAC-SHA256 of the original UIDs keyed by a secret salt: the environment
variable VERTICALS_PSEUDONYM_SALT when set (share it between sites to link the same study), else
a random salt created once in $VERTICALS_HOME/pseudonym.salt (mode 0600). Without the salt the
key cannot be traced back to the UID; keep the salt out of the analytics store and backups
that leave the hospital.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.images import ImageError, check_pixels

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

SALT_ENV = "VERTICALS_PSEUDONYM_SALT"
SALT_FILE = "pseudonym.salt"
DICOM_SUFFIXES = (".dcm", ".dicom")
# DeidentificationMethod is an LO element: 64 characters at most (the longer text we wrote
# made every de-identified file non-conformant). The coded form says the same to machines.
METHOD = "PS3.15 E.1 Basic Application Confidentiality Profile"
METHOD_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
# Table E.1-1 attributes that are not caught by the VR rules below (names, dates, UIDs).
BASIC_PROFILE_REMOVE = frozenset({
    "AccessionNumber", "AdditionalPatientHistory", "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence", "AdmissionID", "Allergies", "BranchOfService",
    "ConsultingPhysicianIdentificationSequence", "ContentCreatorIdentificationCodeSequence",
    "CountryOfResidence", "CurrentPatientLocation", "CustodialOrganizationSequence",
    "DerivationDescription", "DeviceSerialNumber", "DeviceUID", "EthnicGroup",
    "FillerOrderNumberImagingServiceRequest", "ImageComments", "InstitutionAddress",
    "InstitutionCodeSequence", "InstitutionName", "InstitutionalDepartmentName",
    "IssuerOfPatientID", "MedicalAlerts", "MedicalRecordLocator", "MilitaryRank", "Occupation",
    "OperatorIdentificationSequence", "OtherPatientIDs", "OtherPatientIDsSequence",
    "OtherPatientNames", "PatientAddress", "PatientAge", "PatientBirthName", "PatientComments",
    "PatientID", "PatientInsurancePlanCodeSequence", "PatientMotherBirthName",
    "PatientReligiousPreference", "PatientSex", "PatientSize", "PatientState",
    "PatientTelephoneNumbers", "PatientWeight", "PerformedLocation",
    "PerformedProcedureStepDescription", "PerformedProcedureStepID",
    "PerformedStationAETitle", "PerformedStationName", "PerformingPhysicianIdentificationSequence",
    "PhysiciansOfRecordIdentificationSequence", "PhysiciansReadingStudyIdentificationSequence",
    "PlacerOrderNumberImagingServiceRequest", "PregnancyStatus", "ProtocolName",
    "ReferencedPatientSequence", "ReferencedStudySequence", "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence", "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence", "RequestAttributesSequence", "RequestedProcedureDescription",
    "RequestedProcedureID", "RequestingService", "ResultsIDIssuer", "ScheduledProcedureStepID",
    "ScheduledStationAETitle", "ScheduledStationName", "SeriesDescription", "SmokingStatus",
    "SpecialNeeds", "StationName", "StudyComments", "StudyDescription", "StudyID",
    "TextComments", "TextString", "TimezoneOffsetFromUTC", "VisitComments",
})
# UIDs that name a standard (what kind of object, how encoded), never a patient or a study.
KEEP_UIDS = frozenset({"SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID",
                       "ImplementationClassUID", "ReferencedSOPClassUID",
                       "ReferencedSOPClassUIDInFile", "CodingSchemeUID"})
REMOVE_VRS = frozenset({"PN", "DA", "TM", "DT"})
MODALITY = re.compile(r"^[A-Z]{2,8}$")


class DicomError(ImageError):
    """A DICOM file cannot be read or turned into a 2D image without leaking identity."""


def salt() -> bytes:
    """The pseudonymisation key: VERTICALS_PSEUDONYM_SALT, else $VERTICALS_HOME/pseudonym.salt."""
    value = os.environ.get(SALT_ENV)
    if value:
        return value.encode()
    from core.store.engine import home

    path = home() / SALT_FILE
    if not path.exists():
        # O_EXCL: two processes creating it at once cannot end up with different salts.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def pseudonym(value: str, prefix: str, key: bytes | None = None) -> str:
    """A stable, non-reversible key for an identifier: prefix + 16 hex of HMAC-SHA256."""
    digest = hmac.new(key if key is not None else salt(), value.encode(), hashlib.sha256)
    return f"{prefix}-{digest.hexdigest()[:16]}"


def _pseudo_uid(value: str, key: bytes) -> str:
    # The 2.25 root turns a 128-bit number into a valid UID (PS3.5 B.2).
    digest = hmac.new(key, value.encode(), hashlib.sha256).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def deidentify(ds: Dataset, key: bytes | None = None) -> Dataset:
    """Apply the basic confidentiality profile to `ds` in place (sequences too); returns it."""
    import pydicom

    key = key if key is not None else salt()

    def clean(dataset: Dataset) -> None:
        dataset.remove_private_tags()
        for element in list(dataset):
            group = element.tag.group
            keyword = element.keyword
            if (keyword in BASIC_PROFILE_REMOVE or element.VR in REMOVE_VRS
                    or 0x5000 <= group <= 0x60FF):  # curves and overlays may carry burned text
                del dataset[element.tag]
            elif element.VR == "UI" and keyword not in KEEP_UIDS and element.value:
                values = element.value if element.VM > 1 else [element.value]
                replaced = [_pseudo_uid(str(v), key) for v in values]
                element.value = replaced if element.VM > 1 else replaced[0]
            elif element.VR == "SQ":
                for item in element.value:
                    clean(item)

    clean(ds)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = _pseudo_uid(str(meta.MediaStorageSOPInstanceUID), key)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = pydicom.Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = METHOD_CODE
    ds.DeidentificationMethodCodeSequence = pydicom.Sequence([code])
    return ds


@dataclass(frozen=True)
class DicomImage:
    """What a DICOM file may contribute to the store: pixels, modality, pseudonymous keys."""

    pixels: np.ndarray  # uint8 (H, W) or (H, W, 3), windowed
    modality: str
    study: str  # pseudonym of the StudyInstanceUID
    image: str  # pseudonym of the SOPInstanceUID


def _read(source: Path | bytes, where: str) -> Dataset:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        return pydicom.dcmread(handle)
    except InvalidDicomError as error:
        raise DicomError(f"{where}: not a DICOM file ({error}); DICOM Part 10 files start "
                         "with a 128-byte preamble and 'DICM'") from error
    except (OSError, EOFError, ValueError, KeyError) as error:
        raise DicomError(f"{where}: unreadable DICOM ({type(error).__name__}: {error})") from error


def window(ds: Dataset, raw: np.ndarray) -> np.ndarray:
    """Stored values -> 0..255: modality LUT (rescale slope/intercept), VOI window, MONOCHROME1."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(raw, ds).astype(np.float64)
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None:
        # Several windows may be stored; the first is the default (PS3.3 C.11.2.1.2).
        center = float(center[0] if getattr(center, "VM", 1) > 1 else center)
        width = max(float(width[0] if getattr(width, "VM", 1) > 1 else width), 1.0)
        scaled = np.clip((values - (center - 0.5)) / (width - 1.0) + 0.5, 0.0, 1.0)
    else:
        if "VOILUTSequence" in ds:
            values = apply_voi_lut(values, ds).astype(np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        scaled = 1.0 - scaled  # MONOCHROME1: low values are white
    return np.rint(scaled * 255.0).astype(np.uint8)


def read_dicom(source: Path | bytes, *, where: str | None = None,
               allow_burned_in: bool = False, key: bytes | None = None) -> DicomImage:
    """A DICOM file (path or bytes) -> de-identified DicomImage; DicomError when unusable."""
    where = where or (str(source) if isinstance(source, Path) else "uploaded DICOM")
    ds = _read(source, where)
    if "PixelData" not in ds:
        raise DicomError(f"{where}: the DICOM object has no pixel data "
                         f"(SOP class {ds.get('SOPClassUID', '?')!s}); only images can be ingested")
    if str(ds.get("BurnedInAnnotation", "NO")).upper() == "YES" and not allow_burned_in:
        raise DicomError(f"{where}: BurnedInAnnotation is YES, so the pixels may show names or "
                         "dates; remove the annotations first (the profile cannot clean pixels)")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DicomError(f"{where}: {frames} frames; split multi-frame files into single images")
    try:
        raw = ds.pixel_array
    except Exception as error:  # pydicom raises many kinds; all mean "pixels unusable"
        raise DicomError(f"{where}: cannot decode the pixel data ({type(error).__name__}: "
                         f"{error}); compressed transfer syntaxes may need pylibjpeg or "
                         "python-gdcm installed") from error
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        pixels = apply_color_lut(raw, ds)
        pixels = np.rint(pixels / max(float(pixels.max()), 1.0) * 255.0).astype(np.uint8)
    elif raw.ndim == 3:
        pixels = raw if raw.dtype == np.uint8 else np.rint(
            raw / max(float(raw.max()), 1.0) * 255.0).astype(np.uint8)
    else:
        pixels = window(ds, raw)
    pixels = check_pixels(pixels, where)
    key = key if key is not None else salt()
    modality = str(ds.get("Modality", "OT")).strip().upper()
    study_uid = str(ds.get("StudyInstanceUID", "")) or hashlib.sha256(raw.tobytes()).hexdigest()
    image_uid = str(ds.get("SOPInstanceUID", "")) or hashlib.sha256(raw.tobytes()).hexdigest()
    deidentify(ds, key)  # the header is dropped next; de-identify anyway so no copy lingers
    return DicomImage(pixels=pixels, modality=modality if MODALITY.match(modality) else "OT",
                      study=pseudonym(study_uid, "st", key), image=pseudonym(image_uid, "im", key))


def _is_part10(path: Path, where: str) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError as error:
        # `from None` when `where` stands for the path: the OSError's own text names it.
        raise DicomError(f"{where}: a file in it cannot be read ({error.strerror or error}); "
                         "check its permissions") from None


def dicom_files(path: Path, where: str | None = None) -> list[Path]:
    """The DICOM files of a file or folder: recursively, .dcm/.dicom files and extension-less
    files that start like DICOM Part 10 (scanners often write no extension); not DICOMDIR.
    Errors say `where` (default: the path) for the folder, so a caller can keep a patient's
    folder name out of them."""
    path = Path(path)
    where = where or str(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DicomError(f"{where}: no such file or folder")
    found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and p.name.upper() != "DICOMDIR"  # the media index: no image of its own
                   and (p.suffix.lower() in DICOM_SUFFIXES
                        or (p.suffix == "" and _is_part10(p, where))))
    if not found:
        raise DicomError(f"{where} holds no DICOM files (.dcm, .dicom or extension-less); "
                         "for a folder of PNG/JPEG files use --dataset image_folder")
    return found
