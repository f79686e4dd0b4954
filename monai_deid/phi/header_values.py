"""The file's own PHI values, collected from its header at every depth, to be looked for in the burned-in text.

Only the attribute keyword travels with a value out of this module's callers (as ``header:<Keyword>`` reason codes);
the values themselves are PHI and stay in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

__all__ = ["HeaderValue", "collect_header_values"]

#: non-PN attributes whose values identify the patient, the visit, the place or the people (PS3.15 Annex E)
IDENTIFYING_KEYWORDS = frozenset(
    {
        "PatientID",
        "OtherPatientIDs",
        "IssuerOfPatientID",
        "AccessionNumber",
        "StudyID",
        "AdmissionID",
        "RequestedProcedureID",
        "PerformedProcedureStepID",
        "ScheduledProcedureStepID",
        "FillerOrderNumberImagingServiceRequest",
        "PlacerOrderNumberImagingServiceRequest",
        "MedicalRecordLocator",
        "PatientAge",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "CountryOfResidence",
        "RegionOfResidence",
        "MilitaryRank",
        "BranchOfService",
        "Occupation",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "PersonAddress",
        "PersonTelephoneNumbers",
        "StationName",
        "DeviceSerialNumber",
        "PlateID",
        "DetectorID",
        "GantryID",
        "CassetteID",
        "RequestingService",
        "CurrentPatientLocation",
        "PatientInstitutionResidence",
        "ResponsibleOrganization",
        "OtherPatientNames",
    }
)
#: value representations whose every value is PHI-bearing wherever it sits
_TEMPORAL_VRS = {"DA": "date", "TM": "time", "DT": "datetime"}


class HeaderValue(NamedTuple):
    """One PHI value of the header.

    Args:
        keyword: the attribute keyword (``"PatientName"``); safe to write in reason codes.
        value: the value as a string (PHI).
        kind: how the value is rendered on screen: ``"name"``, ``"date"``, ``"time"``, ``"datetime"``, ``"age"``
            or ``"text"``.
    """

    keyword: str
    value: str
    kind: str


def _kind(keyword: str, vr: str) -> str | None:
    if vr == "PN":
        return "name"
    if vr in _TEMPORAL_VRS:
        return _TEMPORAL_VRS[vr]
    if keyword == "PatientAge":
        return "age"
    if keyword in IDENTIFYING_KEYWORDS:
        return "text"
    return None


def _strings(value: object) -> Iterator[str]:
    items = value if isinstance(value, (list, tuple, MultiValue)) else [value]
    for item in items:
        text = str(item).strip() if isinstance(item, (str, PersonName)) else ""
        if text:
            yield text


def _walk(ds: Dataset) -> Iterator[HeaderValue]:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                yield from _walk(item)
            continue
        # private elements carry vendor data; only their person names are treated as identifying
        keyword = elem.keyword or ("PrivateName" if elem.VR == "PN" else "")
        kind = _kind(keyword, elem.VR) if keyword else None
        if kind is None or elem.value is None:
            continue
        for text in _strings(elem.value):
            yield HeaderValue(keyword, text, kind)


def collect_header_values(ds: Dataset | None) -> list[HeaderValue]:
    """Every PHI value of ``ds`` (sequences included, file meta excluded), without duplicates, in header order.

    Args:
        ds: the file's header; ``None`` gives an empty list.

    Returns:
        the values with their attribute keyword and rendering kind.
    """
    if ds is None:
        return []
    seen: set[tuple[str, str]] = set()
    values = []
    for hv in _walk(ds):
        if (hv.keyword, hv.value) not in seen:
            seen.add((hv.keyword, hv.value))
            values.append(hv)
    return values
