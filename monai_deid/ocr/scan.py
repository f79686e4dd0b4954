"""Scanning every frame of an OCR view for text, reading each distinct piece of pixels once.

1. Identical frames are grouped (``dedup.distinct_frames``); each group is read once.
2. The first frame is read in full: the cheap stroke test (``candidates``) finds the stroke components. In the
   ``lines`` mode (default) text lines go to the recogniser directly (``lines``) and the detector only checks
   doubtful readings and reads large text; in the ``craft`` mode the detector runs in every stroke area (upscaled
   when its text is small, halved when it does not look like text) and the recogniser reads every line it finds.
3. Every other distinct frame is compared with the first: the stroke test runs where its pixels changed, and the
   first frame's lines whose pixels changed are read again on that frame; the first frame's other lines are the
   same pixels, so the same text, on that frame too.
4. Readings of the same text at overlapping boxes are merged into one region listing all its frames.

Line crops and detector areas already read for the image are not read again (``engine.recognize_crops`` and
``engine.read_lines`` keep digest caches).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from monai_deid.ocr.boxes import Box, box_union, grown, iou, transposed, union_cover
from monai_deid.ocr.candidates import (
    CandidateArea,
    candidate_areas,
    merge_areas,
    shrunk_stroke_components,
    stroke_components,
    stroke_pixels_in,
    tallest_annotation,
    upscale_for,
    with_context,
)
from monai_deid.ocr.dedup import changed_mask, distinct_frames, unchanged
from monai_deid.ocr.engine import EngineSettings, read_lines, recognize_crops
from monai_deid.ocr.lines import (
    DIRECT_MAX_HEIGHT,
    DIRECT_MIN_CONFIDENCE,
    doubt_area,
    doubtful,
    large_text_areas,
    line_boxes,
    turned_lines,
)
from monai_deid.regions import TextRegion

__all__ = ["FrameWork", "Reading", "plan_frame", "plan_zones", "read_frames", "scan_frames"]

# Large text is looked for again on the frame shrunk this many times (see ``shrunk_stroke_components``): there,
# characters of 40 to 160 pixels are 10 to 40 pixels tall.
_LARGE_TEXT_SHRINK = 4
# A doubtful direct reading, or a line the detector finds, this much covered by sure direct readings of the same
# frame adds nothing: a stack of lines read whole (and garbled) when each of its lines was also read on its own.
_EXPLAINED = 0.8
# A reading whose stroke pixels lie this much inside smaller readings on two or more rows of the same frame adds
# nothing: a stack of lines that one contrast level could not split, read whole (and garbled), when another level
# split it and each line was read on its own. By area alone such a stack is seldom explained: its lines are of
# different lengths, and the blank rest of its box counts against them.
_INK_EXPLAINED = 0.98
# The stroke contrast the ink of a stack is measured at (half the default ``min_contrast``), and the margin around
# its lines that counts as theirs: glyph edges, not a line of text (the smallest line read is 5 pixels tall).
_INK_CONTRAST = 8
_INK_MARGIN = 4
# A detector line cut by its area's edge and this much inside lines read surely is a piece of those lines.
_PIECE_OF_KNOWN = 0.5
# Share of a doubtful line the detector must confirm as text for the rest of the line to be text too.
_CONFIRMED = 1 / 3


@dataclass(frozen=True)
class Reading:
    """One line read on one frame.

    Args:
        box: ``(x0, y0, x1, y1)`` end-exclusive in frame pixels.
        text: the recognised text (PHI).
        confidence: recogniser confidence in ``[0, 1]``.
        turned: read from a line turned a quarter turn (see ``FrameWork.turned``).
    """

    box: Box
    text: str
    confidence: float
    turned: bool = False


@dataclass(frozen=True)
class FrameWork:
    """What to read on one frame.

    Args:
        grey: the frame (uint8 OCR view).
        areas: where the detector runs, each at its own resize factor (small text upscaled, non-text halved).
        lines: line boxes (ink extent) the recogniser reads directly, without the detector.
        turned: boxes of lines turned a quarter turn (``lines.turned_lines``), read turned back both ways.
    """

    grey: np.ndarray
    areas: Sequence[CandidateArea] = ()
    lines: Sequence[Box] = ()
    turned: Sequence[Box] = ()


def plan_frame(
    grey: np.ndarray,
    settings: EngineSettings,
    min_contrast: int = 16,
    within: np.ndarray | None = None,
) -> FrameWork:
    """The work the stroke test sends to the networks for one frame (see ``EngineSettings.detector``).

    Args:
        grey: one uint8 frame.
        settings: engine settings.
        min_contrast: smallest stroke contrast (grey levels) treated as possible text.
        within: optional mask; only strokes touching its non-zero pixels are considered.
    """
    components = stroke_components(grey, min_contrast, within)
    if settings.detector == "craft":
        return FrameWork(grey, candidate_areas(components, grey.shape), turned=turned_lines(components))
    lines, areas, turned = line_boxes(components, grey.shape)
    # Annotations too large for the full-size search exist only on frames of more than 8 x 40 rows.
    if tallest_annotation(grey.shape[0]) > DIRECT_MAX_HEIGHT:
        shrunk = shrunk_stroke_components(grey, _LARGE_TEXT_SHRINK, min_contrast, within)
        areas += large_text_areas(shrunk, grey.shape)
    return FrameWork(grey, merge_areas(areas), lines, turned)


def plan_zones(
    grey: np.ndarray, settings: EngineSettings, min_contrast: int, zones: Sequence[np.ndarray | None]
) -> FrameWork:
    """:func:`plan_frame` in each zone (a mask; ``None``: the whole frame), as one piece of work for one reading pass.

    Each zone has a stroke test of its own: over all at once the test would search the zones' bounding box (the
    whole frame, for the top and bottom header bands).
    """
    plans = [plan_frame(grey, settings, min_contrast, zone) for zone in zones]
    if len(plans) == 1:
        return plans[0]
    lines: list[Box] = []
    turned: list[Box] = []
    areas: list[CandidateArea] = []
    for plan in plans:
        lines += [line for line in plan.lines if line not in lines]
        turned += [line for line in plan.turned if line not in turned]
        areas += [area for area in plan.areas if area not in areas]
    return FrameWork(grey, areas, lines, turned)


def _zones(within: np.ndarray | None) -> list[np.ndarray | None]:
    """The zones of a ``within`` mask numbered from 1 (``[None]``: no mask, the whole frame)."""
    if within is None:
        return [None]
    return [(within == zone).view(np.uint8) for zone in range(1, int(within.max(initial=0)) + 1)]


def read_frames(jobs: Sequence[FrameWork], settings: EngineSettings) -> list[list[Reading]]:
    """Read several frames at once: one batched recogniser pass over the direct and turned lines, then batched
    detector and recogniser passes over the direct readings too doubtful to keep without the detector, and over the
    detector areas. A doubtful line that the detector confirms in part keeps its unconfirmed rest.

    Returns:
        per frame, the lines read, boxes in frame pixels.
    """
    direct = _read_direct(jobs, settings)
    sure, stacks = [], []
    for mine, work in zip(direct, jobs, strict=True):
        kept, dropped = _without_stacks(mine, work.grey)
        sure.append(kept)
        stacks.append(dropped)
    sure_boxes = [[r.box for r, _ in mine] for mine in sure]
    doubts = [
        _unexplained_doubts([r for r, _ in readings], known, work.grey)
        for readings, known, work in zip(direct, sure_boxes, jobs, strict=True)
    ]
    check_jobs = [
        FrameWork(work.grey, [doubt_area(r.box, work.grey.shape) for r in mine])
        for work, mine in zip(jobs, doubts, strict=True)
    ]
    # Each check goes to the detector on a canvas of its own, apart from the large-text areas: what the detector sees
    # of a doubtful line must not depend on an unrelated area elsewhere in the frame. (Packed together, US1's "PWR"
    # label read as "PWR" on the input and "PIR" on the redacted output, whose other doubts were fewer.)
    detected = _read_detected(check_jobs, settings, sure_boxes, alone=True)
    large = _read_detected([FrameWork(work.grey, work.areas) for work in jobs], settings, sure_boxes)
    return [
        _drop_repeats(
            _drop_coarse_duplicates(k + more + _unconfirmed_rests(mine, more) + big + _unconfirmed_stacks(s, k + more))
        )
        for k, mine, more, big, s in zip(sure, doubts, detected, large, stacks, strict=True)
    ]


def _unexplained_doubts(readings: list[Reading], sure: list[Box], grey: np.ndarray) -> list[Reading]:
    """The doubtful direct readings the detector must check: not those covered by sure readings (``sure``) and by
    the smaller doubtful readings inside them, which are checked on their own, nor stacks of sure lines
    (:func:`_is_stack_of`).

    A stroke-test line that joins several labels reads as garbage. pydicom-data's US1 in float32: "TIS<0. 4 MIEO. 8
    A0=1007" at 0.19 over "TIS<0.4" and "A0=100%", read surely, and "MI=0.8", read at 0.36 and checked on its own.
    Checked too, the joined line came back from the detector as "TIS<0. 4 MIEO_", a doubtful reading over two kept
    labels.
    """
    doubts = [r for r in readings if doubtful(r.text, r.confidence)]
    unexplained = []
    for doubt in doubts:
        area = _area(doubt.box)
        parts = [d.box for d in doubts if _area(d.box) < area and _covered(d.box, doubt.box) >= _EXPLAINED]
        if union_cover(doubt.box, [*sure, *parts]) < _EXPLAINED and not _is_stack_of(doubt.box, sure, grey):
            unexplained.append(doubt)
    return unexplained


def _without_stacks(
    direct: list[tuple[Reading, float]], grey: np.ndarray
) -> tuple[list[tuple[Reading, float]], list[tuple[Reading, float, list[Box]]]]:
    """The sure direct readings without those of stacks of lines that were also read line by line
    (:func:`_is_stack_of`), by sure readings or by doubtful ones, which the detector checks on their own; and the
    stacks dropped, each with the doubtful lines it was dropped for (see :func:`_unconfirmed_stacks`)."""
    sure = [(r, scale) for r, scale in direct if r.confidence >= DIRECT_MIN_CONFIDENCE]
    doubts = [r.box for r, _ in direct if r.confidence < DIRECT_MIN_CONFIDENCE and doubtful(r.text, r.confidence)]
    lines = [r.box for r, _ in sure] + doubts
    kept, dropped = [], []
    for reading, scale in sure:
        if _is_stack_of(reading.box, lines, grey):
            dropped.append((reading, scale, [d for d in doubts if _covered(d, reading.box) >= _EXPLAINED]))
        else:
            kept.append((reading, scale))
    return kept, dropped


def _unconfirmed_stacks(
    stacks: list[tuple[Reading, float, list[Box]]], read: list[tuple[Reading, float]]
) -> list[tuple[Reading, float]]:
    """The dropped stacks to keep after all: those with a doubtful line that neither a sure reading nor the detector
    read a third of. Such a line is dropped as no text, and the stack's reading is the only one of its pixels."""
    boxes = [r.box for r, _ in read]
    return [
        (reading, scale)
        for reading, scale, doubts in stacks
        if any(union_cover(doubt, boxes) < _CONFIRMED for doubt in doubts)
    ]


def _is_stack_of(box: Box, lines: Sequence[Box], grey: np.ndarray) -> bool:
    """Whether the stroke pixels of ``box`` lie inside smaller ``lines`` within it, on two or more rows.

    In the sample ultrasound's bottom band, "C5-1  Abd General" over "Sag Liver" was read whole as
    "Sag Livbd General" (0.46) beside both lines read on their own: the classifier could not explain the stack, so
    both clinical labels under it were redacted.
    """
    parts = [line for line in lines if _area(line) < _area(box) and _covered(line, box) >= _EXPLAINED]
    rows = sorted(parts, key=lambda line: line[1])
    stacked = any(lower[1] >= upper[3] - (upper[3] - upper[1]) / 2 for upper, lower in itertools.pairwise(rows))
    return stacked and _ink_cover(box, parts, grey) >= _INK_EXPLAINED


def _ink_cover(box: Box, parts: Sequence[Box], grey: np.ndarray) -> float:
    """The share of the stroke pixels in ``box`` (at a contrast below the default ``min_contrast``, so faint
    strokes count) that lie inside ``parts`` or their anti-aliased edges; 0 when ``box`` has none."""
    x0, y0 = box[:2]
    ink = stroke_pixels_in(grey, box, _INK_CONTRAST)
    covered = np.zeros_like(ink)
    for px0, py0, px1, py1 in (grown(part, grey.shape, _INK_MARGIN) for part in parts):
        covered[max(0, py0 - y0) : max(0, py1 - y0), max(0, px0 - x0) : max(0, px1 - x0)] = True
    return float(covered[ink].mean()) if ink.any() else 0.0


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _unconfirmed_rests(
    doubts: Sequence[Reading], checked: Sequence[tuple[Reading, float]]
) -> list[tuple[Reading, float]]:
    """The parts of doubtful lines that the detector confirmed as text only in part, kept with the direct reading.

    The detector reads a line where it sees text; where it confirms a third of a doubtful line or more, the rest of
    that line's strokes are text of the same line (the tail of a date on a background the detector reads poorly), and
    dropping them would leave them unredacted. A rest at least a character height wide is kept as a reading of its
    own, with the doubtful line's text and confidence. A line the detector finds no text on at all is dropped: that
    check keeps anatomy unredacted.
    """
    rests = []
    for doubt in doubts:
        x0, y0, x1, y1 = doubt.box
        height = y1 - y0
        covered = np.zeros(x1 - x0, bool)
        for reading, _ in checked:
            bx0, by0, bx1, by1 = reading.box
            if min(y1, by1) - max(y0, by0) >= height / 2:
                covered[max(0, bx0 - x0) : max(0, min(x1, bx1) - x0)] = True
        if covered.mean() < _CONFIRMED:
            continue
        for start, end in _runs(~covered):
            if end - start >= height:
                rests.append((Reading((x0 + start, y0, x0 + end, y1), doubt.text, doubt.confidence), 1.0))
    return rests


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _read_direct(jobs: Sequence[FrameWork], settings: EngineSettings) -> list[list[tuple[Reading, float]]]:
    """Recognise every job's direct lines, and its turned lines turned back both ways, in one batched pass.

    A turned line keeps the better of its two readings, and only a sure one: the detector cannot check a doubtful
    reading of turned text, and a column of anatomy or colour bars read as garbage must not be redacted.
    """
    crops, owners = [], []
    for job, work in enumerate(jobs):
        for box in work.lines:
            crops.append(_line_crop(work.grey, box))
            owners.append((job, _ink_box(box, work.grey.shape)))
        for box in work.turned:
            # the line with a quarter of its width of margin around it, turned back a quarter turn either way
            crop = _line_crop(work.grey.T, transposed(box)).T
            crops += [np.ascontiguousarray(np.rot90(crop, k)) for k in (1, -1)]
    # No contrast-stretched second reading: a doubtful direct reading goes to the detector instead.
    readings = recognize_crops(crops, settings, retry=False)
    out: list[list[tuple[Reading, float]]] = [[] for _ in jobs]
    for (job, box), (text, conf) in zip(owners, readings[: len(owners)], strict=True):
        out[job].append((Reading(box, text, conf), 1.0))
    both_ways = iter(readings[len(owners) :])
    for job, work in enumerate(jobs):
        for box in work.turned:
            text, conf = max(next(both_ways), next(both_ways), key=lambda reading: reading[1])
            if conf >= DIRECT_MIN_CONFIDENCE:
                out[job].append((Reading(_ink_box(box, work.grey.shape), text, conf, turned=True), 1.0))
    return out


def _read_detected(
    jobs: Sequence[FrameWork], settings: EngineSettings, known: Sequence[Sequence[Box]], alone: bool = False
) -> list[list[tuple[Reading, float]]]:
    """Run the detector in every job's areas and recognise the lines it finds, each batched over all jobs (with
    ``alone``, each area on a detector canvas of its own).

    A line the detector finds inside a line already read surely on the same frame (``known``, per job) is not read
    again: its pixels are that reading's. Nor is a line cut by its area's edge that lies mostly inside such lines:
    the neighbouring line of a doubt check, of which the area shows only a few rows (read, they are garbage that
    the classifier can only call doubtful, and redacting them erased part of the doubtful line itself).
    """
    crops, placements = [], []
    for job, work in enumerate(jobs):
        for area in work.areas:
            x0, y0, x1, y1 = area.box
            crop = work.grey[y0:y1, x0:x1]
            if area.scale != 1:
                interpolation = cv2.INTER_AREA if area.scale < 1 else cv2.INTER_CUBIC
                crop = cv2.resize(crop, None, fx=area.scale, fy=area.scale, interpolation=interpolation)
            crops.append(crop)
            placements.append((job, area.box, area.scale))
    if alone:
        line_lists = [read_lines([crop], settings)[0] for crop in crops]
    else:
        line_lists = read_lines(crops, settings) if crops else []
    line_crops: list[np.ndarray] = []
    line_boxes: list[tuple[int, Box, float]] = []
    for crop, (job, area_box, scale), lines in zip(crops, placements, line_lists, strict=True):
        grey = jobs[job].grey
        ox, oy = area_box[:2]
        for line in lines:
            box = (
                ox + math.floor(line.x0 / scale),
                oy + math.floor(line.y0 / scale),
                min(grey.shape[1], ox + math.ceil(line.x1 / scale)),
                min(grey.shape[0], oy + math.ceil(line.y1 / scale)),
            )
            if any(_covered(box, k) >= _EXPLAINED for k in known[job]):
                continue
            if _cut_by(box, area_box, grey.shape) and union_cover(box, known[job]) >= _PIECE_OF_KNOWN:
                continue
            line_boxes.append((job, box, scale))
            # Read at the larger of the two resolutions: never from a shrunken crop.
            if scale < 1:
                line_crops.append(grey[box[1] : box[3], box[0] : box[2]])
            else:
                line_crops.append(crop[int(line.y0) : math.ceil(line.y1), int(line.x0) : math.ceil(line.x1)])
    texts = recognize_crops(line_crops, settings)
    per_job: list[list[tuple[Reading, float]]] = [[] for _ in jobs]
    for (job, box, scale), (text, conf) in zip(line_boxes, texts, strict=True):
        per_job[job].append((Reading(box, text, conf), scale))
    return per_job


def _cut_by(line: Box, area: Box, shape: tuple[int, int]) -> bool:
    """Whether ``line`` touches a side of ``area`` that is not the frame's edge (the line may go on beyond it)."""
    rows, cols = shape
    return (
        (line[0] <= area[0] and area[0] > 0)
        or (line[1] <= area[1] and area[1] > 0)
        or (line[2] >= area[2] and area[2] < cols)
        or (line[3] >= area[3] and area[3] < rows)
    )


def _ink_box(box: Box, shape: tuple[int, int]) -> Box:
    # One pixel around the stroke pixels: the faint anti-aliased edge of the glyphs lies below the stroke threshold.
    return grown(box, shape, 1)


def _line_crop(grey: np.ndarray, box: Box) -> np.ndarray:
    """The recogniser's view of one line: the ink with a quarter line of background around it, as CRAFT boxes have."""
    height = box[3] - box[1]
    x0, y0, x1, y1 = grown(box, grey.shape, max(2, height // 4))
    return grey[y0:y1, x0:x1]


def _drop_coarse_duplicates(readings: list[tuple[Reading, float]]) -> list[Reading]:
    """Drop half-size readings whose box is mostly covered by readings made at full size or larger.

    The half-size pass over speckle and anatomy also sees the small text lines that were read upscaled; its readings
    of them are poorer and add nothing.
    """
    fine = [r for r, scale in readings if scale >= 1]
    kept = list(fine)
    for reading, scale in readings:
        if scale < 1 and union_cover(reading.box, [f.box for f in fine]) < 0.5:
            kept.append(reading)
    return kept


def _compact(text: str) -> str:
    return "".join(text.split()).casefold()


def _drop_repeats(readings: list[Reading]) -> list[Reading]:
    """Drop a reading that lies inside a larger one of the same frame whose text already contains its text.

    Overlapping areas (a line also inside a larger stroke area) make the detector see some lines twice, sometimes
    split into words; the whole-line reading is kept.
    """
    by_area = sorted(readings, key=lambda r: _area(r.box), reverse=True)
    kept: list[Reading] = []
    for reading in by_area:
        inside = [k for k in kept if _covered(reading.box, k.box) >= 0.8]
        if not any(_compact(reading.text) in _compact(k.text) for k in inside):
            kept.append(reading)
    return kept


def _covered(inner: Box, outer: Box) -> float:
    ix = max(0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    iy = max(0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    area = _area(inner)
    return ix * iy / area if area else 1.0


def scan_frames(
    frames: np.ndarray,
    settings: EngineSettings,
    min_contrast: int = 16,
    known: Sequence[TextRegion] = (),
    within: np.ndarray | None = None,
) -> list[TextRegion]:
    """Find the text on every frame of an OCR view.

    Args:
        frames: ``(F, H, W)`` uint8 OCR view.
        settings: engine settings.
        min_contrast: smallest stroke contrast (grey levels) the text-presence test treats as possible text.
        known: text already read on these frames (in another view of them): lines it explains are not read again.
        within: optional ``(H, W)`` uint8 mask: only strokes touching its non-zero pixels are read (areas of every
            frame). Its values 1, 2, ... mark zones, each with a stroke test of its own (:func:`plan_zones`); the
            zones of a frame are read together.

    Returns:
        one region per distinct text at one place, listing every frame it is on; boxes in frame pixels.
    """
    groups = distinct_frames(frames)
    firsts = sorted(groups)
    reference = frames[firsts[0]]
    zones = _zones(within)
    ref_work = _unread(plan_zones(reference, settings, min_contrast, zones), firsts[0], known)
    ref_readings = read_frames([ref_work], settings)[0]
    per_frame: dict[int, list[Reading]] = {firsts[0]: ref_readings}
    jobs: list[FrameWork] = []
    for index in firsts[1:]:
        frame = frames[index]
        changed = changed_mask(frame, reference)
        kept = [r for r in ref_readings if unchanged(changed, r.box)]
        search = [changed if zone is None else changed & zone for zone in zones]
        work = _unread(plan_zones(frame, settings, min_contrast, search), index, known)
        # Reference lines whose pixels changed are read again on this frame, even if the stroke test saw nothing.
        redo = [r for r in ref_readings if r not in kept]
        lines = [r.box for r in redo if not r.turned]
        turned = [*work.turned, *(r.box for r in redo if r.turned and r.box not in work.turned)]
        if settings.detector == "craft":
            areas = [CandidateArea(with_context(b, frame.shape), upscale_for(b[3] - b[1])) for b in lines]
            work = FrameWork(frame, [*work.areas, *areas], work.lines, turned)
        else:
            work = FrameWork(frame, work.areas, [*work.lines, *(b for b in lines if b not in work.lines)], turned)
        per_frame[index] = kept
        jobs.append(work)
    # The other frames depend only on the reference, so their areas are read together in one batched pass.
    for index, readings in zip(firsts[1:], read_frames(jobs, settings), strict=True):
        per_frame[index] = per_frame[index] + readings
    return _merge(per_frame, groups)


def _unread(work: FrameWork, index: int, known: Sequence[TextRegion]) -> FrameWork:
    """``work`` without the lines and areas of frame ``index`` that known text on it already explains."""
    boxes = [r.box for r in known if index in r.frames]
    if not boxes:
        return work
    lines = [b for b in work.lines if union_cover(b, boxes) < _EXPLAINED]
    areas = [a for a in work.areas if union_cover(a.box, boxes) < _EXPLAINED]
    turned = [b for b in work.turned if union_cover(b, boxes) < _EXPLAINED]
    return FrameWork(work.grey, areas, lines, turned)


def _same_text(a: str, b: str) -> bool:
    return "".join(a.split()).casefold() == "".join(b.split()).casefold()


def _merge(per_frame: dict[int, list[Reading]], groups: dict[int, list[int]]) -> list[TextRegion]:
    regions: list[TextRegion] = []
    for first in sorted(per_frame):
        members = groups[first]
        for reading in per_frame[first]:
            for i, region in enumerate(regions):
                if _same_text(region.text, reading.text) and iou(region.box, reading.box) >= 0.5:
                    regions[i] = TextRegion(
                        frames=tuple(sorted(set(region.frames) | set(members))),
                        box=box_union(region.box, reading.box),
                        text=region.text,
                        confidence=max(region.confidence, reading.confidence),
                    )
                    break
            else:
                regions.append(TextRegion(tuple(members), reading.box, reading.text, reading.confidence))
    return regions
