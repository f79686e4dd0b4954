"""Objects whose content the profile cannot clean yet: structured reports and encapsulated documents."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import UID_dictionary

from monai_deid.errors import UnsupportedContentError

__all__ = ["check_supported"]

_UNSUPPORTED_MODALITIES = frozenset({"SR", "DOC", "KO"})
_UNSUPPORTED_CLASS_WORDS = ("SR Storage", "Encapsulated", "Key Object Selection")


def check_supported(ds: Dataset, path: str | None = None) -> None:
    """Raise if the object holds content that must be quarantined instead of scrubbed.

    Args:
        ds: the header.
        path: the file name for the error (PHI-free reasons only).

    Raises:
        UnsupportedContentError: structured reports, key object selections and encapsulated documents (PDF, CDA,
            STL, ...), whose free-form content cannot be cleaned attribute by attribute.
    """
    sop_class = str(ds.get("SOPClassUID", ""))
    class_name = UID_dictionary.get(sop_class, ("",))[0]
    if any(word in class_name for word in _UNSUPPORTED_CLASS_WORDS):
        raise UnsupportedContentError(path, f"{class_name} objects cannot be cleaned yet; quarantined")
    if "EncapsulatedDocument" in ds:
        raise UnsupportedContentError(path, "encapsulated documents cannot be cleaned yet; quarantined")
    if str(ds.get("Modality", "")).upper() in _UNSUPPORTED_MODALITIES:
        raise UnsupportedContentError(path, f"modality {ds.Modality} documents cannot be cleaned yet; quarantined")
