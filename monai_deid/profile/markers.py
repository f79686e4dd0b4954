"""The attributes that tell a reader how the object was de-identified (PS3.15 E.1.1, PS3.3 C.7.1.1)."""

from __future__ import annotations

from functools import cache

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from monai_deid import __version__
from monai_deid.profile.options import METHOD_CODES, ProfileOptions

__all__ = ["burned_in_annotation", "marker_dataset", "set_deidentification_markers"]


def _method_description(options: ProfileOptions, edition: str) -> list[str]:
    # LO is limited to 64 characters per value: one value per fact.
    return [f"monai-deid {__version__}", f"PS3.15 E basic profile ({edition.split(' (')[0]})"] + [
        METHOD_CODES[name][1] for name in options.applied()
    ]


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


# SOP classes whose image module allows only Burned In Annotation = NO (Enhanced and Legacy Converted Enhanced CT,
# MR and PET, PS3.3 C.8.13.1, C.8.15.2, C.8.22.3): the IOD itself defines these images as free of burned-in text.
_NO_ONLY_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.2.1",
        "1.2.840.10008.5.1.4.1.1.2.2",
        "1.2.840.10008.5.1.4.1.1.4.1",
        "1.2.840.10008.5.1.4.1.1.4.3",
        "1.2.840.10008.5.1.4.1.1.4.4",
        "1.2.840.10008.5.1.4.1.1.128.1",
        "1.2.840.10008.5.1.4.1.1.130",
    }
)


def burned_in_annotation(original: str | None, pixels_clean: bool, sop_class: str = "") -> str | None:
    """The Burned In Annotation value after scrubbing.

    ``NO`` only when the pixel stages vouch for every frame, or when the IOD allows nothing but ``NO``; otherwise
    a present value becomes ``YES`` (an unverified ``NO`` from the modality is not repeated), and an absent one
    stays absent (no claim is made either way).
    """
    if pixels_clean or (original is not None and sop_class in _NO_ONLY_SOP_CLASSES):
        return "NO"
    return None if original is None else "YES"


def marker_dataset(options: ProfileOptions, edition: str, pixels_clean: bool) -> Dataset:
    """Patient Identity Removed, De-identification Method (and its code sequence) and the temporal-information flag.

    Args:
        options: the options applied.
        edition: the standard edition of the table used.
        pixels_clean: the pixel stages scanned every frame and cleaned what they found (Clean Pixel Data, 113101,
            is then listed).
    """
    ds = Dataset()
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = _method_description(options, edition)
    codes = [METHOD_CODES["basic"]]
    if pixels_clean:
        codes.append(("113101", "Clean Pixel Data Option"))
    codes += [METHOD_CODES[name] for name in options.applied()]
    ds.DeidentificationMethodCodeSequence = [_code_item(value, meaning) for value, meaning in codes]
    if options.retain_long_full_dates:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif options.shift_dates:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    return ds


@cache
def _encoded_markers(
    options: ProfileOptions, edition: str, pixels_clean: bool, implicit_vr: bool, little_endian: bool
) -> tuple[RawDataElement, ...]:
    # The markers are the same for every file of a run: encode them once per transfer syntax encoding. Raw
    # elements are immutable, so every dataset can hold the same ones; pydicom decodes them on access and
    # re-encodes them if the file is written in another encoding.
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit_vr, little_endian
    write_dataset(fp, marker_dataset(options, edition, pixels_clean))
    fp.seek(0)
    encoded = read_dataset(fp, implicit_vr, little_endian)
    return tuple(encoded.get_item(tag) for tag in sorted(encoded.keys()))


def set_deidentification_markers(ds: Dataset, options: ProfileOptions, edition: str, pixels_clean: bool) -> None:
    """Write the markers of :func:`marker_dataset` and the Burned In Annotation of :func:`burned_in_annotation`.

    Args:
        ds: the scrubbed dataset, changed in place.
        options: the options applied.
        edition: the standard edition of the table used.
        pixels_clean: the pixel stages scanned every frame and cleaned what they found.
    """
    implicit_vr, little_endian = ds.original_encoding
    if implicit_vr is None or little_endian is None:  # built in memory: no encoding to match
        for elem in marker_dataset(options, edition, pixels_clean):
            ds[elem.tag] = elem
    else:
        for raw in _encoded_markers(options, edition, pixels_clean, implicit_vr, little_endian):
            ds[raw.tag] = raw
    burned_in = burned_in_annotation(ds.get("BurnedInAnnotation"), pixels_clean, str(ds.get("SOPClassUID", "")))
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
