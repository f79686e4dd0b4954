"""The 8-bit grey view OCR reads: one image per frame, built from any stored DICOM pixel format.

The stored pixels are never changed; the view is a throw-away rendering in which burned-in text has the contrast a
human reader would see on a viewer: MONOCHROME1 inverted, deep or signed data windowed, palette indices mapped through
the header's lookup table, colour reduced to luminance. Colour images get a second view, their colourfulness (HSV
chroma: the largest minus the smallest of R, G and B): text whose colour is as bright as its background (green on mid
grey) has no luminance contrast, but a viewer shows it plainly. Windowed frames whose flat padding, outside the window,
holds glyph-sized marks in other values outside the window get a third view of those rows, stretched over the values
the window hides: text that the window renders as black on black, and a viewer shows as soon as the window changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut

from monai_deid.ocr.candidates import tallest_annotation

__all__ = ["OcrView", "build_ocr_view"]

# Robust window for deep data without a header window: a little clipping at both ends keeps text that sits at an
# extreme value (the usual way scanners burn it in) at full contrast against the rest of the frame.
_LOW_PERCENTILE = 0.5
_HIGH_PERCENTILE = 99.5
# Padding: a value outside the window on at least this share of a frame (the outside of a CT's field of view).
_MIN_PADDING_SHARE = 0.01
# A glyph on the padding: at least this many pixels (smaller marks are noise) and this many rows.
_MIN_GLYPH_AREA = 20
_MIN_GLYPH_ROWS = 5
# The elements apply_color_lut reads: red, green, blue descriptors, data and segmented data.
_PALETTE_TAGS = (
    0x00281101,
    0x00281102,
    0x00281103,
    0x00281201,
    0x00281202,
    0x00281203,
    0x00281221,
    0x00281222,
    0x00281223,
)
_MAX_PALETTE_TABLES = 4
_PALETTE_TABLES: dict[tuple, np.ndarray] = {}
_PALETTE_LOCK = threading.Lock()
# ITU-R BT.601 luma weights, and their float32 products with every 8-bit value (:func:`_rgb_grey`'s lookup tables).
_LUMA_WEIGHTS = (np.float32(0.299), np.float32(0.587), np.float32(0.114))
_LUMA_TABLES = tuple(np.arange(256, dtype=np.float32) * weight for weight in _LUMA_WEIGHTS)


@dataclass(frozen=True)
class OcrView:
    """Per-frame 8-bit grey images for OCR.

    Args:
        frames: ``(F, H, W)`` uint8 array, C-contiguous, in stored-image pixel coordinates.
        colour: ``(F, H, W)`` uint8 chroma of a colour image (0 where a pixel is grey), or ``None`` for a grey one.
        hidden: ``(F, H, W)`` uint8 rows of windowed frames where glyphs lie on padding in values the window hides,
            stretched over those values (0 elsewhere), or ``None`` when no frame has any.
    """

    frames: np.ndarray
    colour: np.ndarray | None = None
    hidden: np.ndarray | None = None


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
    colour = hidden = None
    if photometric == "PALETTE COLOR":
        grey, colour = _palette_views(pixels[0], header)
    elif pixels.shape[0] >= 3:
        grey, colour = _colour_to_grey(pixels[:3], photometric), _chroma(pixels[:3], photometric, bits_stored)
    elif pixels[0].dtype == np.uint8 and (bits_stored is None or bits_stored == 8):
        grey = pixels[0]
    else:
        low, high = _window(pixels[0], header)
        grey = _stretch(pixels[0], low, high)
        hidden = _hidden_text(pixels[0], low, high)
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return OcrView(np.ascontiguousarray(grey), None if colour is None else np.ascontiguousarray(colour), hidden)


def _palette_views(indices: np.ndarray, header: pydicom.Dataset | None) -> tuple[np.ndarray, np.ndarray]:
    """Grey and chroma views of palette indices, through the header's lookup tables."""
    if header is None:
        raise ValueError("PALETTE COLOR pixels need the header with their lookup tables")
    if indices.dtype.kind == "u" and indices.dtype.itemsize <= 2:
        # The views of every possible index, once, then one table lookup per pixel (not an RGB image of the frame).
        rgb = _palette_table(header, indices.dtype)
        used = np.bincount(indices.reshape(-1), minlength=len(rgb)) > 0
        grey, colour = _rgb_views(rgb, float(rgb[used].max(initial=0)))
        return grey[indices], colour[indices]
    rgb = apply_color_lut(indices, header)[..., :3].astype(np.float32)
    return _rgb_views(rgb, float(rgb.max(initial=0)))


def _palette_table(header: pydicom.Dataset, dtype: np.dtype) -> np.ndarray:
    """The float32 RGB of every index of ``dtype`` through the header's palette, ``(2**bits, 3)``.

    Kept for the last few palettes, by their lookup table elements: a segmented 16-bit palette takes pydicom 30 ms
    to expand, and the verifier renders the frames it reads again one by one.
    """
    key = (np.dtype(dtype).str, *(_element_bytes(header, tag) for tag in _PALETTE_TAGS))
    with _PALETTE_LOCK:
        table = _PALETTE_TABLES.get(key)
    if table is None:
        ramp = np.arange(1 << (8 * np.dtype(dtype).itemsize), dtype=dtype)
        table = apply_color_lut(ramp, header)[..., :3].astype(np.float32)
        with _PALETTE_LOCK:
            _PALETTE_TABLES[key] = table
            while len(_PALETTE_TABLES) > _MAX_PALETTE_TABLES:
                del _PALETTE_TABLES[next(iter(_PALETTE_TABLES))]
    return table


def _element_bytes(header: pydicom.Dataset, tag: int) -> bytes:
    """The value of element ``tag`` of ``header`` as bytes (empty when absent)."""
    if tag not in header:
        return b""
    value = header[tag].value
    return value if isinstance(value, bytes) else repr(value).encode()


def _rgb_views(rgb: np.ndarray, brightest: float) -> tuple[np.ndarray, np.ndarray]:
    """Luminance and chroma of palette RGB values ``(..., 3)``, scaled to 8 bits from 8- or 16-bit lookup table
    entries."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    grey = red * 0.299 + green * 0.587 + blue * 0.114
    scale = 255.0 / (255.0 if brightest <= 255 else 65535.0)
    chroma = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    return _to_uint8(grey * scale), _to_uint8(chroma * scale)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


def _chroma(channels: np.ndarray, photometric: str, bits_stored: int | None) -> np.ndarray:
    """HSV chroma ``max(R, G, B) - min(R, G, B)`` of ``(3, F, H, W)`` colour pixels, scaled to 8 bits."""
    if photometric.startswith("YBR"):
        if channels.dtype == np.uint8:
            return _ybr_chroma(channels)
        # R, G and B less the luma, from the chroma channels' distances to their middle value.
        mid = float(1 << ((bits_stored or 8 * channels.dtype.itemsize) - 1))
        cb, cr = channels[1].astype(np.float32) - mid, channels[2].astype(np.float32) - mid
        channels = np.stack([1.402 * cr, -0.344136 * cb - 0.714136 * cr, 1.772 * cb])
    elif channels.dtype == np.uint8:
        return channels.max(axis=0) - channels.min(axis=0)
    chroma = channels.max(axis=0).astype(np.float32) - channels.min(axis=0)
    return _stretch(chroma, 0.0, float(chroma.max(initial=1)))


def _ybr_chroma(channels: np.ndarray) -> np.ndarray:
    """The chroma of ``(3, F, H, W)`` 8-bit YBR_FULL pixels, a frame at a time through OpenCV (whose full-range YCrCb
    is DICOM's YBR_FULL with the chroma channels swapped). The largest and smallest of R, G and B are taken plane by
    plane: numpy's reductions over a last axis of 3 took 15 ms of a 480 x 640 frame's 15.6 (now 0.7 ms)."""
    out = np.empty(channels.shape[1:], np.uint8)
    for frame, chroma in zip(channels.swapaxes(0, 1), out, strict=True):
        red, green, blue = cv2.split(cv2.cvtColor(cv2.merge([frame[0], frame[2], frame[1]]), cv2.COLOR_YCrCb2RGB))
        cv2.subtract(cv2.max(cv2.max(red, green), blue), cv2.min(cv2.min(red, green), blue), dst=chroma)
    return out


def _colour_to_grey(channels: np.ndarray, photometric: str) -> np.ndarray:
    if photometric.startswith("YBR"):
        # The luma channel is exactly what a viewer shows as brightness.
        if channels.dtype == np.uint8:
            return channels[0].copy()
        luma = channels[0]
    elif channels.dtype == np.uint8:
        return _rgb_grey(channels)
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
        np.multiply(red, _LUMA_WEIGHTS[0], out=out)
        out += green * _LUMA_WEIGHTS[1]
        out += blue * _LUMA_WEIGHTS[2]
    return luma


def _rgb_grey(channels: np.ndarray) -> np.ndarray:
    """The grey view of ``(3, F, H, W)`` 8-bit RGB values: :func:`_rgb_luma` rounded to uint8, the same values
    (checked over all 2**24 colours), a frame at a time through lookup tables of each channel's float32 products.

    On a 30-frame 480 x 640 cine: 16 ms against 34 for the float32 luma of the whole cine, which took 28 to 136 ms in
    the pipeline (a fresh 37 MB array for every cine).
    """
    grey = np.empty(channels.shape[1:], np.uint8)
    luma, part = np.empty(channels.shape[2:], np.float32), np.empty(channels.shape[2:], np.float32)
    for frame, out in enumerate(grey):
        cv2.LUT(channels[0, frame], _LUMA_TABLES[0], dst=luma)
        cv2.add(luma, cv2.LUT(channels[1, frame], _LUMA_TABLES[1], dst=part), dst=luma)
        cv2.add(luma, cv2.LUT(channels[2, frame], _LUMA_TABLES[2], dst=part), dst=luma)
        _round_into(luma, 0.0, 1.0, out)
    return grey


def _window(mono: np.ndarray, header: pydicom.Dataset | None) -> tuple[float, float]:
    """The lowest and highest stored values the grey view shows: the header's window, else robust percentiles."""
    window = _header_window(header)
    if window is None:
        # Percentiles over all frames so that identical overlay pixels render identically on every frame.
        low, high = np.percentile(mono, [_LOW_PERCENTILE, _HIGH_PERCENTILE])
        return float(low), float(high)
    centre, width = window
    return centre - width / 2.0, centre + width / 2.0


def _hidden_text(mono: np.ndarray, low: float, high: float) -> np.ndarray | None:
    """The view of the text that the window ``[low, high]`` hides on the padding of ``(F, H, W)`` stored frames.

    Padding is the frame's lowest (highest) value, below (above) the window, on at least 1% of the frame. Marks of
    glyph size that do not touch the image, in other values beyond the window, are text the grey view renders like
    the padding. Their rows, grown by half their height, are stretched over the hidden values, from the padding to
    the window's edge, so that the rest of their line, on the air beside the padding, reads too.
    """
    hidden = None
    for index, frame in enumerate(mono):
        for padding, edge, below in ((frame.min(), low, True), (frame.max(), high, False)):
            if not ((padding < edge) if below else (padding > edge)):
                continue
            rows = _glyph_rows(frame, padding, edge)
            if rows.any():
                hidden = np.zeros(mono.shape, np.uint8) if hidden is None else hidden
                hidden[index, rows] = _stretch(frame[rows].astype(np.float32), *sorted((float(padding), edge)))
    return hidden


def _glyph_rows(frame: np.ndarray, padding: float, edge: float) -> np.ndarray:
    """The rows of ``frame`` around the glyph-sized marks on its ``padding`` in values beyond the window's ``edge``
    (on the padding's side of it)."""
    rows = np.zeros(frame.shape[0], bool)
    pad = frame == padding
    if pad.sum() < _MIN_PADDING_SHARE * pad.size:
        return rows
    _, labels, stats, _ = cv2.connectedComponentsWithStats((~pad).view(np.uint8), connectivity=8)
    left, top, width, height, area = stats.T
    glyph = (area >= _MIN_GLYPH_AREA) & (height >= _MIN_GLYPH_ROWS) & (height <= tallest_annotation(frame.shape[0]))
    glyph &= width < frame.shape[1] // 2
    glyph[0] = False  # the padding itself
    for label in np.flatnonzero(glyph):
        box = (slice(top[label], top[label] + height[label]), slice(left[label], left[label] + width[label]))
        values = frame[box][labels[box] == label]
        if ((values < edge) if padding < edge else (values > edge)).mean() > 0.5:
            grow = height[label] // 2
            rows[max(0, top[label] - grow) : top[label] + height[label] + grow] = True
    return rows


def _header_window(header: pydicom.Dataset | None) -> tuple[float, float] | None:
    """The header's first window as ``(centre, width)`` in stored values: Window Center and Width, else the input
    range of the first VOI LUT (a viewer shows the values below and above that range as its first and last entries);
    ``None`` without either."""
    if header is None:
        return None
    if "WindowCenter" in header and "WindowWidth" in header:
        centre, width = header.WindowCenter, header.WindowWidth
        centre = float(centre[0] if isinstance(centre, pydicom.multival.MultiValue) else centre)
        width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    else:
        lut_range = _voi_lut_range(header)
        if lut_range is None:
            return None
        centre, width = (lut_range[0] + lut_range[1]) / 2.0, float(lut_range[1] - lut_range[0])
    if width <= 1:
        return None
    # Window values are in rescaled units; the stored values are not rescaled.
    slope = float(header.get("RescaleSlope", 1) or 1)
    intercept = float(header.get("RescaleIntercept", 0) or 0)
    return (centre - intercept) / slope, width / abs(slope)


def _voi_lut_range(header: pydicom.Dataset) -> tuple[int, int] | None:
    """The lowest and highest input values of the header's first VOI LUT (its LUT Descriptor), if it has one."""
    items = header.get("VOILUTSequence") or []
    descriptor = items[0].get("LUTDescriptor") if len(items) else None
    if descriptor is None or len(descriptor) != 3:
        return None
    entries, first = int(descriptor[0]) or 1 << 16, int(descriptor[1])
    if int(header.get("PixelRepresentation", 0)) == 1 and first >= 1 << 15:
        first -= 1 << 16  # the first input value is signed for signed pixels
    return first, first + entries - 1


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` mapped from ``[low, high]`` onto ``[0, 255]`` and rounded to uint8, a frame at a time through one
    float32 buffer (not a float32 copy of every frame at once: on a long cine, its memory and fresh pages)."""
    if high <= low:
        high = low + 1.0
    grey = np.empty(values.shape, np.uint8)
    buffer = np.empty(values.shape[-2:], np.float32)
    for frame, out in zip(values.reshape(-1, *values.shape[-2:]), grey.reshape(-1, *values.shape[-2:]), strict=True):
        buffer[...] = frame
        _round_into(buffer, low, 255.0 / (high - low), out)
    return grey


def _round_into(values: np.ndarray, low: float, scale: float, out: np.ndarray) -> None:
    """``(values - low) * scale`` rounded and clipped into the uint8 ``out`` (``values``, float32, is overwritten)."""
    values -= low
    values *= scale
    values += 0.5
    np.clip(values, 0, 255, out=values)
    out[...] = values
