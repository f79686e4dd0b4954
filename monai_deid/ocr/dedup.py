"""Work already done is not done again: identical frames and unchanged areas of a cine loop are read once.

Identical frames of an OCR view are grouped (a checksum, then a comparison of the pixels). Each distinct frame after
the first is compared with the first frame (the reference, read in full): only the pixels that differ need reading;
text of the reference whose box holds exactly the same pixels on the other frame is the same text there.
"""

from __future__ import annotations

import zlib

import cv2
import numpy as np

from monai_deid.ocr.boxes import Box

__all__ = ["changed_mask", "distinct_frames", "unchanged"]


def distinct_frames(frames: np.ndarray) -> dict[int, list[int]]:
    """Group identical frames.

    A frame is compared pixel by pixel with the earlier frames of the same CRC-32 only (a checksum is 5x faster
    than a cryptographic digest; the comparison makes a collision harmless).

    Args:
        frames: ``(F, ...)`` frames of any shape and dtype (uint8 views, or stored pixels).

    Returns:
        for each first occurrence of a distinct frame, all frame indices identical to it (itself included).
    """
    groups: dict[int, list[int]] = {}
    firsts_by_checksum: dict[int, list[int]] = {}
    for i in range(frames.shape[0]):
        frame = np.ascontiguousarray(frames[i])
        firsts = firsts_by_checksum.setdefault(zlib.crc32(frame), [])
        first = next((f for f in firsts if np.array_equal(frames[f], frame)), None)
        if first is None:
            firsts.append(i)
            groups[i] = [i]
        else:
            groups[first].append(i)
    return groups


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
