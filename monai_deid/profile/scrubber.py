"""The PS3.15 Annex E profile applied to one header: the functional core of ScrubMetadata."""

from __future__ import annotations

from pydicom.dataset import Dataset

from monai_deid.profile.content import check_supported
from monai_deid.profile.mapping import IdentifierMapping
from monai_deid.profile.markers import set_deidentification_markers
from monai_deid.profile.options import ProfileOptions
from monai_deid.profile.pseudonyms import Pseudonymizer
from monai_deid.profile.table import action_map, load_table
from monai_deid.profile.uids import UidReplacer
from monai_deid.profile.walker import Walk
from monai_deid.secret import Secret

__all__ = ["MetadataScrubber", "patient_key"]


def patient_key(ds: Dataset) -> str:
    """The original identity that keys a patient's pseudonyms and date offset: Patient ID, else Patient Name.

    Files with neither share one (empty) key, so they share a date offset and get empty patient attributes.
    """
    key = str(ds.get("PatientID", "") or "").strip()
    return key or str(ds.get("PatientName", "") or "").strip()


class MetadataScrubber:
    """Scrubs headers in place under one option set and one secret.

    Args:
        options: the profile options.
        secret: the key of pseudonyms, UIDs and date offsets.
        mapping: optional record of original -> new identifiers and UIDs.
    """

    def __init__(self, options: ProfileOptions, secret: Secret, mapping: IdentifierMapping | None = None) -> None:
        self.options = options
        self.mapping = mapping
        self._actions = action_map(options)
        self._edition = load_table().edition
        self._uids = UidReplacer(secret, mapping)
        self._pseudonyms = Pseudonymizer(secret, mapping)

    def __call__(self, ds: Dataset, pixels_clean: bool = False, path: str | None = None) -> Dataset:
        """Scrub ``ds`` (and its ``file_meta``) in place and return it.

        Args:
            ds: the header; Pixel Data, if present, is left untouched.
            pixels_clean: the pixel stages scanned every frame and cleaned it (Burned In Annotation may say NO).
            path: the file name for errors.

        Raises:
            UnsupportedContentError: structured reports and encapsulated documents (quarantine them).
        """
        check_supported(ds, path)
        key = patient_key(ds)
        walk = Walk(
            actions=self._actions,
            uids=self._uids,
            pseudonyms=self._pseudonyms,
            patient_key=key,
            date_offset=self._pseudonyms.date_offset_days(key) if self.options.shift_dates else None,
            root=ds,
        )
        original_name = str(ds.get("PatientName", "") or "")
        if original_name:
            walk.names.append(original_name)
        if key:
            walk.terms.append(key)
        walk.dataset(ds)
        if getattr(ds, "file_meta", None) is not None:
            walk.file_meta(ds.file_meta)
        walk.clean_pending_text()
        set_deidentification_markers(ds, self.options, self._edition, pixels_clean)
        return ds
