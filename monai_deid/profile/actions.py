"""The value an attribute gets under actions D (dummy) and Z (zero length), by VR."""

from __future__ import annotations

from pydicom.dataelem import DataElement

from monai_deid.profile.dates import DUMMY_VALUES

__all__ = ["STRING_VRS", "TEXT_VRS", "dummy_value", "empty_value"]

#: VRs whose value is text that Clean Descriptors / Clean Structured Content can clean
TEXT_VRS = frozenset({"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
#: VRs with a string value (zero length is "")
STRING_VRS = TEXT_VRS | frozenset({"AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})

# Dummy values valid for their VR (CS and AE within 16 characters of the allowed repertoire).
_DUMMY_TEXT = {
    "AE": "ANONYMOUS",
    "AS": "000D",
    "CS": "ANONYMIZED",
    "DS": "0",
    "IS": "0",
    "UR": "http://anonymized.invalid/",
}


def empty_value(elem: DataElement) -> object:
    """The zero-length value of the element's VR (Z)."""
    if elem.VR == "SQ":
        return []
    return "" if elem.VR in STRING_VRS else None


def dummy_value(elem: DataElement) -> object:
    """A dummy value of the element's VR (D). Sequences are emptied: their items could hold anything."""
    vr = elem.VR
    if vr == "SQ":
        return []
    if vr in DUMMY_VALUES:
        return DUMMY_VALUES[vr]
    if vr in _DUMMY_TEXT:
        return _DUMMY_TEXT[vr]
    if vr in TEXT_VRS:
        return "ANONYMIZED"
    if vr in ("FL", "FD", "SL", "SS", "SV", "UL", "US", "UV"):
        return 0
    if isinstance(elem.value, bytes):  # OB, OW, UN and other binary VRs: zeros of the same (even) length
        return bytes(len(elem.value))
    return None
