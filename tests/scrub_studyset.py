"""A small study set with PHI planted everywhere, written with pydicom for the ScrubMetadata tests.

Two patients x two studies x three CT instances, built on pydicom's real CT_small.dcm: standard identifying tags,
names and IDs inside free text, identifying values two sequence levels deep, Other Patient IDs, private blocks of
several creators (some safe-private), two overlays, and references between instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.datafiles import pydicom_test_file

PATIENTS = [
    {
        "name": "Quimbyfarr^Zebulonia^Xeravin",
        "id": "QZ7781234",
        "birth": "19610723",
        "study_dates": ["20190311", "20200617"],
        "other_id": "OTHERID4455",
    },
    {
        "name": "Wrigglesworth^Hortensia",
        "id": "HW5550987",
        "birth": "19750402",
        "study_dates": ["20180126", "20210905"],
        "other_id": "OTHERID7788",
    },
]
INSTITUTION = "Saint Ignatius Vorpal Clinic"
ADDRESS = "42 Elmsworth Road Springfield"
REFERRING = "Fenwickson^Bartholomew"
OPERATOR = "Crumbleton^Philippa"
STATION = "CTSTATION77"
SERIAL = "SN8812345"
SAFE_PRIVATE = [(0x7053, "Philips PET Private Group", 0x00, "DS", "1.25"), (0x00E1, "ELSCINT1", 0x21, "FD", 123.5)]


@dataclass
class StudySet:
    """The files written and the PHI planted in them."""

    files: list[Path]
    strings: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    uids: set[str] = field(default_factory=set)


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _instance(p: int, s: int, i: int, study_date: str) -> Dataset:
    patient = PATIENTS[p]
    ds = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
    ds.remove_private_tags()  # start from our own private blocks
    family, given = patient["name"].split("^")[:2]
    ds.PatientName = patient["name"]
    ds.PatientID = patient["id"]
    ds.PatientBirthDate = patient["birth"]
    ds.PatientAddress = ADDRESS
    ds.PatientTelephoneNumbers = "555-867-5309"
    other = Dataset()
    other.PatientID = patient["other_id"]
    other.IssuerOfPatientID = "MERCYGENERAL"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = [other]
    ds.AccessionNumber = f"ACC{p}{s}99123"
    ds.StudyID = f"STID{p}{s}4411"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study_date
    ds.InstanceCreationDate = study_date
    ds.AcquisitionDateTime = study_date + "101530"
    ds.StudyInstanceUID = _uid("study", p, s)
    ds.SeriesInstanceUID = _uid("series", p, s)
    ds.SOPInstanceUID = _uid("instance", p, s, i)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.FrameOfReferenceUID = _uid("frame", p, s)
    ds.InstanceNumber = i + 1
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = ADDRESS
    ds.ReferringPhysicianName = REFERRING
    ds.OperatorsName = OPERATOR
    ds.StationName = STATION
    ds.DeviceSerialNumber = SERIAL
    ds.StudyDescription = (
        f"CT CHEST for {given} {family} MRN {patient['id']} on {study_date[6:]}/{study_date[4:6]}/{study_date[:4]}"
    )
    ds.SeriesDescription = f"AX LUNG Dr {REFERRING.split('^')[0]} {study_date[:4]}-{study_date[4:6]}-{study_date[6:]}"
    ds.ImageComments = f"{given} {family} called 555-867-5309, acc {ds.AccessionNumber}"
    ds.BurnedInAnnotation = "NO"
    # Identifying values two sequence levels deep, under sequences the profile keeps.
    if i > 0:
        ref = Dataset()
        ref.ReferencedSOPClassUID = ds.SOPClassUID
        ref.ReferencedSOPInstanceUID = _uid("instance", p, s, 0)
        purpose = Dataset()
        purpose.CodeValue = "121311"
        purpose.CodingSchemeDesignator = "DCM"
        purpose.CodeMeaning = "Localizer"
        purpose.InstitutionName = INSTITUTION
        purpose.PatientID = patient["id"]
        purpose.ContentDate = study_date
        ref.PurposeOfReferenceCodeSequence = [purpose]
        ds.ReferencedImageSequence = [ref]
        source = Dataset()
        source.ReferencedSOPClassUID = ds.SOPClassUID
        source.ReferencedSOPInstanceUID = _uid("instance", p, s, i - 1)
        ds.SourceImageSequence = [source]
    region = Dataset()
    region.CodeValue = "T-D3000"
    region.CodingSchemeDesignator = "SRT"
    region.CodeMeaning = "Chest"
    modifier = Dataset()
    modifier.CodeValue = "G-A101"
    modifier.CodingSchemeDesignator = "SRT"
    modifier.CodeMeaning = "Left"
    modifier.OperatorsName = OPERATOR
    modifier.AccessionNumber = ds.AccessionNumber
    region.AnatomicRegionModifierSequence = [modifier]
    ds.AnatomicRegionSequence = [region]
    # Private blocks: one identifying creator, and safe attributes of two creators next to unsafe ones.
    block = ds.private_block(0x0009, "ACME PHI STORE", create=True)
    block.add_new(0x01, "LO", patient["name"].replace("^", " "))
    block.add_new(0x02, "DA", study_date)
    for group, creator, offset, vr, value in SAFE_PRIVATE:
        block = ds.private_block(group, creator, create=True)
        block.add_new(offset, vr, value)
        block.add_new(0x7E, "LO", patient["id"])  # same creator, offset not in Table E.3.10-1
    # Two overlays whose comments name the patient.
    for group in (0x6000, 0x6002):
        ds.add_new((group, 0x0010), "US", ds.Rows)
        ds.add_new((group, 0x0011), "US", ds.Columns)
        ds.add_new((group, 0x0040), "CS", "G")
        ds.add_new((group, 0x0050), "SS", [1, 1])
        ds.add_new((group, 0x0100), "US", 1)
        ds.add_new((group, 0x0102), "US", 0)
        ds.add_new((group, 0x3000), "OW", bytes(ds.Rows * ds.Columns // 8))
        ds.add_new((group, 0x4000), "LT", f"marked by {family}")
    return ds


def write_study_set(folder: Path) -> StudySet:
    """Write the 12 files into ``folder`` and return them with the planted values."""
    folder.mkdir(parents=True, exist_ok=True)
    result = StudySet(files=[])
    for p, patient in enumerate(PATIENTS):
        result.strings |= {patient["id"], patient["other_id"], *patient["name"].split("^")}
        result.dates.add(patient["birth"])
        for s, study_date in enumerate(patient["study_dates"]):
            result.dates.add(study_date)
            for i in range(3):
                ds = _instance(p, s, i, study_date)
                result.uids |= {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID}
                result.strings |= {ds.AccessionNumber, ds.StudyID}
                path = folder / f"p{p}s{s}i{i}.dcm"
                ds.save_as(path, enforce_file_format=True)
                result.files.append(path)
    result.strings |= {INSTITUTION, "Ignatius", "Vorpal", ADDRESS, "Elmsworth", "MERCYGENERAL", STATION, SERIAL}
    result.strings |= {*REFERRING.split("^"), *OPERATOR.split("^"), "867-5309", "ACME PHI STORE"}
    result.uids.add(pydicom.dcmread(pydicom_test_file("CT_small.dcm"), stop_before_pixels=True).SOPInstanceUID)
    return result
