"""Line context: text detectors split one line of burned-in text into several regions ("BAPTIST" "MED" "CTR",
"+2:0" "9:04", "*WESTWAY MEDI" "CAL*"). A piece that is harmless alone can be PHI as part of its line:

* a header value, PHI pattern or institution cue that shows only when neighbouring regions are read together
  (``"MED"`` ``"CTR"``);
* pieces that touch or overlap are one word cut in two: if one piece is PHI, so is the other;
* a bare number right next to a date or time is a piece of it;
* single letters spaced wide apart, or stacked one per row, are read as one word (``"Z" "E" "B" ...``);
* an institution name fills its line: once a piece shows an institution cue or the header's institution, the
  other pieces of the line are the rest of the name (``"*WESTWAY"`` next to ``"MEDICAL*"``);
* and its block: a line of words (no digits: not a parameter readout) stacked right under or over an institution
  line, within its width, is the rest of the name (the department ``"ULTRASOUND"`` under ``"*WESTWAY MEDICAL*"``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

from ..regions import TextRegion
from .allowlist import Allowlist
from .institution import InstitutionCues
from .matching import HeaderMatcher
from .patterns import find_patterns
from .policy import DOUBT_REASON
from .text_norm import closed_up_kept, digit_view

__all__ = ["column_chains", "line_chains", "line_context_evidence"]

_GAP_HEIGHTS = 1.5  # neighbours on a line are at most this many text heights apart
_LETTER_GAP_HEIGHTS = 3.0  # ... and letters read one by one (spaced out) this many
_LETTER_CHARS = 2  # a reading of at most this many letters or digits may be one letter of a spaced-out word
_GLUED_HEIGHTS = 0.25  # pieces closer than this are one word cut in two
_NEXT_TO_HEIGHTS = 1.0  # a number this close to a date or time belongs to it
_OVERLAP = 0.5  # neighbours overlap vertically by at least this share of the smaller height
_STACKED_HEIGHTS = 0.5  # a line this close under or over an institution line belongs to its block
_NUMERIC = re.compile(r"[\s\d+\-/:.,']+")
_TEMPORAL_REASONS = ("pattern:date", "pattern:time", "pattern:datetime")
_INSTITUTION_REASONS = ("pattern:institution", "header:Institution")  # prefixes: header:InstitutionName, ...


def _height(r: TextRegion) -> int:
    return max(1, r.box[3] - r.box[1])


def _gap(a: TextRegion, b: TextRegion) -> int:
    return b.box[0] - a.box[2]


def _shared_frame(a: TextRegion, b: TextRegion) -> bool:
    return not a.frames or not b.frames or bool(set(a.frames) & set(b.frames))


def _is_letter(r: TextRegion) -> bool:
    return 0 < sum(c.isalnum() for c in r.text) <= _LETTER_CHARS


def _same_line(a: TextRegion, b: TextRegion) -> bool:
    overlap = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
    reach = _LETTER_GAP_HEIGHTS if _is_letter(a) and _is_letter(b) else _GAP_HEIGHTS
    return (
        _shared_frame(a, b)
        and overlap >= _OVERLAP * min(_height(a), _height(b))
        and _gap(a, b) <= reach * max(_height(a), _height(b))
        and b.box[0] >= a.box[0]
    )


def _same_column(a: TextRegion, b: TextRegion) -> bool:
    """Whether the letter ``b`` stands right under the letter ``a`` (a word written one letter per row)."""
    overlap = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0])
    width = min(a.box[2] - a.box[0], b.box[2] - b.box[0])
    gap = b.box[1] - a.box[3]
    return (
        _is_letter(a)
        and _is_letter(b)
        and _shared_frame(a, b)
        and overlap >= _OVERLAP * max(width, 1)
        and -_OVERLAP * _height(a) <= gap <= max(_height(a), _height(b))
    )


def column_chains(regions: Sequence[TextRegion]) -> list[list[int]]:
    """Indices of letters stacked one per row, top to bottom; chains of three or more only."""
    return _chains(regions, axis=1, follows=_same_column, shortest=3)


def line_chains(regions: Sequence[TextRegion]) -> list[list[int]]:
    """Indices of regions that read as one line, left to right; chains of two or more regions only."""
    return _chains(regions, axis=0, follows=_same_line, shortest=2)


def _chains(
    regions: Sequence[TextRegion],
    axis: int,
    follows: Callable[[TextRegion, TextRegion], bool],
    shortest: int,
) -> list[list[int]]:
    """Chains of region indices in reading order along ``axis`` (0: x, 1: y), each region following the last one
    of its chain (``follows(last, next)``), of ``shortest`` regions or more; a region is in one chain at most."""
    order = sorted(range(len(regions)), key=lambda i: (regions[i].box[axis], regions[i].box[1 - axis]))
    chains: list[list[int]] = []
    used: set[int] = set()
    for first in order:
        if first in used:
            continue
        chain = [first]
        for nxt in order:
            if nxt not in used and nxt not in chain and follows(regions[chain[-1]], regions[nxt]):
                chain.append(nxt)
        if len(chain) >= shortest:
            used.update(chain)
            chains.append(chain)
    return chains


def _joined_evidence(
    chain: list[int],
    regions: Sequence[TextRegion],
    matcher: HeaderMatcher | None,
    cues: tuple[InstitutionCues, Allowlist] | None,
) -> dict[int, tuple[str, float]]:
    raw, owners = "", []
    for i in chain:
        separator = " " if raw else ""
        owners += [None] * len(separator) + [i] * len(regions[i].text)
        raw += separator + regions[i].text
    # a letter-spaced word cut into pieces ("J O" "H N") is read whole
    joined, kept = closed_up_kept(raw)
    owner = [owners[k] for k in kept]
    patterns = find_patterns(joined) + (cues[0].find(joined, cues[1].explain(joined).terms) if cues else [])
    hits = [(m.start, m.end, f"header:{m.keyword}", m.score) for m in (matcher.find(joined) if matcher else [])]
    hits += [(m.start, m.end, f"pattern:{m.category}", m.score) for m in patterns]
    found: dict[int, tuple[str, float]] = {}
    for start, end, reason, score in hits:
        covered = [i for i in chain if i in owner[start:end]]
        if len(covered) > 1:
            for i in covered:
                found.setdefault(i, (reason, score * 0.9))
    return found


def _neighbour_evidence(a: TextRegion, b: TextRegion) -> tuple[str, float] | None:
    """Evidence that spreads from the PHI region ``a`` to its neighbour ``b`` (not PHI yet)."""
    gap = _gap(a, b) if a.box[0] <= b.box[0] else _gap(b, a)  # negative: the boxes overlap
    height = max(_height(a), _height(b))
    if gap <= _GLUED_HEIGHTS * height:
        return a.reason or DOUBT_REASON, (a.score or 0.5) * 0.9
    if a.reason in _TEMPORAL_REASONS and gap <= _NEXT_TO_HEIGHTS * height and _NUMERIC.fullmatch(digit_view(b.text)):
        return a.reason, (a.score or 0.5) * 0.9
    return None


def _institution_line(
    chain: list[int], labelled: Sequence[TextRegion], found: dict[int, tuple[str, float]]
) -> tuple[str, float] | None:
    """The institution evidence of the best-scored piece of the line that shows one, if any."""
    shown = [(r.reason, r.score or 0.5) for r in (labelled[i] for i in chain) if r.is_phi and r.reason]
    shown += [found[i] for i in chain if i in found]
    evidence = [(reason, score) for reason, score in shown if reason.startswith(_INSTITUTION_REASONS)]
    return max(evidence, key=lambda e: e[1]) if evidence else None


def line_context_evidence(
    labelled: Sequence[TextRegion],
    matcher: HeaderMatcher | None,
    cues: tuple[InstitutionCues, Allowlist] | None = None,
) -> dict[int, tuple[str, float]]:
    """Reason code and score for kept regions that are PHI as part of their line.

    Args:
        labelled: the regions of one image, already labelled one by one.
        matcher: the file's header-value matcher.
        cues: institution cues and the allowlist (its multi-word terms hide cues); ``None``: no cues looked for
            in joined pieces (institution evidence found in single pieces still fills the line).

    Returns:
        region index -> (reason, score) for regions that must become PHI.
    """
    found: dict[int, tuple[str, float]] = {}
    chains = line_chains(labelled)
    for chain in chains:
        for i, evidence in _joined_evidence(chain, labelled, matcher, cues).items():
            if not labelled[i].is_phi:
                found.setdefault(i, evidence)
        institution = _institution_line(chain, labelled, found)
        if institution is not None:
            for i in chain:
                if not labelled[i].is_phi:
                    found.setdefault(i, (institution[0], institution[1] * 0.9))
        for left, right in itertools.pairwise(chain):
            for a, b in ((left, right), (right, left)):
                if labelled[a].is_phi and not labelled[b].is_phi and b not in found:
                    evidence = _neighbour_evidence(labelled[a], labelled[b])
                    if evidence:
                        found[b] = evidence
    _institution_block(labelled, chains, found)
    for chain in column_chains(labelled):
        for i, evidence in _joined_evidence(chain, labelled, matcher, cues).items():
            if not labelled[i].is_phi:
                found.setdefault(i, evidence)
    return found


def _institution_block(
    labelled: Sequence[TextRegion], chains: list[list[int]], found: dict[int, tuple[str, float]]
) -> None:
    """Add to ``found`` the kept regions stacked right under or over an institution line, within its width."""
    lines = {i: chain for chain in chains for i in chain}
    for i, region in enumerate(labelled):
        reason, score = found.get(i) or (region.reason if region.is_phi else None, region.score or 0.5)
        if not reason or not reason.startswith(_INSTITUTION_REASONS):
            continue
        members = [labelled[k] for k in lines.get(i, [i])]
        box = (min(r.box[0] for r in members), min(r.box[1] for r in members))
        box += (max(r.box[2] for r in members), max(r.box[3] for r in members))
        for j, other in enumerate(labelled):
            words = not any(c.isdigit() for c in other.text)
            if words and not other.is_phi and j not in found and _stacked(box, other.box):
                found[j] = (reason, score * 0.9)


def _stacked(line: tuple[int, int, int, int], box: tuple[int, int, int, int]) -> bool:
    """Whether ``box`` lies right under or over ``line`` and within its width."""
    height = max(line[3] - line[1], box[3] - box[1], 1)
    gap = max(box[1] - line[3], line[1] - box[3])
    return gap <= _STACKED_HEIGHTS * height and line[0] <= box[0] + 2 and box[2] <= line[2] + 2
