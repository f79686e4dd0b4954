"""PHI spans in free text (header descriptions, comments), for ScrubMetadata's Clean Descriptors option."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from pydicom.dataset import Dataset

from .allowlist import Allowlist, load_placeholders
from .header_values import HeaderValue, collect_header_values
from .matching import HeaderMatcher
from .ner import NerTagger
from .patterns import find_patterns

__all__ = ["find_phi_spans"]


@lru_cache(maxsize=1)
def _default_allowlist() -> Allowlist:
    return Allowlist()


def _matcher(header_values: Dataset | Iterable[HeaderValue] | HeaderMatcher | None) -> HeaderMatcher | None:
    if header_values is None or isinstance(header_values, HeaderMatcher):
        return header_values
    values = collect_header_values(header_values) if isinstance(header_values, Dataset) else header_values
    return HeaderMatcher(values, _default_allowlist().is_term, load_placeholders())


def find_phi_spans(
    text: str,
    header_values: Dataset | Iterable[HeaderValue] | HeaderMatcher | None = None,
    ner: NerTagger | None = None,
) -> list[tuple[int, int, str]]:
    """Character spans of PHI in ``text``, merged where they overlap, in order.

    Unlike region classification there is no allowlist or doubt rule here: free text is prose, and only positive
    evidence (a header value, a PHI pattern, an NER entity) marks a span.

    Args:
        text: the free text (PHI; never logged).
        header_values: the file's header, its collected values, or a prebuilt matcher (reuse it for many texts).
        ner: an optional NER tagger.

    Returns:
        ``(start, end, reason)`` with PHI-free reason codes (``"header:PatientName"``, ``"pattern:date"``,
        ``"ner:PATIENT"``); where spans overlap the merged span keeps the reason of the first-ranked source
        (header, then pattern, then NER).
    """
    matcher = _matcher(header_values)
    spans = [(m.start, m.end, f"header:{m.keyword}") for m in (matcher.find(text) if matcher else [])]
    spans += [(m.start, m.end, f"pattern:{m.category}") for m in find_patterns(text)]
    if ner is not None:
        spans += [(s.start, s.end, f"ner:{s.category}") for s in ner.find([text])[0]]
    merged: list[tuple[int, int, str]] = []
    for start, end, reason in sorted(spans, key=lambda s: s[0]):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, reason))
    return merged
