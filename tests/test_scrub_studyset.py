"""ScrubMetadata on a generated study set: nothing planted survives, identities stay consistent, outputs are valid."""

from __future__ import annotations

import io
import subprocess
from collections import defaultdict
from pathlib import Path

import gdcm
import pydicom
import pytest
from pydicom.dataset import Dataset

from monai_deid.profile import IdentifierMapping, ScrubMetadata
from tests.scrub_studyset import PATIENTS, StudySet, write_study_set

SECRET = "study-set-secret-0123456789"


def all_elements(ds: Dataset):
    """Every data element at every depth, file meta included."""
    if getattr(ds, "file_meta", None) is not None:
        yield from ds.file_meta
    for elem in ds:
        yield elem
        if elem.VR == "SQ":
            for item in elem.value:
                yield from all_elements(item)


def as_text(elem) -> str:
    value = elem.value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if elem.VR == "SQ":
        return ""
    return str(value)


def header_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def study_set(tmp_path_factory) -> StudySet:
    return write_study_set(tmp_path_factory.mktemp("studyset"))


def scrub_all(study_set: StudySet, secret: str = SECRET, mapping=None, **options) -> dict[Path, Dataset]:
    scrub = ScrubMetadata(secret=secret, mapping=mapping, **options)
    return {path: scrub(pydicom.dcmread(path), path=path.name) for path in study_set.files}


@pytest.fixture(scope="module")
def originals(study_set) -> dict[Path, Dataset]:
    return {path: pydicom.dcmread(path) for path in study_set.files}


@pytest.fixture(scope="module")
def scrubbed(study_set) -> dict[Path, Dataset]:
    return scrub_all(study_set)


def test_nothing_planted_survives(study_set, scrubbed):
    for path, ds in scrubbed.items():
        for elem in all_elements(ds):
            text = as_text(elem).lower()
            for planted in study_set.strings | study_set.dates | study_set.uids:
                assert planted.lower() not in text, f"{path.name} {elem.tag} still holds a planted value"
        raw = header_bytes(ds).lower()
        for planted in study_set.strings | study_set.dates | study_set.uids:
            assert planted.lower().encode() not in raw, f"{path.name}: planted value in the written bytes"


def test_free_text_keeps_clinical_words(scrubbed):
    for ds in scrubbed.values():
        assert ds.StudyDescription.startswith("CT CHEST for")
        assert ds.SeriesDescription.startswith("AX LUNG")


def test_private_overlays_and_markers(scrubbed):
    for ds in scrubbed.values():
        assert not [e for e in ds if e.tag.is_private]
        assert not [e for e in ds if e.tag.group & 0xFF00 in (0x5000, 0x6000)]
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
        codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
        assert codes == {"113100", "113105", "113103", "113107"}
        assert ds.BurnedInAnnotation == "YES"  # an unverified "NO" is not repeated


def test_one_pseudonym_per_patient_and_one_uid_per_study(originals, scrubbed):
    pseudonyms, study_uids = defaultdict(set), defaultdict(set)
    for path, ds in scrubbed.items():
        original = originals[path]
        pseudonyms[original.PatientID].add((ds.PatientID, str(ds.PatientName)))
        study_uids[original.StudyInstanceUID].add(ds.StudyInstanceUID)
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPClassUID == original.SOPClassUID
        assert ds.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert ds.StudyInstanceUID.startswith("2.25.") and len(ds.StudyInstanceUID) <= 64
    assert len(pseudonyms) == len(PATIENTS) and all(len(v) == 1 for v in pseudonyms.values())
    assert len({next(iter(v)) for v in pseudonyms.values()}) == len(PATIENTS)
    assert len(study_uids) == 4 and all(len(v) == 1 for v in study_uids.values())
    assert len({next(iter(v)) for v in study_uids.values()}) == 4


def test_references_follow_and_intervals_survive(originals, scrubbed):
    new_sop = {originals[p].SOPInstanceUID: ds.SOPInstanceUID for p, ds in scrubbed.items()}
    checked = 0
    for path, ds in scrubbed.items():
        original = originals[path]
        if "ReferencedImageSequence" in original:
            old_ref = original.ReferencedImageSequence[0].ReferencedSOPInstanceUID
            assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == new_sop[old_ref]
            assert (
                ds.SourceImageSequence[0].ReferencedSOPInstanceUID
                == new_sop[original.SourceImageSequence[0].ReferencedSOPInstanceUID]
            )
            checked += 1
    assert checked == 8
    by_patient = defaultdict(dict)
    for path, ds in scrubbed.items():
        by_patient[ds.PatientID][originals[path].StudyDate] = ds.StudyDate
    for dates in by_patient.values():
        (old_a, new_a), (old_b, new_b) = sorted(dates.items())
        days = lambda a, b: (pydicom.valuerep.DA(b) - pydicom.valuerep.DA(a)).days  # noqa: E731
        assert days(old_a, old_b) == days(new_a, new_b)
        assert new_a != old_a


def test_same_secret_same_bytes_other_secret_nothing_shared(study_set, scrubbed):
    again = scrub_all(study_set)
    other = scrub_all(study_set, secret="a-completely-different-secret")

    def produced(datasets):
        values = set()
        for ds in datasets.values():
            values |= {ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID}
            values |= {ds.FrameOfReferenceUID, ds.StudyDate}
        return values

    for path, ds in scrubbed.items():
        assert header_bytes(ds) == header_bytes(again[path])
    assert not produced(scrubbed) & produced(other)


def test_mapping_records_identifiers_and_uids(study_set, tmp_path):
    mapping = IdentifierMapping()
    scrubbed = scrub_all(study_set, mapping=mapping)
    csv_path = mapping.write_csv(tmp_path / "map.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "id_old,id_new"
    pairs = dict(line.split(",", 1) for line in lines[1:])
    written = {
        uid for ds in scrubbed.values() for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    }
    uid_pairs = {old: new for old, new in pairs.items() if new in written}
    assert len(uid_pairs) == 4 + 4 + 12  # studies, series, instances
    assert all(old in study_set.uids for old in uid_pairs)
    for patient in PATIENTS:
        assert pairs[patient["id"]] in {ds.PatientID for ds in scrubbed.values()}


def test_outputs_parse_in_dcmtk_gdcm_and_add_no_dciodvfy_errors(study_set, scrubbed, tmp_path):
    for path in study_set.files[:3]:
        out = tmp_path / path.name
        scrubbed[path].save_as(out, enforce_file_format=True)
        dump = subprocess.run(["dcmdump", "-q", str(out)], capture_output=True, text=True)
        assert dump.returncode == 0 and "E:" not in dump.stderr
        # GDCM parses it too (in process: the gdcminfo command printed nothing, exit 0, now and then in full runs)
        reader = gdcm.Reader()
        reader.SetFileName(str(out))
        assert reader.Read(), f"GDCM cannot parse {out.name}"
        media_storage = gdcm.MediaStorage()
        media_storage.SetFromFile(reader.GetFile())
        assert media_storage.GetString() == "1.2.840.10008.5.1.4.1.1.2"
        before, after = dciodvfy_errors(path), dciodvfy_errors(out)
        assert after <= before, after - before


def dciodvfy_errors(path: Path) -> set[str]:
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return {line.strip() for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")}
