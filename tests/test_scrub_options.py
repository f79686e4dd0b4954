"""Every option switches its attributes as PS3.15 Table E.1-1 says (table-driven over the packaged table)."""

from __future__ import annotations

import re

import pydicom
import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from monai_deid.profile import ProfileOptions, ScrubMetadata, load_table
from monai_deid.profile.options import METHOD_CODES

SECRET = "options-secret-0123456789"
OPTIONS = [name for name in ProfileOptions.__dataclass_fields__]
ALL_OFF = {name: False for name in OPTIONS}
# The text every listed text attribute holds: a clinical word and a date, which Clean (C) must remove.
CLINICAL, IDENTIFYING = "HEAD", "20200102"

VALUES = {
    "AE": "HEAD 20200102",
    "AS": "045Y",
    "CS": "HEAD",
    "DA": "20200102",
    "DS": "1.5",
    "DT": "20200102030405",
    "FD": 1.5,
    "FL": 1.5,
    "IS": "3",
    "LO": f"{CLINICAL} {IDENTIFYING}",
    "LT": f"{CLINICAL} {IDENTIFYING}",
    "OB": b"\x01\x02",
    "OW": b"\x01\x02",
    "PN": "Doe^Jane",
    "SH": f"{CLINICAL} {IDENTIFYING}",
    "SL": 7,
    "SS": 7,
    "ST": f"{CLINICAL} {IDENTIFYING}",
    "TM": "030405",
    "UC": f"{CLINICAL} {IDENTIFYING}",
    "UI": "1.2.3.4.5.6.7",
    "UL": 7,
    "UN": b"\x01\x02",
    "UR": "http://example.org/x",
    "US": 7,
    "UT": f"{CLINICAL} {IDENTIFYING}",
}


# Command and file-meta groups are not dataset attributes; Patient Name and ID become pseudonyms and an encapsulated
# document makes the object unsupported (own tests).
NOT_TABLE_DRIVEN = (0x00100010, 0x00100020, 0x00420011)


def _records():
    for record in load_table().attributes:
        tag = int(record["tag"], 16)
        if tag >> 16 in (0x0000, 0x0002) or tag in NOT_TABLE_DRIVEN:
            continue
        vr = dictionary_VR(tag).split(" or ")[0]
        if vr == "SQ" or vr in VALUES:
            yield tag, vr, record


RECORDS = list(_records())
# Identifier-like attributes hold an identifier, so that cleaning other text does not remove the clinical word
# because an identifying attribute of the same header happened to hold it.
IDENTIFIER_KEYWORD = re.compile(r"(ID|IDs|Number|Numbers|Name|Address|Title|Locator|Value)$")


def _value(tag: int, vr: str):
    if vr in ("AE", "LO", "SH") and IDENTIFIER_KEYWORD.search(keyword_for_tag(tag)):
        return "ID778899"
    return VALUES[vr]


def _full_dataset() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.Modality = "CT"
    for tag, vr, _ in RECORDS:
        if vr == "SQ":
            item = Dataset()
            item.CodeMeaning = CLINICAL
            ds.add_new(tag, vr, [item])
        else:
            ds.add_new(tag, vr, _value(tag, vr))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _check(ds: Dataset, tag: int, vr: str, action: str, shift: bool) -> None:
    name = f"{tag:08X} ({vr}) action {action}"
    if action == "X":
        assert tag not in ds, name
        return
    assert tag in ds, name
    elem = ds[tag]
    original = None if vr == "SQ" else _value(tag, vr)
    if action == "Z":
        assert elem.is_empty, name
    elif action == "K":
        assert (len(elem.value) == 1) if vr == "SQ" else elem.value == original, name
    elif action == "D":
        assert (elem.value == []) if vr == "SQ" else elem.value not in (None, "", original), name
    elif action == "U":
        assert (len(elem.value) == 1) if vr == "SQ" else str(elem.value).startswith("2.25."), name
    elif action == "C":
        if vr == "SQ":
            assert elem.value[0].CodeMeaning == CLINICAL, name
        elif vr in ("DA", "DT"):
            assert (elem.value != original) if shift else True, name
            assert pydicom.valuerep.DA(str(elem.value)[:8]), name
        elif vr == "PN":
            assert elem.value == "", name
        elif vr in ("LO", "LT", "SH", "ST", "UC", "UT", "AE"):
            assert str(elem.value) == ("ANONYMIZED" if original == "ID778899" else CLINICAL), name
        else:
            assert elem.value == original, name


def _scrub(**options) -> Dataset:
    return ScrubMetadata(secret=SECRET, **options)(_full_dataset())


def test_table_covers_every_attribute():
    assert len(load_table().attributes) + len(load_table().repeating_groups) == 620
    assert "2024" in load_table().edition
    assert len(RECORDS) > 560


def test_basic_profile_alone():
    ds = _scrub(**ALL_OFF)
    for tag, vr, record in RECORDS:
        _check(ds, tag, vr, record["action"], shift=False)
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [item.CodeValue for item in ds.DeidentificationMethodCodeSequence] == ["113100"]


@pytest.mark.parametrize("option", [o for o in OPTIONS if o != "retain_safe_private"])
def test_option_switches_its_column(option):
    ds = _scrub(**{**ALL_OFF, option: True})
    switched = 0
    for tag, vr, record in RECORDS:
        expected = record["options"].get(option, record["action"])
        switched += option in record["options"]
        _check(ds, tag, vr, expected, shift=option == "retain_long_modified_dates")
    assert switched > 0
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", METHOD_CODES[option][0]]


def test_full_dates_win_over_modified_dates():
    ds = _scrub(retain_long_full_dates=True, retain_long_modified_dates=True)
    assert ds.StudyDate == VALUES["DA"]
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
