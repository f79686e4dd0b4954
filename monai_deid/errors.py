"""Typed errors of monai-deid.

Every error names the file it is about and a reason. Reasons describe *what* is wrong (a missing attribute, an
unsupported transfer syntax); they never quote header values or recognised text, which may be PHI.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DeidError",
    "InvalidDicomError",
    "MissingPixelDataError",
    "SettingsMismatchError",
    "UndecodablePixelDataError",
    "UnsupportedContentError",
    "VerificationError",
]


class DeidError(Exception):
    """Base class: a file could not be de-identified and must be quarantined, never written as clean.

    Args:
        path: the input file the error is about (``None`` when not known).
        reason: a PHI-free description of what is wrong and, where possible, what to do.
    """

    #: short machine-readable code used in the audit log
    code = "deid_error"

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path or '<memory>'}: {reason}")


class InvalidDicomError(DeidError):
    """The file is not DICOM, is truncated, or its header cannot be parsed."""

    code = "invalid_dicom"


class MissingPixelDataError(DeidError):
    """The object is expected to hold pixels but has no Pixel Data (or Float/Double Float Pixel Data)."""

    code = "missing_pixel_data"


class UndecodablePixelDataError(DeidError):
    """The pixel data cannot be decoded: unknown transfer syntax, missing decoder or corrupt stream."""

    code = "undecodable_pixel_data"


class UnsupportedContentError(DeidError):
    """The object holds content that cannot be cleaned yet (encapsulated PDF, structured report, ...)."""

    code = "unsupported_content"


class SettingsMismatchError(DeidError, ValueError):
    """A setting does not fit this file (a constant fill outside its sample range, one fill value per channel on an
    image with other channels): the file is not written; other files of the batch may fit."""

    code = "settings_mismatch"


class VerificationError(DeidError):
    """Verification after de-identification found identifying content left in the output."""

    code = "verification_failed"
