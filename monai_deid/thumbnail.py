"""Small 8-bit RGB previews of stored DICOM pixels, for the review report and the notebook.

A preview is for a person checking redaction, not for diagnosis: one frame, a percentile window for monochrome,
the palette applied through the header's lookup tables, YBR converted to RGB, then scaled to fit a box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, convert_color_space

__all__ = ["draw_boxes", "frame_to_rgb", "render_preview"]

#: Percentiles of the monochrome window: robust to a few saturated pixels (burned-in text is often the maximum).
_WINDOW_PERCENTILES = (0.5, 99.5)


def _to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    scale = 255.0 / (high - low) if high > low else 0.0
    return np.clip((values.astype(np.float64) - low) * scale, 0, 255).astype(np.uint8)


def _monochrome(frame: np.ndarray, photometric: str) -> np.ndarray:
    low, high = np.percentile(frame, _WINDOW_PERCENTILES)
    grey = _to_uint8(frame, float(low), float(high))
    if photometric == "MONOCHROME1":  # MONOCHROME1 shows low values bright
        grey = 255 - grey
    return np.repeat(grey[..., None], 3, axis=2)


def _palette(frame: np.ndarray, header: Dataset | None) -> np.ndarray:
    if header is None or "RedPaletteColorLookupTableDescriptor" not in header:
        # without the lookup tables the indices are all there is: show them as grey
        return _monochrome(frame, "MONOCHROME2")
    rgb = apply_color_lut(frame, header)[..., :3]
    # 16-bit palette entries carry their 8 significant bits at the top
    return (rgb >> 8).astype(np.uint8) if rgb.dtype.itemsize > 1 and rgb.max() > 255 else rgb.astype(np.uint8)


def _colour(frame: np.ndarray, photometric: str, bits_stored: int) -> np.ndarray:
    rgb = frame if frame.dtype == np.uint8 else _to_uint8(frame, 0, (1 << bits_stored) - 1)
    if photometric.startswith("YBR"):
        # every YBR variant reaches us full resolution; YBR_FULL's conversion is close enough for a preview
        rgb = convert_color_space(np.ascontiguousarray(rgb), "YBR_FULL", "RGB")
    return rgb


def frame_to_rgb(
    image: torch.Tensor | np.ndarray, frame: int, photometric: str, header: Dataset | None = None, bits_stored: int = 8
) -> np.ndarray:
    """One frame of a ``(C, F, H, W)`` stored-value image as ``(H, W, 3)`` uint8 RGB.

    Args:
        image: stored values, channel-first, all frames.
        frame: index of the frame to render.
        photometric: the colour space of the values (the loader's ``photometric_interpretation``).
        header: the DICOM header, for palette lookup tables; ``None`` shows palette indices as grey.
        bits_stored: significant bits of colour samples wider than 8 bits.
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    pixels = np.asarray(image)[:, frame]
    if pixels.shape[0] == 1:
        plane = pixels[0]
        if photometric == "PALETTE COLOR":
            return _palette(plane, header)
        return _monochrome(plane, photometric)
    return _colour(np.moveaxis(pixels, 0, -1), photometric, bits_stored)


def draw_boxes(
    picture: Image.Image, boxes: Sequence[tuple[Sequence[int], str]], scale: float, width: int = 2
) -> Image.Image:
    """Outline ``(box, colour)`` pairs (``box`` end-exclusive in stored pixels) on a preview scaled by ``scale``."""
    draw = ImageDraw.Draw(picture)
    for box, colour in boxes:
        x0, y0, x1, y1 = (round(v * scale) for v in box)
        draw.rectangle((x0 - width, y0 - width, x1 + width - 1, y1 + width - 1), outline=colour, width=width)
    return picture


def render_preview(
    image: torch.Tensor | np.ndarray,
    photometric: str,
    frame: int | None = None,
    header: Dataset | None = None,
    bits_stored: int = 8,
    max_size: int = 360,
    boxes: Sequence[tuple[Sequence[int], str]] = (),
) -> Image.Image:
    """An RGB preview of one frame, fitted into ``max_size`` pixels, with ``boxes`` outlined.

    Args:
        image: ``(C, F, H, W)`` stored values.
        photometric: the colour space of the values.
        frame: the frame to show; default the middle one.
        header: the DICOM header, for palette lookup tables.
        bits_stored: significant bits of colour samples wider than 8 bits.
        max_size: the longer side of the preview, in pixels.
        boxes: ``(box, colour)`` pairs to outline, boxes in stored-pixel coordinates.
    """
    frames = int(image.shape[1])
    frame = frames // 2 if frame is None else frame
    picture = Image.fromarray(frame_to_rgb(image, frame, photometric, header, bits_stored))
    scale = min(1.0, max_size / max(picture.size))
    if scale < 1.0:
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))))
    return draw_boxes(picture, boxes, scale)
