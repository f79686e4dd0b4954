"""Cheap text-presence test: the areas of a frame where text can be, found without running the detector.

Burned-in text is made of thin strokes (a few pixels wide) that stand out from their surroundings. A morphological
top-hat (bright strokes) and black-hat (dark strokes) with a kernel wider than any stroke responds to every such
stroke whatever the absolute brightness or the background, and stays silent on smooth anatomy, flat backgrounds and
step edges of large structures. Responding pixels are joined along the text direction into components
(:func:`stroke_components`), each with the height and count of the characters inside, so that it is known which look
like text lines: the ``lines`` detector reads those directly (``lines.py``); the ``craft`` detector runs CRAFT in every
component's area, padded with context (:func:`candidate_areas`), text-like or not.

Frames with no stroke component at all hold no text the detector could find, and skip it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import cv2
import numpy as np

from monai_deid.ocr.boxes import Box, box_union, boxes_overlap, grown

__all__ = [
    "COARSE_SCALE",
    "CandidateArea",
    "StrokeComponent",
    "candidate_areas",
    "mask_components",
    "merge_areas",
    "noise_level",
    "shrunk_stroke_components",
    "stroke_components",
    "stroke_pixels",
    "stroke_pixels_in",
    "stroke_responses",
    "tallest_annotation",
    "upscale_for",
    "with_context",
]

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
# Tallest characters (pixels) that are still an annotation on frames of up to 8 times this many rows; on taller
# frames, an eighth of the rows.
_ANNOTATION_MAX_HEIGHT = 40
# Fewest characters in a component for it to count as a text line.
_MIN_LINE_CHARS = 2
# Narrowest text line, in character heights: a word of two narrow letters ("LI", "JI", "TI") is 0.8 to 1 heights
# wide once its characters stand farther apart than the join reaches (from about 30 px). At 2 heights, the limit
# until the nineteenth session, such a word standing alone was never read.
_MIN_LINE_WIDTH = 0.8
# Higher stroke contrasts searched separately: text that touches fainter speckle or anatomy at the noise-adapted
# level stands alone at one of these (overlay text is near white or black on the view).
_OVERLAY_CONTRASTS = (48, 96, 160)
# Horizontal reach that joins the characters of a line (gaps up to about one character).
_JOIN = 9
# Smallest mask (pixels) whose components are found on several threads (see ``_in_parallel``).
_PARALLEL_MIN_PIXELS = 1 << 17
_EXECUTORS: dict[tuple[int, int], ThreadPoolExecutor] = {}


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


@dataclass(frozen=True)
class StrokeComponent:
    """Thin strokes joined along the text direction: a text line, a few stacked lines, or anatomy and speckle.

    Args:
        box: ``(x0, y0, x1, y1)``, end-exclusive, of the strokes themselves (no context margin).
        char_height: median height of the stroke clusters (characters) inside.
        chars: number of stroke clusters inside.
        scale: resize factor the detector would read it at (see :func:`_scale`); ``COARSE_SCALE`` when the
            component does not look like text lines.
        rows: stroke pixels per row of the box (stacked lines are split where it is zero); empty when the
            component does not look like text.
    """

    box: Box
    char_height: int
    chars: int
    scale: float
    rows: tuple[int, ...]

    @property
    def line_like(self) -> bool:
        """Whether the component looks like one or a few text lines."""
        return self.scale != COARSE_SCALE


def tallest_annotation(rows: int) -> int:
    """Height in pixels of the tallest characters that can be an annotation on a frame of ``rows`` rows: taller
    strokes that look like characters are a scan sector, an organ outline or a logo."""
    return max(_ANNOTATION_MAX_HEIGHT, rows // 8)


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
    return _median_of_small_integers(np.abs(lap)) * 1.4826 / np.sqrt(20.0)


def _median_of_small_integers(values: np.ndarray) -> float:
    """``np.median`` of non-negative integers below 2**16, from their histogram: the same value, 2x to 5x faster
    than the partial sort on a frame of a million pixels."""
    if values.size == 0:
        return float("nan")
    if values.size - np.count_nonzero(values) > values.size // 2:
        return 0.0  # both middle elements are zeros (a clean or mostly empty view)
    counts = np.cumsum(np.bincount(values.ravel().astype(np.intp, copy=False)))
    # The two middle elements of the sorted values (the same one for an odd count), as np.median averages them.
    lower, upper = np.searchsorted(counts, [(values.size - 1) // 2, values.size // 2], side="right")
    return (int(lower) + int(upper)) / 2


def stroke_responses(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-hat (bright strokes) and black-hat (dark strokes) of ``grey``: each pixel's stroke contrast."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_STROKE_KERNEL, _STROKE_KERNEL))
    return cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, kernel), cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)


def stroke_pixels(grey: np.ndarray, min_contrast: int = 16) -> np.ndarray:
    """The pixels of ``grey`` that the stroke test counts at its lowest contrast level (bool mask): bright or dark
    strokes of ``min_contrast``, or more where the frame's noise asks for more (see :func:`stroke_components`)."""
    threshold = _stroke_threshold(grey, min_contrast)
    bright, dark = stroke_responses(grey)
    return (bright >= threshold) | (dark >= threshold)


def stroke_pixels_in(grey: np.ndarray, box: Box, min_contrast: int = 16) -> np.ndarray:
    """:func:`stroke_pixels` inside ``box`` (a bool mask of its shape), tested with a stroke kernel's width of the
    frame around it, as the whole frame's test sees it."""
    x0, y0, x1, y1 = box
    gx0, gy0, gx1, gy1 = grown(box, grey.shape, _STROKE_KERNEL)
    return stroke_pixels(grey[gy0:gy1, gx0:gx1], min_contrast)[y0 - gy0 : y1 - gy0, x0 - gx0 : x1 - gx0]


def _stroke_threshold(grey: np.ndarray, min_contrast: int) -> int:
    """The lowest stroke contrast searched on ``grey``: ``min_contrast``, raised above the frame's noise."""
    return max(min_contrast, int(_NOISE_FACTOR * noise_level(grey)))


def stroke_components(
    grey: np.ndarray, min_contrast: int = 16, within: np.ndarray | None = None
) -> list[StrokeComponent]:
    """Every joined stroke component of ``grey`` tall enough to be text, at each contrast level searched.

    Args:
        grey: one uint8 frame.
        min_contrast: smallest stroke contrast in grey levels that counts as possible text.
        within: optional mask; only components touching a non-zero pixel of it are kept, and only the mask's
            bounding box (with the stroke kernel's reach around it) is searched.
    """
    tallest = _MAX_LINES * tallest_annotation(grey.shape[0])
    if within is None:
        return _stroke_components(grey, min_contrast, None, tallest)
    x, y, w, h = cv2.boundingRect(within)
    if w == 0 or h == 0:
        return []
    rows, cols = grey.shape
    x0, y0 = max(0, x - _STROKE_KERNEL), max(0, y - _STROKE_KERNEL)
    x1, y1 = min(cols, x + w + _STROKE_KERNEL), min(rows, y + h + _STROKE_KERNEL)
    return _stroke_components(grey[y0:y1, x0:x1], min_contrast, within[y0:y1, x0:x1], tallest, (x0, y0))


def shrunk_stroke_components(
    grey: np.ndarray, factor: int, min_contrast: int = 16, within: np.ndarray | None = None
) -> list[StrokeComponent]:
    """The stroke components of ``grey`` shrunk ``factor`` times, boxes and character heights in ``grey``'s pixels.

    Large text is small text there: at full size its letters stand further apart than the join reaches and its
    strokes are wider than the stroke kernel, so they are found one by one, not as a line. Row profiles are those
    of the shrunk frame. Each shrunk pixel is the mean of a ``factor`` x ``factor`` block (the last rows and columns
    that fill no block are left to the full-size search).

    Args:
        grey: one uint8 frame.
        factor: how many times smaller the searched frame is on each side.
        min_contrast: smallest stroke contrast in grey levels that counts as possible text.
        within: optional mask; only components touching a non-zero pixel of it are kept, and only the blocks of its
            bounding box (with the stroke kernel's reach around it) are shrunk and searched.
    """
    rows, cols = grey.shape[0] // factor, grey.shape[1] // factor
    if rows == 0 or cols == 0:
        return []
    y0, y1, x0, x1 = 0, rows, 0, cols
    inside = None
    if within is not None:
        x, y, w, h = cv2.boundingRect(within[: rows * factor, : cols * factor])
        if w == 0 or h == 0:
            return []
        y0, x0 = max(0, y // factor - _STROKE_KERNEL), max(0, x // factor - _STROKE_KERNEL)
        y1, x1 = min(rows, -(-(y + h) // factor) + _STROKE_KERNEL), min(cols, -(-(x + w) // factor) + _STROKE_KERNEL)
        # A shrunk pixel is inside the mask when any pixel of its block is.
        inside = _any_in_block(within[y0 * factor : y1 * factor, x0 * factor : x1 * factor], factor)
    small = _block_means(grey[y0 * factor : y1 * factor, x0 * factor : x1 * factor], factor)
    found = _stroke_components(small, min_contrast, inside, _MAX_LINES * tallest_annotation(rows))
    return [
        replace(
            c,
            box=tuple(factor * (v + o) for v, o in zip(c.box, (x0, y0, x0, y0), strict=True)),
            char_height=c.char_height * factor,
        )
        for c in found
    ]


def _block_means(grey: np.ndarray, factor: int) -> np.ndarray:
    """The mean of each ``factor`` x ``factor`` block of ``grey`` (whose sides are multiples of ``factor``)."""
    return cv2.resize(grey, (grey.shape[1] // factor, grey.shape[0] // factor), interpolation=cv2.INTER_AREA)


def _any_in_block(mask: np.ndarray, factor: int) -> np.ndarray:
    """Whether each ``factor`` x ``factor`` block of ``mask`` (sides multiples of ``factor``) has a non-zero pixel
    (the mean of a block of 255s and 0s: one 255 keeps a block of fewer than 510 pixels above 0)."""
    return _block_means((mask != 0).view(np.uint8) * np.uint8(255), factor)


def _stroke_components(
    grey: np.ndarray, min_contrast: int, within: np.ndarray | None, tallest: int, origin: tuple[int, int] = (0, 0)
) -> list[StrokeComponent]:
    threshold = _stroke_threshold(grey, min_contrast)
    # Small high-contrast text (the usual burned-in overlay) that touches low-contrast speckle or anatomy is joined
    # into one large component at the low threshold; it is found on its own at the higher levels.
    contrasts = [threshold] + [c for c in _OVERLAY_CONTRASTS if c > threshold]
    responses = stroke_responses(grey)
    masks = [(response >= c).view(np.uint8) for c in contrasts for response in responses]
    found = _in_parallel(lambda mask: mask_components(mask, within, tallest, origin), masks)
    return [comp for components in found for comp in components]


def _in_parallel(work: Callable[[np.ndarray], list[StrokeComponent]], masks: list[np.ndarray]) -> list:
    """``[work(mask) for mask in masks]``, spread over OpenCV's threads on large masks: labelling and dilation
    release the GIL, so the masks of one frame are labelled side by side (on 2 cores, the stroke test of a
    1024 x 1024 MR: 44 -> 30 ms, of a 512 x 512 frame: 15 -> 10 ms; below about 256 x 512 pixels, handing the
    masks to threads costs what it saves). The size that counts is the bounding box of the stroke pixels, which is
    all that is labelled (a colour-only view is empty but for a few strokes)."""
    threads = min(cv2.getNumThreads(), len(masks))
    if threads <= 1 or max(_labelled_pixels(mask) for mask in masks) < _PARALLEL_MIN_PIXELS:
        return [work(mask) for mask in masks]
    return list(_executor(threads).map(work, masks))


def _labelled_pixels(mask: np.ndarray) -> int:
    """Pixels in the bounding box of ``mask``'s stroke pixels (what :func:`mask_components` labels)."""
    _, _, w, h = cv2.boundingRect(mask)
    return w * h


def _executor(threads: int) -> ThreadPoolExecutor:
    """This process's pool of ``threads`` threads (a forked child, such as a DataLoader worker, makes its own: the
    parent's threads do not exist there)."""
    key = (os.getpid(), threads)
    if key not in _EXECUTORS:
        _EXECUTORS[key] = ThreadPoolExecutor(threads, thread_name_prefix="monai-deid-strokes")
    return _EXECUTORS[key]


def candidate_areas(
    components: list[StrokeComponent], shape: tuple[int, int], whole_frame_fraction: float = 0.5
) -> list[CandidateArea]:
    """The detector areas of stroke components: padded, merged per resize factor, contained ones dropped."""
    h, w = shape
    lines = [CandidateArea(with_context(c.box, shape), c.scale) for c in components]
    areas: list[CandidateArea] = []
    # Areas of different upscales are kept apart so that small text inside a large stroke area (speckle, anatomy)
    # does not make the detector upscale the whole large area.
    for scale in sorted({a.scale for a in lines}):
        merged = merge_areas([a for a in lines if a.scale == scale])
        covered = sum((a.box[2] - a.box[0]) * (a.box[3] - a.box[1]) for a in merged)
        areas += [CandidateArea((0, 0, w, h), scale)] if covered > whole_frame_fraction * h * w else merged
    # An area inside another area read at the same or a larger upscale is read there already.
    return [
        a
        for i, a in enumerate(areas)
        if not any(j != i and b.scale >= a.scale and _contains(b.box, a.box) for j, b in enumerate(areas))
    ]


def with_context(box: Box, shape: tuple[int, int]) -> Box:
    """``box`` padded by about half a line height (at least 8 pixels) of context for the detector."""
    return grown(box, shape, max(8, (box[3] - box[1]) // 2))


def _contains(outer: Box, inner: Box) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def mask_components(
    mask: np.ndarray, within: np.ndarray | None = None, tallest: int | None = None, origin: tuple[int, int] = (0, 0)
) -> list[StrokeComponent]:
    """The joined components of a stroke mask tall enough to be text, with their character statistics.

    Args:
        mask: uint8 stroke mask (non-zero: stroke pixels).
        within: optional mask; only components touching a non-zero pixel of it are kept.
        tallest: components taller than this many pixels cannot be text lines (:func:`tallest_annotation` lines
            of characters at most): their characters are not counted (the densest masks of anatomy and speckle are
            one such component, and counting its characters took half of the labelling time), so they are not
            line-like. ``None``: no limit.
        origin: ``(x, y)`` of ``mask``'s first pixel in the frame, added to every box.
    """
    # High contrast levels leave most of a frame empty: label only the stroke pixels' bounding box (and the join's
    # reach on either side).
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return []
    x0, x1 = max(0, x - _JOIN), min(mask.shape[1], x + w + _JOIN)
    mask = mask[y : y + h, x0:x1]
    within = None if within is None else within[y : y + h, x0:x1]
    ox, oy = origin[0] + x0, origin[1] + y
    # Join the characters of a line (gaps up to ~1 character) but not stacked lines.
    joined = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (_JOIN, 1)))
    _, labels, stats = _labelled(joined)
    heights = stats[:, cv2.CC_STAT_HEIGHT]
    too_tall = [] if tallest is None else np.flatnonzero(heights[1:] > tallest) + 1
    char_heights, char_counts = _character_stats(_without_components(mask, labels, too_tall), labels, heights)
    reach = _JOIN // 2
    out: list[StrokeComponent] = []
    # A line shorter than the smallest legible text is noise.
    for k in np.flatnonzero(heights[1:] >= _MIN_LINE_HEIGHT) + 1:
        x, y, bw, bh, _ = stats[k].tolist()
        char_height, chars = int(char_heights[k]), int(char_counts[k])
        scale = _scale(bw, bh, char_height, chars)
        own = labels[y : y + bh, x : x + bw] == k if within is not None or scale != COARSE_SCALE else None
        if within is not None and not within[y : y + bh, x : x + bw][own].any():
            continue
        # The dilation grew the component by ``reach`` pixels left and right: the box is the ink's.
        box = (ox + x + reach, oy + y, ox + max(x + reach + 1, x + bw - reach), oy + y + bh)
        # Only text-like components are ever split into lines.
        rows = _row_profile(mask[y : y + bh, x : x + bw], own) if scale != COARSE_SCALE else ()
        out.append(StrokeComponent(box, char_height, chars, scale, rows))
    return out


def _without_components(mask: np.ndarray, labels: np.ndarray, dropped: Sequence[int]) -> np.ndarray:
    """``mask`` without the pixels of the joined components ``dropped`` (labels of ``labels``)."""
    for k in dropped:
        mask = mask & (labels != k)
    return mask


def _row_profile(mask: np.ndarray, own: np.ndarray) -> tuple[int, ...]:
    """Stroke pixels per row of one component (used to split stacked lines)."""
    return tuple((mask.astype(bool) & own).sum(axis=1).tolist())


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
        and width >= _MIN_LINE_WIDTH * char_height
    )
    return upscale_for(char_height) if line_like else COARSE_SCALE


def _character_stats(
    mask: np.ndarray, joined_labels: np.ndarray, joined_heights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Median height and count of the stroke clusters (characters) inside each joined line component, indexed by
    its label; a component without clusters of its own (its characters were not counted) keeps its own height and a
    count of 1.

    Stacked lines with little leading join into one tall component; the characters inside keep the real text size.
    """
    medians, counts = joined_heights.copy(), np.ones_like(joined_heights)
    n, char_labels, char_stats = _labelled(mask)
    if n <= 1:
        return medians, counts
    # Every cluster lies inside one joined component (the join is a dilation): scatter the joined label of each
    # stroke pixel to its cluster, all writes to one cluster agree. Only stroke pixels are scattered: most of a
    # high-contrast mask is background.
    owner = np.zeros(n, dtype=np.int32)
    ink = np.flatnonzero(mask)
    owner[char_labels.reshape(-1)[ink]] = joined_labels.reshape(-1)[ink]
    owner, heights = owner[1:], char_stats[1:, cv2.CC_STAT_HEIGHT]
    order = np.lexsort((heights, owner))
    owners, starts, sizes = np.unique(owner[order], return_index=True, return_counts=True)
    medians[owners] = heights[order][starts + (sizes - 1) // 2]
    counts[owners] = sizes
    return medians, counts


def _labelled(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected components of ``mask``: ``(count, labels, stats)``. Labels are 16-bit where they fit (OpenCV
    raises when they would overflow), which labels a dense mask about 25% faster than 32-bit labels."""
    try:
        count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_16U, cv2.CCL_DEFAULT)
    except cv2.error:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return count, labels, stats


def merge_areas(areas: list[CandidateArea]) -> list[CandidateArea]:
    """Overlapping areas joined into their union, read at the smaller of their resize factors."""
    merged = True
    while merged:
        merged = False
        out: list[CandidateArea] = []
        for area in areas:
            for i, other in enumerate(out):
                if boxes_overlap(area.box, other.box):
                    out[i] = CandidateArea(box_union(area.box, other.box), min(area.scale, other.scale))
                    merged = True
                    break
            else:
                out.append(area)
        areas = out
    return areas
