"""Cheap text-presence test: the areas of a frame where text can be, found without running the detector.

Burned-in text is made of thin strokes (a few pixels wide) that stand out from their surroundings. A morphological
top-hat (bright strokes) and black-hat (dark strokes) with a kernel wider than any stroke responds to every such
stroke whatever the absolute brightness or the background, and stays silent on smooth anatomy, flat backgrounds and
step edges of large structures. Responding pixels are joined along the text direction into line candidates; the
detector then runs only inside those candidates, padded with context.

The test is built to never lose text: everything stroke-like at or above ``min_contrast`` grey levels becomes a
candidate (textures and speckle cost detector time, they do not hide text). Frames with no candidate at all hold no
text the detector could find, and skip it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from monai_deid.ocr.boxes import Box, box_union, boxes_overlap

__all__ = ["COARSE_SCALE", "CandidateArea", "noise_level", "stroke_masks", "text_candidates", "upscale_for"]

# Strokes narrower than this many pixels respond fully (text up to roughly 6x this height).
_STROKE_KERNEL = 15
# Smallest line height that can still be read (8 px text has 5-6 px tall lower-case letters).
_MIN_LINE_HEIGHT = 5
# Strokes must stand out this many noise deviations from textured backgrounds (speckle, film grain) to count.
_NOISE_FACTOR = 4.0
# Lines shorter than this (pixels, as measured on the stroke mask) are upscaled before detection.
_READABLE_LINE_HEIGHT = 12
_MAX_UPSCALE = 3
# A joined component at most this many character heights tall is treated as text lines and sized by its characters.
_MAX_LINES = 4
#: Resize factor for stroke areas that are not text lines.
COARSE_SCALE = 0.5
# Fewest characters in a component for it to count as a text line.
_MIN_LINE_CHARS = 2
# Stroke contrast of typical burned-in overlay text (near white or black on the view): searched for separately.
_OVERLAY_CONTRAST = 96


@dataclass(frozen=True)
class CandidateArea:
    """An area of a frame to run the detector in.

    Args:
        box: ``(x0, y0, x1, y1)``, end-exclusive, in frame pixels, context margin included.
        scale: resize factor the detector reads the area at: above 1 for small text lines, 1 for text of ordinary
            size, ``COARSE_SCALE`` for large stroke areas that are not text lines (speckle, anatomy).
    """

    box: Box
    scale: float


def upscale_for(line_height: int) -> int:
    """Integer upscale that brings a line of ``line_height`` pixels to a height CRAFT detects reliably."""
    return int(min(_MAX_UPSCALE, max(1, math.ceil(_READABLE_LINE_HEIGHT / max(line_height, 1)))))


def noise_level(grey: np.ndarray) -> float:
    """Robust estimate of the pixel noise's standard deviation (grey levels); 0 on clean synthetic images.

    Median absolute Laplacian over the frame: text and edges are too sparse to move the median, so it measures the
    texture or speckle that a stroke must stand out from to be legible at all.
    """
    lap = cv2.Laplacian(grey, cv2.CV_16S, ksize=1)
    # For white noise of deviation s, the 4-neighbour Laplacian has deviation sqrt(20) s; MAD -> s via 1.4826.
    return float(np.median(np.abs(lap))) * 1.4826 / np.sqrt(20.0)


def stroke_masks(grey: np.ndarray, min_contrast: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of thin bright strokes and of thin dark strokes of at least ``min_contrast`` grey levels.

    The two are kept apart: in dense bright text the gaps between letters are thin dark "strokes" too, and one
    combined mask would fuse a text block into a solid blob whose size says nothing about the text size.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_STROKE_KERNEL, _STROKE_KERNEL))
    bright = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, kernel) >= min_contrast
    dark = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel) >= min_contrast
    return bright.astype(np.uint8), dark.astype(np.uint8)


def text_candidates(
    grey: np.ndarray,
    min_contrast: int = 16,
    within: np.ndarray | None = None,
    whole_frame_fraction: float = 0.5,
) -> list[CandidateArea]:
    """The areas of ``grey`` where text can be.

    Args:
        grey: one uint8 frame.
        min_contrast: smallest stroke contrast in grey levels that counts as possible text.
        within: optional mask; only line candidates touching a non-zero pixel of it are kept (used for the pixels
            of a frame that differ from a frame already read).
        whole_frame_fraction: when the candidates cover more than this share of the frame, return the whole frame
            as one area (one detector pass is cheaper than many overlapping ones).

    Returns:
        disjoint areas, each padded by about one line height of context; empty when the frame holds no stroke.
    """
    h, w = grey.shape
    threshold = max(min_contrast, int(_NOISE_FACTOR * noise_level(grey)))
    contrasts = [threshold]
    if threshold < _OVERLAY_CONTRAST:
        # Small high-contrast text (the usual burned-in overlay) that touches low-contrast speckle or anatomy is
        # joined into one large component at the low threshold and read without upscale; find its lines on their own.
        contrasts.append(_OVERLAY_CONTRAST)
    lines = [area for c in contrasts for mask in stroke_masks(grey, c) for area in _line_areas(mask, within)]
    areas: list[CandidateArea] = []
    # Areas of different upscales are kept apart so that small text inside a large stroke area (speckle, anatomy)
    # does not make the detector upscale the whole large area.
    for scale in sorted({a.scale for a in lines}):
        merged = _merge([a for a in lines if a.scale == scale])
        covered = sum((a.box[2] - a.box[0]) * (a.box[3] - a.box[1]) for a in merged)
        areas += [CandidateArea((0, 0, w, h), scale)] if covered > whole_frame_fraction * h * w else merged
    # An area inside another area read at the same or a larger upscale is read there already.
    return [
        a
        for i, a in enumerate(areas)
        if not any(j != i and b.scale >= a.scale and _contains(b.box, a.box) for j, b in enumerate(areas))
    ]


def _contains(outer: Box, inner: Box) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def _line_areas(mask: np.ndarray, within: np.ndarray | None) -> list[CandidateArea]:
    """Padded areas of the text-line-like components of a stroke mask, each with the upscale its text needs."""
    h, w = mask.shape
    # Join the characters of a line (gaps up to ~1 character) but not stacked lines.
    joined = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    char_stats = _character_stats(mask, labels)
    lines: list[CandidateArea] = []
    for k in range(1, count):
        x, y, bw, bh, _ = (int(v) for v in stats[k])
        # A line shorter than the smallest legible text is noise.
        if bh < _MIN_LINE_HEIGHT:
            continue
        if within is not None and not within[y : y + bh, x : x + bw][labels[y : y + bh, x : x + bw] == k].any():
            continue
        margin = max(8, bh // 2)
        box = (max(0, x - margin), max(0, y - margin), min(w, x + bw + margin), min(h, y + bh + margin))
        lines.append(CandidateArea(box, _scale(bw, bh, *char_stats.get(k, (bh, 1)))))
    return lines


def _scale(width: int, height: int, char_height: int, chars: int) -> float:
    """Resize factor for reading a joined stroke component of the given size and character statistics.

    Line-like components (two or more characters of one legible size side by side, at most a few lines tall) are
    upscaled as their characters need. Everything else (speckle, anatomy, lone marks) is still read, at half size:
    text large enough to be fused with such strokes stays legible to the detector there, and small high-contrast text
    on them is separated by the high-contrast pass and read as lines.
    """
    line_like = (
        chars >= _MIN_LINE_CHARS
        and char_height >= _MIN_LINE_HEIGHT
        and height <= _MAX_LINES * char_height
        and width >= 2 * char_height
    )
    return upscale_for(char_height) if line_like else COARSE_SCALE


def _character_stats(mask: np.ndarray, joined_labels: np.ndarray) -> dict[int, tuple[int, int]]:
    """Median height and count of the stroke clusters (characters) inside each joined line component.

    Stacked lines with little leading join into one tall component; the characters inside keep the real text size.
    """
    n, char_labels, char_stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return {}
    _, first = np.unique(char_labels.reshape(-1), return_index=True)
    owner = joined_labels.reshape(-1)[first[1:]]
    heights = char_stats[1:, cv2.CC_STAT_HEIGHT]
    out: dict[int, tuple[int, int]] = {}
    for k in np.unique(owner):
        mine = heights[owner == k]
        out[int(k)] = (int(np.median(mine)), int(mine.size))
    return out


def _merge(areas: list[CandidateArea]) -> list[CandidateArea]:
    merged = True
    while merged:
        merged = False
        out: list[CandidateArea] = []
        for area in areas:
            for i, other in enumerate(out):
                if boxes_overlap(area.box, other.box):
                    out[i] = CandidateArea(box_union(area.box, other.box), area.scale)
                    merged = True
                    break
            else:
                out.append(area)
        areas = out
    return areas
