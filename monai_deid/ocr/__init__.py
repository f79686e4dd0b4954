"""OCR stage: find text burned into the pixels of every frame (EasyOCR, batched, deduplicated across frames)."""

from monai_deid.ocr.engine import EngineSettings, get_reader
from monai_deid.ocr.transform import (
    DetectBurnedInText,
    DetectBurnedInTextd,
    ocr_view_frames,
    read_text_in_areas,
    read_text_in_bands,
    read_text_in_frame_areas,
)
from monai_deid.ocr.view import build_ocr_view

__all__ = [
    "DetectBurnedInText",
    "DetectBurnedInTextd",
    "EngineSettings",
    "build_ocr_view",
    "get_reader",
    "ocr_view_frames",
    "read_text_in_areas",
    "read_text_in_bands",
    "read_text_in_frame_areas",
]
