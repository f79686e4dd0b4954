"""monai-deid: MONAI dictionary transforms that de-identify DICOM for AI training.

The stages chain in a ``monai.transforms.Compose``::

    LoadDicomWithMetad -> DetectBurnedInTextd -> ClassifyPHId -> RedactPixelsd -> ScrubMetadatad
        -> VerifyDeidentifiedd -> SaveDicomd

:func:`deidentify_file` and :func:`deidentify_dir` run the whole pipeline on a file or a folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monai_deid._version import __version__
from monai_deid.audit import AuditLog, AuditRecord, default_audit_path
from monai_deid.io import LoadDicomWithMeta, LoadDicomWithMetad, SaveDicom, SaveDicomd
from monai_deid.ocr import DetectBurnedInText, DetectBurnedInTextd
from monai_deid.phi import ClassifyPHI, ClassifyPHId
from monai_deid.pipeline import build_deid_transforms, build_pipeline
from monai_deid.profile import ScrubMetadata, ScrubMetadatad
from monai_deid.redact import RedactPixels, RedactPixelsd
from monai_deid.runner import RunSummary, find_inputs, process_file, run_batch
from monai_deid.verify import CapturePHIInventoryd, VerifyDeidentified, VerifyDeidentifiedd

__all__ = [
    "CapturePHIInventoryd",
    "ClassifyPHI",
    "ClassifyPHId",
    "DetectBurnedInText",
    "DetectBurnedInTextd",
    "LoadDicomWithMeta",
    "LoadDicomWithMetad",
    "RedactPixels",
    "RedactPixelsd",
    "SaveDicom",
    "SaveDicomd",
    "ScrubMetadata",
    "ScrubMetadatad",
    "VerifyDeidentified",
    "VerifyDeidentifiedd",
    "__version__",
    "build_deid_transforms",
    "build_pipeline",
    "deidentify_dir",
    "deidentify_file",
]


def deidentify_file(path: str | Path, output_dir: str | Path, **settings: Any) -> AuditRecord:
    """De-identify one file into ``output_dir``; the record says where it went or why it did not.

    Args:
        path: the DICOM file (never modified).
        output_dir: folder for the de-identified file.
        settings: keyword arguments of :func:`build_pipeline` (``device``, ``scrub={"secret": ...}``, ...).
    """
    return process_file(Path(path), build_pipeline(output_dir, **settings))


def deidentify_dir(
    input_dir: str | Path, output_dir: str | Path, workers: int = 1, audit: str | Path | None = None, **settings: Any
) -> RunSummary:
    """De-identify every DICOM file under ``input_dir`` into ``output_dir``, auditing each one.

    Args:
        input_dir: folder searched recursively (never modified).
        output_dir: folder for the de-identified files.
        workers: parallel processes.
        audit: the audit log; default ``<output_dir>.audit.jsonl`` beside the output folder.
        settings: keyword arguments of :func:`build_pipeline`.
    """
    files, skipped = find_inputs(input_dir, exclude=[Path(output_dir)])
    with AuditLog(audit or default_audit_path(output_dir)) as log:
        kwargs = {"output_dir": output_dir, **settings}
        return run_batch(files, build_pipeline, kwargs, log, workers, skipped=skipped, progress=False)
