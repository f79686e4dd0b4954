"""Packing many small crops into one detector input.

The detector's cost is mostly per pixel, but every forward pass also has a fixed cost (kernel launches on CUDA,
thread start-up and primitive set-up on CPU) that dominates for the small line crops the stroke test proposes.
Crops are therefore packed, each with a replicated border, onto shelves of one canvas and detected in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Mosaic", "pack"]

# Border replicated around each crop: keeps the detector's view of one crop free of its neighbours' strokes.
_GAP = 16
_MAX_WIDTH = 1280


@dataclass(frozen=True)
class Mosaic:
    """Crops packed onto one canvas.

    Args:
        canvas: uint8 image holding every crop.
        members: indices (into the packed sequence) of the crops on this canvas.
        origins: ``(x, y)`` of each member's top-left pixel on the canvas.
        sizes: ``(w, h)`` of each member.
    """

    canvas: np.ndarray
    members: tuple[int, ...]
    origins: tuple[tuple[int, int], ...]
    sizes: tuple[tuple[int, int], ...]

    def owner(self, x: float, y: float) -> int | None:
        """Position in ``members`` of the crop whose bordered cell holds canvas point ``(x, y)``, if any."""
        for k, ((ox, oy), (w, h)) in enumerate(zip(self.origins, self.sizes, strict=True)):
            if ox - _GAP <= x < ox + w + _GAP and oy - _GAP <= y < oy + h + _GAP:
                return k
        return None


def pack(crops: Sequence[np.ndarray]) -> list[Mosaic]:
    """Pack uint8 crops onto canvases with shelf packing (tallest first); crops wider than the canvas go alone."""
    if not crops:
        return []
    cells = [(c.shape[1] + 2 * _GAP, c.shape[0] + 2 * _GAP) for c in crops]
    total = sum(w * h for w, h in cells)
    fitting = [w for w, _ in cells if w <= _MAX_WIDTH]
    width = max(min(_MAX_WIDTH, math.ceil(math.sqrt(total))), max(fitting, default=0))
    order = sorted(range(len(crops)), key=lambda i: -cells[i][1])
    mosaics, shelves, current = [], [], []
    x = 0
    for i in order:
        w = cells[i][0]
        if w > width:
            mosaics.append(_canvas([i], [(0, 0)], crops))
            continue
        if x + w > width and current:
            shelves.append(current)
            current, x = [], 0
        current.append((i, x))
        x += w
    if current:
        shelves.append(current)
    if shelves:
        members, origins, y = [], [], 0
        for shelf in shelves:
            for i, sx in shelf:
                members.append(i)
                origins.append((sx, y))
            y += max(cells[i][1] for i, _ in shelf)
        mosaics.append(_canvas(members, origins, crops))
    return mosaics


def _canvas(members: list[int], cell_origins: list[tuple[int, int]], crops: Sequence[np.ndarray]) -> Mosaic:
    cells = [(crops[i].shape[1] + 2 * _GAP, crops[i].shape[0] + 2 * _GAP) for i in members]
    width = max(ox + w for (ox, _), (w, _) in zip(cell_origins, cells, strict=True))
    height = max(oy + h for (_, oy), (_, h) in zip(cell_origins, cells, strict=True))
    canvas = np.zeros((height, width), dtype=np.uint8)
    for i, (ox, oy), (w, h) in zip(members, cell_origins, cells, strict=True):
        canvas[oy : oy + h, ox : ox + w] = cv2.copyMakeBorder(crops[i], _GAP, _GAP, _GAP, _GAP, cv2.BORDER_REPLICATE)
    origins = tuple((ox + _GAP, oy + _GAP) for ox, oy in cell_origins)
    sizes = tuple((crops[i].shape[1], crops[i].shape[0]) for i in members)
    return Mosaic(canvas, tuple(members), origins, sizes)
