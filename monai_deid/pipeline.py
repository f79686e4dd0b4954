"""Builds the de-identification pipeline as a MONAI ``Compose`` from plain keyword arguments."""

from __future__ import annotations

from pathlib import Path

from monai.transforms import Compose

from monai_deid.io import LoadDicomWithMetad, SaveDicomd

__all__ = ["build_pipeline"]


def build_pipeline(output_dir: str | Path, key: str = "image") -> Compose:
    """The file-to-file pipeline: load, de-identify, save under ``output_dir``.

    Args:
        output_dir: folder the de-identified files are written under.
        key: the data dictionary key of the image.
    """
    return Compose([LoadDicomWithMetad(key), SaveDicomd(key, output_dir=output_dir)])
