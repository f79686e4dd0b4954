"""Work already done is not done again: identical frames and unchanged areas of a cine loop are read once.

Frames are grouped by a digest of their OCR view. Each distinct frame after the first is compared with the first
frame (the reference, read in full): only the pixels that differ need reading; text of the reference whose box holds
exactly the same pixels on the other frame is the same text there.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from monai_deid.ocr.boxes import Box

__all__ = ["changed_mask", "distinct_frames", "unchanged"]


def distinct_frames(frames: np.ndarray) -> dict[int, list[int]]:
    """Group identical frames.

    Args:
        frames: ``(F, H, W)`` uint8 views.

    Returns:
        for each first occurrence of a distinct frame, all frame indices identical to it (itself included).
    """
    groups: dict[bytes, list[int]] = {}
    for i in range(frames.shape[0]):
        digest = hashlib.blake2b(frames[i].tobytes(), digest_size=16).digest()
        groups.setdefault(digest, []).append(i)
    return {members[0]: members for members in groups.values()}


def changed_mask(frame: np.ndarray, reference: np.ndarray, reach: int = 2) -> np.ndarray:
    """Pixels of ``frame`` that differ from ``reference``, grown by ``reach`` pixels (uint8 0/1)."""
    mask = (frame != reference).astype(np.uint8)
    if reach:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * reach + 1, 2 * reach + 1)))
    return mask


def unchanged(mask: np.ndarray, box: Box, margin: int = 2) -> bool:
    """Whether no changed pixel lies inside ``box`` grown by ``margin`` pixels."""
    h, w = mask.shape
    x0, y0, x1, y1 = box
    return not mask[max(0, y0 - margin) : min(h, y1 + margin), max(0, x0 - margin) : min(w, x1 + margin)].any()
