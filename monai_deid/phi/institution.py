"""Institution cues: words that name a kind of institution (``MEDICAL``, ``HOSPITAL``, ``CLINIC``, ``MED CTR``).

A text that shows a cue is part of an institution name, which is PHI even when the file's header does not hold
it (``pattern:institution``); ``line_context`` spreads the evidence to the rest of the name on the same line. The
cues are data (``institution_cues.txt`` next to this module) and are compared on OCR skeletons (``text_norm``), so
``MED1CAL`` is still ``MEDICAL``. A cue inside a multi-word term of the clinical vocabulary (the vendor
``GE MEDICAL SYSTEMS``) is the term.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from .patterns import PatternMatch
from .text_norm import tokenize

__all__ = ["InstitutionCues"]

_SCORE = 0.85


def _load_cues() -> frozenset[tuple[str, ...]]:
    text = resources.files(__package__).joinpath("institution_cues.txt").read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    cues = (tuple(t.skel for t in tokenize(line)) for line in lines if line and not line.startswith("#"))
    return frozenset(c for c in cues if c)


class InstitutionCues:
    """Finds institution cues in OCR text."""

    def __init__(self) -> None:
        self._cues = _load_cues()
        self._longest = max(map(len, self._cues))

    def find(self, text: str, terms: Sequence[tuple[int, int, str]] = ()) -> list[PatternMatch]:
        """Where ``text`` shows an institution cue, as ``pattern:institution`` hits.

        Args:
            text: an OCR reading (PHI; never logged).
            terms: ``(start, end, section)`` of multi-word vocabulary terms in ``text`` (``AllowlistResult.terms``);
                cues inside them do not count.

        Returns:
            one hit per cue found, in order of position.
        """
        tokens = tokenize(text)
        found = []
        for i in range(len(tokens)):
            for n in range(min(self._longest, len(tokens) - i), 0, -1):
                start, end = tokens[i].start, tokens[i + n - 1].end
                if tuple(t.skel for t in tokens[i : i + n]) in self._cues:
                    if not any(s <= start and end <= e for s, e, _ in terms):
                        found.append(PatternMatch("institution", start, end, _SCORE))
                    break
        return found
