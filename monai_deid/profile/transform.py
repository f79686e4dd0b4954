"""ScrubMetadata: the MONAI transforms that apply the PS3.15 Annex E profile to DICOM headers."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import ClassVar

from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils.enums import TransformBackends
from pydicom.dataset import Dataset

from monai_deid.profile.mapping import IdentifierMapping
from monai_deid.profile.options import ProfileOptions
from monai_deid.profile.scrubber import MetadataScrubber
from monai_deid.secret import Secret, resolve_secret

__all__ = ["ScrubMetadata", "ScrubMetadataD", "ScrubMetadataDict", "ScrubMetadatad", "pixels_vouched_clean"]


def pixels_vouched_clean(meta: Mapping) -> bool:
    """Whether the pixel stages vouch for every frame: verified, or scanned in full and passed through redaction."""
    if meta.get("deid_verified") is True:
        return True
    return meta.get("text_scanned") is True and "pixels_redacted" in meta


class ScrubMetadata(Transform):
    """De-identify a DICOM header with the PS3.15 Annex E basic profile and its options.

    Pseudonyms (Patient ID, Patient Name), replacement UIDs (``2.25.<int>``) and the per-patient date offset come
    from an HMAC under the user's secret, so the same input gives the same output in every file, run and batch.
    The dataset is changed in place (no copy: headers are PHI and copies only multiply them) and returned.

    Args:
        retain_safe_private: keep the safe private attributes of Table E.3.10-1; all other private ones go.
        retain_uids: keep UIDs instead of replacing them.
        retain_device_identity: keep device identifiers.
        retain_institution_identity: keep institution identifiers.
        retain_patient_characteristics: keep age (over 89 years as 90), sex, size, weight and similar.
        retain_long_full_dates: keep dates unchanged (wins over ``retain_long_modified_dates``).
        retain_long_modified_dates: shift dates by a per-patient keyed offset (default); with both False dates go.
        clean_descriptors: keep descriptions and comments with identifying text removed (default).
        clean_structured_content: keep structured content with identifying text removed.
        clean_graphics: clean graphic annotations (default); overlay and curve groups are always removed.
        secret: the secret itself (else ``secret_file``, else the ``MONAI_DEID_SECRET`` environment variable).
        secret_file: a file holding the secret.
        generate_secret: use a random throw-away secret when none is found (outputs then cannot be re-linked or
            reproduced).
        mapping: records original -> new identifiers and UIDs (write it with ``mapping.write_csv``).

    Raises:
        MissingSecretError: no secret was found and ``generate_secret`` is False.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.NUMPY]

    def __init__(
        self,
        retain_safe_private: bool = False,
        retain_uids: bool = False,
        retain_device_identity: bool = False,
        retain_institution_identity: bool = False,
        retain_patient_characteristics: bool = False,
        retain_long_full_dates: bool = False,
        retain_long_modified_dates: bool = True,
        clean_descriptors: bool = True,
        clean_structured_content: bool = False,
        clean_graphics: bool = True,
        secret: str | bytes | Secret | None = None,
        secret_file: str | Path | None = None,
        generate_secret: bool = False,
        mapping: IdentifierMapping | None = None,
    ) -> None:
        self.options = ProfileOptions(
            retain_safe_private=retain_safe_private,
            retain_uids=retain_uids,
            retain_device_identity=retain_device_identity,
            retain_institution_identity=retain_institution_identity,
            retain_patient_characteristics=retain_patient_characteristics,
            retain_long_full_dates=retain_long_full_dates,
            retain_long_modified_dates=retain_long_modified_dates,
            clean_descriptors=clean_descriptors,
            clean_structured_content=clean_structured_content,
            clean_graphics=clean_graphics,
        )
        self.mapping = mapping
        self._scrubber = MetadataScrubber(self.options, resolve_secret(secret, secret_file, generate_secret), mapping)

    def __call__(self, ds: Dataset, pixels_clean: bool = False, path: str | None = None) -> Dataset:
        """Scrub ``ds`` in place and return it.

        Args:
            ds: the header (with ``file_meta`` when read from a file).
            pixels_clean: the pixel stages scanned and cleaned every frame, so Burned In Annotation may say NO.
            path: the file name used in errors.

        Raises:
            UnsupportedContentError: structured reports and encapsulated documents, to be quarantined.
        """
        return self._scrubber(ds, pixels_clean=pixels_clean, path=path)


class ScrubMetadatad(MapTransform):
    """Dictionary wrapper of :class:`ScrubMetadata`: scrubs ``data[f"{key}_dicom"]`` for every key.

    Burned In Annotation says NO only when ``data[key].meta`` vouches for the pixels (``deid_verified``, or
    ``text_scanned`` together with ``pixels_redacted`` from the redaction stage).

    Args:
        keys: image keys; the header of each is ``data[f"{key}_dicom"]``.
        allow_missing_keys: skip keys whose header is absent instead of raising.
        kwargs: every keyword argument of :class:`ScrubMetadata` (options, ``secret``, ``secret_file``,
            ``generate_secret``, ``mapping``).
    """

    backend = ScrubMetadata.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        allow_missing_keys: bool = False,
        retain_safe_private: bool = False,
        retain_uids: bool = False,
        retain_device_identity: bool = False,
        retain_institution_identity: bool = False,
        retain_patient_characteristics: bool = False,
        retain_long_full_dates: bool = False,
        retain_long_modified_dates: bool = True,
        clean_descriptors: bool = True,
        clean_structured_content: bool = False,
        clean_graphics: bool = True,
        secret: str | bytes | Secret | None = None,
        secret_file: str | Path | None = None,
        generate_secret: bool = False,
        mapping: IdentifierMapping | None = None,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scrubber = ScrubMetadata(
            retain_safe_private=retain_safe_private,
            retain_uids=retain_uids,
            retain_device_identity=retain_device_identity,
            retain_institution_identity=retain_institution_identity,
            retain_patient_characteristics=retain_patient_characteristics,
            retain_long_full_dates=retain_long_full_dates,
            retain_long_modified_dates=retain_long_modified_dates,
            clean_descriptors=clean_descriptors,
            clean_structured_content=clean_structured_content,
            clean_graphics=clean_graphics,
            secret=secret,
            secret_file=secret_file,
            generate_secret=generate_secret,
            mapping=mapping,
        )

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.keys:
            header_key = f"{key}_dicom"
            if header_key not in d:
                if self.allow_missing_keys:
                    continue
                raise KeyError(f"ScrubMetadatad needs the header under {header_key!r}")
            image = d.get(key)
            meta = getattr(image, "meta", None) or {}
            d[header_key] = self.scrubber(d[header_key], pixels_clean=pixels_vouched_clean(meta))
        return d


ScrubMetadataD = ScrubMetadataDict = ScrubMetadatad
