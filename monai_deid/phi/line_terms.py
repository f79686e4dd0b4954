"""Clinical terms split over regions: text detectors cut one line into pieces (``"Gen"`` ``"OB"``), and a piece
that reads as a clinical term only together with its neighbours (the preset ``"GEN OB"``) is that term.

The header matcher and the institution cues already discount clinical-vocabulary words inside a multi-word term of
one text (a patient named ``"OB"`` is not seen in the preset ``"Gen OB"``; ``"MEDICAL"`` in the vendor
``"GE MEDICAL SYSTEMS"`` is no institution); this module finds the pieces for which the same holds on their line, so
that a split line is judged as it would be unsplit. Evidence with distinctive words (a name, an ID, a date) is never
discounted.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..regions import TextRegion
from .allowlist import Allowlist
from .line_context import line_chains

__all__ = ["pieces_of_line_terms"]


def _pieces_of_terms(chain: list[int], regions: Sequence[TextRegion], allowlist: Allowlist) -> dict[int, str]:
    joined, spans = "", []
    for i in chain:
        start = len(joined) + (1 if joined else 0)
        joined = f"{joined} {regions[i].text}" if joined else regions[i].text
        spans.append((i, start, len(joined)))
    found: dict[int, str] = {}
    for term_start, term_end, section in allowlist.explain(joined).terms:
        inside = [i for i, s, e in spans if term_start <= s and e <= term_end]
        if len(inside) > 1:
            found |= dict.fromkeys(inside, section)
    return found


def pieces_of_line_terms(regions: Sequence[TextRegion], allowlist: Allowlist) -> dict[int, str]:
    """Indices of regions that are pieces of a multi-word vocabulary term spread over several regions of a line.

    Args:
        regions: the text regions of one image.
        allowlist: the clinical allowlist (its multi-word terms).

    Returns:
        region index -> the allowlist section of the term, for the regions wholly inside such a term.
    """
    found: dict[int, str] = {}
    for chain in line_chains(regions):
        found |= _pieces_of_terms(chain, regions, allowlist)
    return found
