"""The 8-bit grey view OCR reads: one image per frame, built from any stored DICOM pixel format.

The stored pixels are never changed; the view is a throw-away rendering in which burned-in text has the contrast a
human reader would see on a viewer: MONOCHROME1 inverted, deep or signed data windowed, palette indices mapped through
the header's lookup table, colour reduced to luminance. Colour images get a second view, their colourfulness (HSV
chroma: the largest minus the smallest of R, G and B): text whose colour is as bright as its background (green on mid
grey) has no luminance contrast, but a viewer shows it plainly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut

__all__ = ["OcrView", "build_ocr_view"]

# Robust window for deep data without a header window: a little clipping at both ends keeps text that sits at an
# extreme value (the usual way scanners burn it in) at full contrast against the rest of the frame.
_LOW_PERCENTILE = 0.5
_HIGH_PERCENTILE = 99.5


@dataclass(frozen=True)
class OcrView:
    """Per-frame 8-bit grey images for OCR.

    Args:
        frames: ``(F, H, W)`` uint8 array, C-contiguous, in stored-image pixel coordinates.
        colour: ``(F, H, W)`` uint8 chroma of a colour image (0 where a pixel is grey), or ``None`` for a grey one.
    """

    frames: np.ndarray
    colour: np.ndarray | None = None


def build_ocr_view(
    pixels: np.ndarray,
    photometric: str,
    header: pydicom.Dataset | None = None,
    bits_stored: int | None = None,
) -> OcrView:
    """Render stored pixels ``(C, F, H, W)`` into 8-bit grey frames for OCR.

    Args:
        pixels: the stored values, channel-first, all frames, native dtype (palette images hold indices).
        photometric: the colour space of ``pixels`` (the loader's ``meta["photometric_interpretation"]``).
        header: the DICOM header (palette lookup tables, window centre/width); may be ``None`` for plain images.
        bits_stored: significant bits of each stored value; taken from ``header`` or the dtype when ``None``.

    Returns:
        the grey view, one uint8 image per frame, and the chroma view of a colour image.
    """
    if pixels.ndim != 4:
        raise ValueError(f"expected (C, F, H, W) pixels, got {pixels.ndim} dimensions")
    photometric = photometric.upper()
    colour = None
    if photometric == "PALETTE COLOR":
        grey, colour = _palette_views(pixels[0], header)
    elif pixels.shape[0] >= 3:
        grey, colour = _colour_to_grey(pixels[:3], photometric), _chroma(pixels[:3], photometric, bits_stored)
    else:
        grey = _window_to_grey(pixels[0], header, bits_stored)
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return OcrView(np.ascontiguousarray(grey), None if colour is None else np.ascontiguousarray(colour))


def _palette_views(indices: np.ndarray, header: pydicom.Dataset | None) -> tuple[np.ndarray, np.ndarray]:
    """Grey and chroma views of palette indices, through the header's lookup tables."""
    if header is None:
        raise ValueError("PALETTE COLOR pixels need the header with their lookup tables")
    if indices.dtype.kind == "u" and indices.dtype.itemsize <= 2:
        # The views of every possible index, once, then one table lookup per pixel (not an RGB image of the frame).
        ramp = np.arange(1 << (8 * indices.dtype.itemsize), dtype=indices.dtype)
        rgb = apply_color_lut(ramp, header)[..., :3].astype(np.float32)
        used = np.bincount(indices.reshape(-1), minlength=ramp.size) > 0
        grey, colour = _rgb_views(rgb, float(rgb[used].max(initial=0)))
        return grey[indices], colour[indices]
    rgb = apply_color_lut(indices, header)[..., :3].astype(np.float32)
    return _rgb_views(rgb, float(rgb.max(initial=0)))


def _rgb_views(rgb: np.ndarray, brightest: float) -> tuple[np.ndarray, np.ndarray]:
    """Luminance and chroma of palette RGB values ``(..., 3)``, scaled to 8 bits from 8- or 16-bit lookup table
    entries."""
    grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    scale = 255.0 / (255.0 if brightest <= 255 else 65535.0)
    chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
    return _to_uint8(grey * scale), _to_uint8(chroma * scale)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


def _chroma(channels: np.ndarray, photometric: str, bits_stored: int | None) -> np.ndarray:
    """HSV chroma ``max(R, G, B) - min(R, G, B)`` of ``(3, F, H, W)`` colour pixels, scaled to 8 bits."""
    if photometric.startswith("YBR"):
        if channels.dtype == np.uint8:
            # OpenCV's full-range YCrCb is DICOM's YBR_FULL with the chroma channels swapped.
            frames = channels.swapaxes(0, 1)
            rgb = np.stack([cv2.cvtColor(np.dstack(f[[0, 2, 1]]), cv2.COLOR_YCrCb2RGB) for f in frames])
            return rgb.max(axis=-1) - rgb.min(axis=-1)
        # R, G and B less the luma, from the chroma channels' distances to their middle value.
        mid = float(1 << ((bits_stored or 8 * channels.dtype.itemsize) - 1))
        cb, cr = channels[1].astype(np.float32) - mid, channels[2].astype(np.float32) - mid
        channels = np.stack([1.402 * cr, -0.344136 * cb - 0.714136 * cr, 1.772 * cb])
    elif channels.dtype == np.uint8:
        return channels.max(axis=0) - channels.min(axis=0)
    chroma = channels.max(axis=0).astype(np.float32) - channels.min(axis=0)
    return _stretch(chroma, 0.0, float(chroma.max(initial=1)))


def _colour_to_grey(channels: np.ndarray, photometric: str) -> np.ndarray:
    if photometric.startswith("YBR"):
        # The luma channel is exactly what a viewer shows as brightness.
        if channels.dtype == np.uint8:
            return channels[0].copy()
        luma = channels[0].astype(np.float32)
    else:
        luma = _rgb_luma(channels)
    if channels.dtype.itemsize > 1:
        return _stretch(luma, float(luma.min(initial=0)), float(luma.max(initial=1)))
    return _stretch(luma, 0.0, 255.0)


def _rgb_luma(channels: np.ndarray) -> np.ndarray:
    """The luma (ITU-R BT.601 weights) of ``(3, F, H, W)`` RGB values as float32, computed a frame at a time (3x
    faster than over the whole array on a 30-frame cine: each frame's temporaries stay in the cache)."""
    luma = np.empty(channels.shape[1:], np.float32)
    for frame, out in enumerate(luma):
        red, green, blue = (channels[c, frame].astype(np.float32) for c in range(3))
        np.multiply(red, np.float32(0.299), out=out)
        out += green * np.float32(0.587)
        out += blue * np.float32(0.114)
    return luma


def _window_to_grey(mono: np.ndarray, header: pydicom.Dataset | None, bits_stored: int | None) -> np.ndarray:
    if mono.dtype == np.uint8 and (bits_stored is None or bits_stored == 8):
        return mono
    window = _header_window(header)
    if window is None:
        # Percentiles over all frames so that identical overlay pixels render identically on every frame.
        low, high = np.percentile(mono, [_LOW_PERCENTILE, _HIGH_PERCENTILE])
    else:
        centre, width = window
        low, high = centre - width / 2.0, centre + width / 2.0
    return _stretch(mono.astype(np.float32), float(low), float(high))


def _header_window(header: pydicom.Dataset | None) -> tuple[float, float] | None:
    if header is None or "WindowCenter" not in header or "WindowWidth" not in header:
        return None
    centre, width = header.WindowCenter, header.WindowWidth
    centre = float(centre[0] if isinstance(centre, pydicom.multival.MultiValue) else centre)
    width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    if width <= 1:
        return None
    # Window values are in rescaled units; the stored values are not rescaled.
    slope = float(header.get("RescaleSlope", 1) or 1)
    intercept = float(header.get("RescaleIntercept", 0) or 0)
    return (centre - intercept) / slope, width / abs(slope)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` (float32, overwritten) mapped from ``[low, high]`` onto ``[0, 255]`` and rounded to uint8, a frame
    at a time."""
    if high <= low:
        high = low + 1.0
    scale = 255.0 / (high - low)
    grey = np.empty(values.shape, np.uint8)
    for frame, out in zip(values.reshape(-1, *values.shape[-2:]), grey.reshape(-1, *values.shape[-2:]), strict=True):
        frame -= low
        frame *= scale
        frame += 0.5
        np.clip(frame, 0, 255, out=frame)
        out[...] = frame
    return grey
