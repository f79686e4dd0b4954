"""Text boxes from CRAFT's score maps, and the small box arithmetic the OCR stage needs.

``craft_boxes`` gives the same boxes as ``easyocr.craft_utils.getDetBoxes_core`` but dilates and measures each text
blob inside its own bounding region instead of over a full-size map per blob, which is what made EasyOCR's
post-processing cost grow with the number of blobs times the image size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["Box", "box_union", "boxes_overlap", "craft_boxes", "grown", "iou", "transposed", "union_cover"]

#: ``(x0, y0, x1, y1)``, end-exclusive, integer pixels.
Box = tuple[int, int, int, int]


def craft_boxes(
    text_map: np.ndarray,
    link_map: np.ndarray,
    text_threshold: float = 0.7,
    link_threshold: float = 0.4,
    low_text: float = 0.4,
) -> list[np.ndarray]:
    """Quadrilaterals (4x2 float, clockwise from top-left) of the text blobs in one pair of score maps.

    Args:
        text_map: CRAFT region score, ``(h, w)`` float32, at half the input resolution.
        link_map: CRAFT affinity score, same shape.
        text_threshold: a blob is kept when its peak region score reaches this.
        link_threshold: affinity score that links characters into words.
        low_text: region score that belongs to a blob.

    Returns:
        the boxes in score-map coordinates (multiply by 2 for the detector's input coordinates).
    """
    text_score = text_map >= low_text
    link_score = link_map >= link_threshold
    combined = (text_score | link_score).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(combined, connectivity=4)
    img_h, img_w = text_map.shape
    link_only = link_score & ~text_score
    boxes = []
    for k in range(1, count):
        x, y, w, h, size = (int(v) for v in stats[k])
        if size < 10:
            continue
        # Everything about blob k lies inside its bounding box grown by the dilation reach, so work there only.
        niter = int(math.sqrt(size * min(w, h) / (w * h)) * 2)
        sx, sy = max(x - niter, 0), max(y - niter, 0)
        ex, ey = min(x + w + niter + 1, img_w), min(y + h + niter + 1, img_h)
        blob = labels[sy:ey, sx:ex] == k
        if text_map[sy:ey, sx:ex][blob].max() < text_threshold:
            continue
        segmap = np.zeros(blob.shape, dtype=np.uint8)
        segmap[blob & ~link_only[sy:ey, sx:ex]] = 255
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (1 + niter, 1 + niter))
        segmap = cv2.dilate(segmap, kernel)
        ys, xs = np.nonzero(segmap)
        if xs.size == 0:
            continue
        points = np.stack([xs + sx, ys + sy], axis=1)
        boxes.append(_min_area_box(points))
    return boxes


def _min_area_box(points: np.ndarray) -> np.ndarray:
    box = cv2.boxPoints(cv2.minAreaRect(points))
    w, h = np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[1] - box[2])
    if abs(1 - max(w, h) / (min(w, h) + 1e-5)) <= 0.1:
        # Near-square blobs: minAreaRect's angle is unstable, use the axis-aligned box (as CRAFT does).
        left, top = points.min(axis=0)
        right, bottom = points.max(axis=0)
        box = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float32)
    start = int(box.sum(axis=1).argmin())
    return np.roll(box, 4 - start, 0)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def boxes_overlap(a: Box, b: Box, gap: int = 0) -> bool:
    """Whether two boxes overlap or lie within ``gap`` pixels of each other."""
    return a[0] - gap < b[2] and b[0] - gap < a[2] and a[1] - gap < b[3] and b[1] - gap < a[3]


def box_union(a: Box, b: Box) -> Box:
    """The smallest box holding both."""
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def transposed(box: Box) -> Box:
    """``box`` in the transposed frame (rows and columns swapped)."""
    return box[1], box[0], box[3], box[2]


def grown(box: Box, shape: tuple[int, int], margin: int) -> Box:
    """``box`` grown by ``margin`` pixels on every side, clipped to an image of ``shape`` ``(rows, columns)``."""
    h, w = shape
    return (max(0, box[0] - margin), max(0, box[1] - margin), min(w, box[2] + margin), min(h, box[3] + margin))


def union_cover(box: Box, others: Sequence[Box]) -> float:
    """The share of ``box`` that the union of ``others`` covers (1 for an empty box)."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return 1.0
    covered = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for ox0, oy0, ox1, oy1 in others:
        covered[max(0, oy0 - y0) : max(0, oy1 - y0), max(0, ox0 - x0) : max(0, ox1 - x0)] = True
    return float(covered.mean())
