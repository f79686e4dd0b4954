"""Generated sample DICOM with planted PHI, for the demo and the tests.

Everything here is synthetic: the patients, their identifiers and the pixels. Files are deterministic (fixed seeds
and UIDs derived from fixed strings), so demo runs and tests are repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

__all__ = ["SAMPLE_PATIENTS", "SamplePatient", "make_dataset", "render_text", "write_sample_set"]


@dataclass(frozen=True)
class SamplePatient:
    """A synthetic patient; every field is PHI as far as the tests are concerned."""

    name: str
    patient_id: str
    birth_date: str
    accession: str
    study_date: str
    institution: str
    physician: str


SAMPLE_PATIENTS = (
    SamplePatient("DOE^JANE", "MRN4471920", "19510829", "ACC778812", "20240312", "ST MARY HOSPITAL", "HOUSE^GREGORY"),
    SamplePatient("ROE^RICHARD", "MRN5582031", "19630214", "ACC889923", "20240405", "LAKESIDE CLINIC", "GREY^MEREDITH"),
)


def _uid(*parts: str) -> str:
    return generate_uid(entropy_srcs=["monai-deid-sample", *parts])


def make_dataset(
    patient: SamplePatient, sop_class: str, pixels: np.ndarray, photometric: str, series: int, instance: int
) -> Dataset:
    """A complete single-file dataset for ``pixels`` (``(F, H, W)`` or ``(F, H, W, 3)``) with PHI in the header."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = _uid(patient.patient_id, str(series), str(instance))
    ds.StudyInstanceUID = _uid(patient.patient_id, "study")
    ds.SeriesInstanceUID = _uid(patient.patient_id, str(series))
    ds.FrameOfReferenceUID = _uid(patient.patient_id, "frame-of-reference")
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = "F" if patient.name.endswith("JANE") else "M"
    ds.AccessionNumber = patient.accession
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = patient.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "101500"
    ds.StudyID = "1"
    ds.SeriesNumber = series
    ds.InstanceNumber = instance
    ds.InstitutionName = patient.institution
    ds.ReferringPhysicianName = patient.physician
    ds.StudyDescription = f"Follow-up for {patient.name.replace('^', ' ').title()}"
    ds.Manufacturer = "MONAI-DEID SAMPLES"
    ds.set_pixel_data(
        pixels if pixels.shape[0] > 1 else pixels[0],
        photometric,
        pixels.dtype.itemsize * 8,
        generate_instance_uid=False,
    )
    return ds


def render_text(image: np.ndarray, lines: list[tuple[int, int, str]], size: int = 14, value: int = 255) -> np.ndarray:
    """Burn ``(x, y, text)`` lines into a ``(H, W)`` or ``(H, W, 3)`` uint8 image with Pillow's built-in font."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=size)
    fill = value if image.ndim == 2 else (value, value, value)
    for x, y, text in lines:
        draw.text((x, y), text, fill=fill, font=font)
    return np.asarray(canvas)


def _ct(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:256, :256]
    body = ((yy - 128) ** 2 + (xx - 128) ** 2) < 100**2
    image = np.where(body, 40 + rng.normal(0, 12, (256, 256)), -1000).astype(np.int16)
    return image[None]


def _mr(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:256, :256]
    head = ((yy - 128) / 110) ** 2 + ((xx - 128) / 90) ** 2 < 1
    return np.where(head, 1800 + rng.normal(0, 90, (256, 256)), 0).clip(0, 4095).astype(np.uint16)[None]


def _ultrasound_cine(patient: SamplePatient, rng: np.random.Generator, frames: int = 8) -> np.ndarray:
    """An RGB cine: a speckle sector, a static PHI header band, clinical labels and a ticking clock."""
    base = np.zeros((384, 512), np.uint8)
    yy, xx = np.mgrid[:384, :512]
    sector = (np.hypot(yy - 40, xx - 256) < 320) & (np.abs(xx - 256) < (yy - 40) * 0.9)
    header = [
        (8, 6, patient.institution),
        (8, 24, patient.name.replace("^", ", ")),
        (300, 6, f"ID: {patient.patient_id}"),
        (300, 24, f"{patient.study_date[4:6]}/{patient.study_date[6:]}/{patient.study_date[:4]}"),
    ]
    labels = [(8, 340, "C5-1  Abd General"), (8, 358, "Sag Liver"), (400, 340, "MI 1.1  TIS 0.4")]
    out = []
    for index in range(frames):
        frame = np.where(sector, rng.integers(20, 140, base.shape), 0).astype(np.uint8)
        frame = render_text(frame, [*header, *labels, (400, 358, f"10:15:{index:02d}")])
        out.append(np.repeat(frame[..., None], 3, axis=2))
    return np.stack(out)


def write_sample_set(folder: str | Path) -> list[Path]:
    """Write a small realistic input set under ``folder`` and return the paths.

    Per patient: a CT slice, an MR slice (RLE compressed) and an ultrasound cine with burned-in PHI; plus one
    truncated file that must be reported and quarantined. File and folder names look like a PACS export and carry
    patient names, as real exports do: the outputs must not.
    """
    folder = Path(folder)
    rng = np.random.default_rng(7)
    written = []
    for patient in SAMPLE_PATIENTS:
        patient_dir = folder / patient.name.replace("^", "_")
        patient_dir.mkdir(parents=True, exist_ok=True)
        ct = make_dataset(patient, CTImageStorage, _ct(rng), "MONOCHROME2", 1, 1)
        ct.RescaleIntercept, ct.RescaleSlope, ct.Modality = 0, 1, "CT"
        mr = make_dataset(patient, MRImageStorage, _mr(rng), "MONOCHROME2", 2, 1)
        mr.BitsStored, mr.HighBit, mr.Modality = 12, 11, "MR"
        mr.compress(RLELossless, generate_instance_uid=False)
        us = make_dataset(patient, UltrasoundMultiFrameImageStorage, _ultrasound_cine(patient, rng), "RGB", 3, 1)
        us.Modality, us.BurnedInAnnotation = "US", "YES"
        us.FrameTime, us.CineRate, us.FrameIncrementPointer = 40, 25, 0x00181063
        for name, ds in (("ct.dcm", ct), ("mr_rle.dcm", mr), ("us_cine.dcm", us)):
            path = patient_dir / f"{patient.patient_id}_{name}"
            pydicom.dcmwrite(path, ds, enforce_file_format=True)
            written.append(path)
    broken = folder / "broken_truncated.dcm"
    broken.write_bytes(written[0].read_bytes()[:700])
    written.append(broken)
    return written
