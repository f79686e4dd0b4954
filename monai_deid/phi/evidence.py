"""Gathering the evidence of one text: header values, PHI patterns, NER entities and the allowlist."""

from __future__ import annotations

from collections.abc import Sequence

from .allowlist import Allowlist, AllowlistResult
from .institution import InstitutionCues
from .matching import HeaderMatcher
from .ner import NerSpan
from .patterns import find_patterns
from .policy import Evidence
from .text_norm import closed_up, tokenize

__all__ = ["gather_evidence"]


def gather_evidence(
    text: str,
    matcher: HeaderMatcher | None,
    allowlist: Allowlist,
    ner_spans: Sequence[NerSpan] = (),
    cues: InstitutionCues | None = None,
    line_term: str | None = None,
) -> Evidence:
    """The evidence found in ``text`` by every source (the best hit of each).

    Args:
        text: an OCR reading (PHI; never logged); its letter-spaced words are read as words (``closed_up``).
        matcher: the file's header-value matcher (``None`` when there is no header).
        allowlist: the clinical allowlist.
        ner_spans: the entities the NER model found in ``text``.
        cues: institution cues (``pattern:institution``); ``None``: not looked for.
        line_term: allowlist section of the multi-word vocabulary term that ``text`` is a piece of, split over
            several regions of its line (``line_terms``), or ``None``. As inside a term of one text, header values
            made only of vocabulary words and institution cues do not count in such a piece, and the term accounts
            for its words.
    """
    text = closed_up(text)  # "J O H N" is the word JOHN, not four letters each harmless alone
    header = matcher.find(text) if matcher else []
    explained = allowlist.explain(text)
    if line_term is not None:
        header = [m for m in header if not m.vocabulary_only]
        explained = AllowlistResult(True, line_term, [], [(0, len(text), line_term)])
    patterns = find_patterns(text) + (cues.find(text, explained.terms) if cues else [])
    return Evidence(
        has_text=bool(tokenize(text)),
        header=header[0] if header else None,
        pattern=max(patterns, key=lambda m: m.score) if patterns else None,
        ner=max(ner_spans, key=lambda s: s.score) if ner_spans else None,
        allowlist=explained,
    )
