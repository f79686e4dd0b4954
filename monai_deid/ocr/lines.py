"""Text lines read straight from the stroke test, without the detector (the CPU fast path).

A stroke component that looks like text (two or more characters of one size side by side, at most a few lines tall)
already gives the line's box: it is cropped and handed to the recogniser directly, which costs a small fraction of a
CRAFT pass over the same pixels. Stacked lines are split where the component's row profile is empty; a component
that cannot be split is read whole. Components found at several contrast levels are read once. Text taller than
``DIRECT_MAX_HEIGHT`` goes to the detector instead, shrunk to the character size CRAFT reads best (a scan sector or
a large logo is cheap there and would be a poor recogniser input).

The stroke test finds the characters of letter-spaced text, and of text turned a quarter turn, one by one: three or
more single characters of one size side by side make a line, and stacked in a column, a turned line.

Whether a directly read component is text at all is the recogniser's confidence to say: the scan sends readings
below ``DIRECT_MIN_CONFIDENCE`` (but not so low that they are of noise) with two or more letters or digits
(:func:`doubtful`) to the detector, which keeps them only if CRAFT sees text there too, and drops the other
low-confidence readings.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from monai_deid.ocr.boxes import Box, box_union, grown, iou, transposed
from monai_deid.ocr.candidates import CandidateArea, StrokeComponent, tallest_annotation, upscale_for, with_context

__all__ = [
    "DIRECT_MAX_HEIGHT",
    "DIRECT_MIN_CONFIDENCE",
    "doubt_area",
    "doubtful",
    "large_text_areas",
    "line_boxes",
    "turned_lines",
]

#: Tallest characters (pixels) read without the detector.
DIRECT_MAX_HEIGHT = 40
#: Direct readings below this recogniser confidence are checked by the detector.
DIRECT_MIN_CONFIDENCE = 0.4
# Character height (pixels) large text is shrunk to for the detector.
_DETECTOR_CHAR_HEIGHT = 24
_MIN_DETECTOR_SCALE = 0.25
# Fewest letters and digits a low-confidence direct reading needs to be worth the detector's check.
_MIN_DOUBT_CHARS = 2
# Below this confidence a direct reading is of speckle or anatomy, not of text too poor to read: on the OCR matrix
# and the benchmark corpus, text read directly scored at least 0.087 (0.043 mirrored), non-text at most 0.019.
_NOISE_CONFIDENCE = 0.02

# A line is at most this many character heights tall (ascenders, descenders and accents included).
_LINE_SPAN = 1.8
# Components whose boxes overlap this much are the same line found at two contrast levels.
_SAME_LINE_IOU = 0.6
# Letter-spaced text: at least this many single characters side by side, each at most this many character heights
# from the next (farther than the stroke test's join reaches), of heights within this share of each other, and
# overlapping vertically by this share of the smaller.
_SPACED_MIN_CHARS = 3
_SPACED_GAP = 2.0
_SPACED_HEIGHT_TOLERANCE = 0.3
_SPACED_OVERLAP = 0.7


def line_boxes(
    components: Sequence[StrokeComponent], shape: tuple[int, int]
) -> tuple[list[Box], list[CandidateArea], list[Box]]:
    """The text lines to read directly, the areas of large text the detector reads, and the turned lines.

    Args:
        components: the stroke components of one frame (:func:`monai_deid.ocr.candidates.stroke_components`).
        shape: ``(rows, columns)`` of the frame.

    Returns:
        ``(lines, areas, turned)``: line boxes (ink extent, end-exclusive; stacked lines split where they can be, read
        whole where not; letter-spaced lines too), padded detector areas for text taller than ``DIRECT_MAX_HEIGHT``,
        and the boxes of lines turned a quarter turn (:func:`turned_lines`). Components that do not look like text
        are in none of them.
    """
    lines: list[Box] = []
    areas: list[CandidateArea] = []
    for comp in components:
        # A "line" taller than an eighth of the frame is a scan sector or an organ outline, not an annotation.
        if not comp.line_like or comp.char_height > tallest_annotation(shape[0]):
            continue
        if comp.char_height > DIRECT_MAX_HEIGHT:
            areas.append(_large_text_area(comp, shape))
        else:
            lines.extend(_split_rows(comp) or [comp.box])
    chars = _single_characters(components)
    lines.extend(_letter_spaced_lines(chars))
    return _distinct(lines), areas, _turned_columns(chars)


def large_text_areas(shrunk: Sequence[StrokeComponent], shape: tuple[int, int]) -> list[CandidateArea]:
    """The detector areas of the text lines found on the shrunk frame
    (:func:`monai_deid.ocr.candidates.shrunk_stroke_components`) with characters of ``DIRECT_MAX_HEIGHT`` or more.

    There, heights are measured in steps of the shrink factor: a measured 40 is 37 to 43 pixels, and the
    full-size search does not find such text when its strokes are as wide as the stroke kernel (bold 80-point
    letters of 58 pixels, measured 40, were found by neither search).
    """
    tallest = tallest_annotation(shape[0])
    return [_large_text_area(c, shape) for c in shrunk if c.line_like and DIRECT_MAX_HEIGHT <= c.char_height <= tallest]


def _large_text_area(comp: StrokeComponent, shape: tuple[int, int]) -> CandidateArea:
    """The detector area of a line of large text, shrunk to the character height CRAFT reads best."""
    scale = max(_MIN_DETECTOR_SCALE, _DETECTOR_CHAR_HEIGHT / comp.char_height)
    return CandidateArea(grown(comp.box, shape, max(8, comp.char_height // 2)), scale)


def _letter_spaced_lines(chars: list[Box]) -> list[Box]:
    """Lines of letter-spaced text (``"D  O  E"``): its characters stand farther apart than the stroke test joins, so
    each is a component of one character, which alone does not look like text. Three or more of one size side by
    side on one line are one. Over 193 frames (the benchmark corpus, pydicom's and pydicom-data's files), 12 had
    such a line, 2 of them text; each other one costs the recogniser one more crop. ``chars``: the frame's single
    characters (:func:`_single_characters`)."""
    return _chained(chars)


def turned_lines(components: Sequence[StrokeComponent]) -> list[Box]:
    """Lines of text turned a quarter turn (written top to bottom or bottom to top, as on an image stored on its
    side): the stroke test joins characters sideways only, so each turned character is a component of its own.
    Three or more of one width stacked in a column are one line (the letter-spaced rule, on transposed boxes). Over
    193 frames (the benchmark corpus, pydicom's and pydicom-data's files), 56 had such a column, most of them the
    colour bars of one test image in 40 encodings; none of them was read surely, so none was kept (see
    ``scan._read_direct``). Turned characters that touch other strokes (anatomy within the join's reach) are not
    found."""
    return _turned_columns(_single_characters(components))


def _turned_columns(chars: list[Box]) -> list[Box]:
    """:func:`turned_lines` of the frame's single characters ``chars``."""
    return [transposed(box) for box in _chained([transposed(box) for box in chars])]


def _single_characters(components: Sequence[StrokeComponent]) -> list[Box]:
    """Boxes of the components that are one character of at most ``DIRECT_MAX_HEIGHT``, once each: a character
    found at several contrast levels has nearly the same box at each (overlapping by ``_SAME_LINE_IOU``)."""
    small = DIRECT_MAX_HEIGHT
    boxes = sorted({c.box for c in components if c.chars == 1 and not c.line_like and c.box[3] - c.box[1] <= small})
    if len(boxes) < _SPACED_MIN_CHARS:
        return []
    same = _pairwise_iou(np.array(boxes)) >= _SAME_LINE_IOU
    kept: list[int] = []
    for i in range(len(boxes)):
        if not same[i, kept].any():
            kept.append(i)
    return [boxes[i] for i in kept]


def _pairwise_iou(boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of ``(N, 4)`` boxes."""
    x0, y0, x1, y1 = (boxes[:, k] for k in range(4))
    width = np.clip(np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0), 0, None)
    height = np.clip(np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0), 0, None)
    inter = width * height
    area = (x1 - x0) * (y1 - y0)
    return inter / np.maximum(area[:, None] + area - inter, 1)


def _chained(chars: list[Box]) -> list[Box]:
    """Unions of three or more of ``chars`` side by side on one line, each the next letter of the one before."""
    chars = sorted(chars)
    lines, used = [], set()
    # the farthest the next letter can start, in heights of the letter before (the next may be taller)
    reach = _SPACED_GAP / (1 - _SPACED_HEIGHT_TOLERANCE)
    for first in range(len(chars)):
        if first in used:
            continue
        chain = [first]
        for nxt in range(first + 1, len(chars)):
            last = chars[chain[-1]]
            if chars[nxt][0] > last[2] + reach * (last[3] - last[1]):
                break  # sorted by left edge: no later box is near enough
            if nxt not in used and _next_letter(last, chars[nxt]):
                chain.append(nxt)
        if len(chain) >= _SPACED_MIN_CHARS:
            used.update(chain)
            lines.append(functools.reduce(box_union, (chars[k] for k in chain)))
    return lines


def _next_letter(left: Box, right: Box) -> bool:
    """Whether ``right`` can be the next letter of a letter-spaced line after ``left``."""
    heights = left[3] - left[1], right[3] - right[1]
    overlap = min(left[3], right[3]) - max(left[1], right[1])
    gap = right[0] - left[2]
    return (
        abs(heights[0] - heights[1]) <= _SPACED_HEIGHT_TOLERANCE * max(heights)
        and overlap >= _SPACED_OVERLAP * min(heights)
        and 0 <= gap <= _SPACED_GAP * max(heights)
    )


def doubtful(text: str, confidence: float) -> bool:
    """Whether a direct reading needs the detector's check: low confidence, but not noise, and at least two letters
    or digits.

    A single character identifies nobody; at low confidence it is a lone mark or a speckle cluster, and is dropped,
    as is a reading so unsure that it is one of speckle or anatomy (below 0.02).
    """
    return (
        _NOISE_CONFIDENCE <= confidence < DIRECT_MIN_CONFIDENCE and sum(c.isalnum() for c in text) >= _MIN_DOUBT_CHARS
    )


def doubt_area(box: Box, shape: tuple[int, int]) -> CandidateArea:
    """The detector area that checks a direct reading of low confidence: the line with context, upscaled as needed."""
    height = box[3] - box[1]
    return CandidateArea(with_context(box, shape), upscale_for(height))


def _split_rows(comp: StrokeComponent) -> list[Box] | None:
    """The component's lines: cut at empty rows; ``None`` when a piece is still taller than one line."""
    x0, y0, x1, _ = comp.box
    pieces, start = [], None
    for offset, count in enumerate((*comp.rows, 0)):
        if count and start is None:
            start = offset
        elif not count and start is not None:
            pieces.append((start, offset))
            start = None
    pieces = _join_slivers(pieces, max(3, comp.char_height // 2))
    if any(bottom - top > _LINE_SPAN * comp.char_height for top, bottom in pieces):
        return None
    return [(x0, y0 + top, x1, y0 + bottom) for top, bottom in pieces]


def _join_slivers(pieces: list[tuple[int, int]], min_height: int) -> list[tuple[int, int]]:
    """Join pieces shorter than ``min_height`` (the dots of i and j, accents, underlines) to their nearest piece."""
    pieces = list(pieces)
    while len(pieces) > 1:
        short = [i for i, (top, bottom) in enumerate(pieces) if bottom - top < min_height]
        if not short:
            break
        i = short[0]
        gap_above = pieces[i][0] - pieces[i - 1][1] if i > 0 else None
        gap_below = pieces[i + 1][0] - pieces[i][1] if i + 1 < len(pieces) else None
        j = i - 1 if gap_below is None or (gap_above is not None and gap_above <= gap_below) else i + 1
        a, b = sorted((i, j))
        pieces[a : b + 1] = [(pieces[a][0], pieces[b][1])]
    return pieces


def _distinct(boxes: list[Box]) -> list[Box]:
    """One box per line: boxes of a line found at several contrast levels (one level may see only part of it, e.g.
    without a short first word) are joined into their union."""
    kept: list[Box] = []
    for box in boxes:
        same = next((i for i, k in enumerate(kept) if iou(box, k) >= _SAME_LINE_IOU), None)
        if same is None:
            kept.append(box)
        else:
            kept[same] = box_union(kept[same], box)
    return kept
