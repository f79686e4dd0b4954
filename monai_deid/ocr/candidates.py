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

from dataclasses import dataclass

import cv2
import numpy as np

from monai_deid.ocr.boxes import Box, box_union, boxes_overlap

__all__ = ["CandidateArea", "noise_level", "stroke_mask", "text_candidates"]

# Strokes narrower than this many pixels respond fully (text up to roughly 6x this height).
_STROKE_KERNEL = 15
# Smallest line height that can still be read (8 px text has 5-6 px tall lower-case letters).
_MIN_LINE_HEIGHT = 5
# Strokes must stand out this many noise deviations from textured backgrounds (speckle, film grain) to count.
_NOISE_FACTOR = 4.0


@dataclass(frozen=True)
class CandidateArea:
    """An area of a frame to run the detector in.

    Args:
        box: ``(x0, y0, x1, y1)``, end-exclusive, in frame pixels, context margin included.
        line_height: height in pixels of the smallest stroke cluster (line) inside, used to pick an upscale.
    """

    box: Box
    line_height: int


def noise_level(grey: np.ndarray) -> float:
    """Robust estimate of the pixel noise's standard deviation (grey levels); 0 on clean synthetic images.

    Median absolute Laplacian over the frame: text and edges are too sparse to move the median, so it measures the
    texture or speckle that a stroke must stand out from to be legible at all.
    """
    lap = cv2.Laplacian(grey, cv2.CV_16S, ksize=1)
    # For white noise of deviation s, the 4-neighbour Laplacian has deviation sqrt(20) s; MAD -> s via 1.4826.
    return float(np.median(np.abs(lap))) * 1.4826 / np.sqrt(20.0)


def stroke_mask(grey: np.ndarray, min_contrast: int) -> np.ndarray:
    """Pixels that belong to a thin bright or dark stroke of at least ``min_contrast`` grey levels."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_STROKE_KERNEL, _STROKE_KERNEL))
    bright = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, kernel)
    dark = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)
    return (np.maximum(bright, dark) >= min_contrast).astype(np.uint8)


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
    mask = stroke_mask(grey, max(min_contrast, int(_NOISE_FACTOR * noise_level(grey))))
    # Join the characters of a line (gaps up to ~1 character) and the strokes of one character.
    joined = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 3)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    lines: list[tuple[Box, int]] = []
    for k in range(1, count):
        x, y, bw, bh, _ = (int(v) for v in stats[k])
        # The 3-pixel vertical dilation added 2 rows; a line shorter than the smallest text is noise.
        if bh - 2 < _MIN_LINE_HEIGHT:
            continue
        if within is not None and not within[y : y + bh, x : x + bw][labels[y : y + bh, x : x + bw] == k].any():
            continue
        margin = max(8, bh // 2)
        box = (max(0, x - margin), max(0, y - margin), min(w, x + bw + margin), min(h, y + bh + margin))
        lines.append((box, bh))
    areas = _merge(lines)
    covered = sum((a.box[2] - a.box[0]) * (a.box[3] - a.box[1]) for a in areas)
    if areas and covered > whole_frame_fraction * h * w:
        return [CandidateArea((0, 0, w, h), min(a.line_height for a in areas))]
    return areas


def _merge(lines: list[tuple[Box, int]]) -> list[CandidateArea]:
    areas = [CandidateArea(box, height) for box, height in lines]
    merged = True
    while merged:
        merged = False
        out: list[CandidateArea] = []
        for area in areas:
            for i, other in enumerate(out):
                if boxes_overlap(area.box, other.box):
                    out[i] = CandidateArea(box_union(area.box, other.box), min(area.line_height, other.line_height))
                    merged = True
                    break
            else:
                out.append(area)
        areas = out
    return areas
