"""Write synthetic DICOM files of every photometric interpretation and bit depth from a grey [0, 1] rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.pixels import convert_color_space
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

#: (name, photometric, bits stored, signed) of every stored format the tests cover.
FORMATS = [
    ("mono2_8", "MONOCHROME2", 8, False),
    ("mono1_8", "MONOCHROME1", 8, False),
    ("mono2_12", "MONOCHROME2", 12, False),
    ("mono2_16", "MONOCHROME2", 16, False),
    ("mono2_16_signed", "MONOCHROME2", 16, True),
    ("mono1_12", "MONOCHROME1", 12, False),
    ("rgb_8", "RGB", 8, False),
    ("ybr_full_8", "YBR_FULL", 8, False),
    ("palette_8", "PALETTE COLOR", 8, False),
]


def _stored(grey: np.ndarray, photometric: str, bits: int, signed: bool) -> np.ndarray:
    """Stored values whose displayed image is ``grey`` (F, H, W) in [0, 1]."""
    if photometric == "MONOCHROME1":
        grey = 1.0 - grey
    if photometric in ("RGB", "YBR_FULL"):
        # Warm-tinted colour: text and background differ in every channel, as on ultrasound screens.
        rgb = np.stack([grey, grey * 0.85 + 0.05, grey * 0.6 + 0.1], axis=-1)
        rgb = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
        return convert_color_space(rgb, "RGB", "YBR_FULL") if photometric == "YBR_FULL" else rgb
    top = (1 << bits) - 1
    if signed:
        half = 1 << (bits - 1)
        return np.clip(grey * (top - 1) - half + 0.5, -half, half - 1).astype(np.int16)
    dtype = np.uint8 if bits <= 8 else np.uint16
    return np.clip(grey * top + 0.5, 0, top).astype(dtype)


def write_dicom(path: Path, grey: np.ndarray, fmt: tuple[str, str, int, bool]) -> Path:
    """Write frames ``grey`` (F, H, W) in [0, 1] as a DICOM file of format ``fmt`` (an entry of FORMATS)."""
    _, photometric, bits, signed = fmt
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "OT"
    ds.PatientName = "TEST^SYNTHETIC"
    stored = _stored(grey, photometric, bits, signed)
    if grey.shape[0] == 1:
        stored = stored[0]
    if photometric == "PALETTE COLOR":
        ds.set_pixel_data(stored, "MONOCHROME2", 8)
        ds.PhotometricInterpretation = "PALETTE COLOR"
        ramp = np.arange(256, dtype=np.uint16) * 257
        for colour, table in (("Red", ramp), ("Green", ramp), ("Blue", ramp[::-1].copy())):
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
            setattr(ds, f"{colour}PaletteColorLookupTableData", table.tobytes())
    else:
        ds.set_pixel_data(stored, photometric, bits)
    ds.save_as(path, enforce_file_format=True)
    return path
