"""Combining the evidence into one decision per text region, under a named policy.

Order matters and is fixed: PHI evidence (header value, PHI pattern, NER entity) is looked at first; the allowlist
can only keep text that has none. Under ``sensitive`` a text with words nobody accounts for is PHI when any of them
could be an identifier (``policy:doubt``); OCR confidence never makes text safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .allowlist import AllowlistResult
from .matching import HeaderMatch
from .ner import NerSpan
from .patterns import PatternMatch

__all__ = ["DOUBT_REASON", "POLICIES", "Decision", "Evidence", "decide"]

#: ``sensitive``: PHI evidence or doubt -> PHI; ``all_text``: everything not on the allowlist; ``none``: nothing
POLICIES = ("sensitive", "all_text", "none")
#: The reason of text that no evidence explains and that may hold an identifier (PHI under ``sensitive``).
DOUBT_REASON = "policy:doubt"
_DOUBT_SCORE = 0.5


@dataclass
class Evidence:
    """What the evidence sources found in one text (PHI-free to hold; the spans index the text).

    Args:
        has_text: the text holds at least one letter or digit.
        header: best header-value match, if any.
        pattern: best PHI-pattern hit, if any.
        ner: best NER entity, if any.
        allowlist: how the allowlist accounts for the text.
    """

    has_text: bool
    header: HeaderMatch | None
    pattern: PatternMatch | None
    ner: NerSpan | None
    allowlist: AllowlistResult


class Decision(NamedTuple):
    """A region's label: PHI or not, the PHI-free reason code, and the deciding evidence's score."""

    is_phi: bool
    reason: str
    score: float


def _phi_evidence(ev: Evidence) -> Decision | None:
    if ev.header is not None:
        return Decision(True, f"header:{ev.header.keyword}", ev.header.score)
    if ev.pattern is not None:
        return Decision(True, f"pattern:{ev.pattern.category}", ev.pattern.score)
    if ev.ner is not None:
        return Decision(True, f"ner:{ev.ner.category}", ev.ner.score)
    return None


def decide(ev: Evidence, policy: str = "sensitive") -> Decision:
    """The decision for one text region.

    Args:
        ev: the evidence found in the region's text.
        policy: one of ``POLICIES``.

    Raises:
        ValueError: unknown policy.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown PHI policy {policy!r}; expected one of {POLICIES}")
    if policy == "none":
        return Decision(False, "policy:none", 1.0)
    if not ev.has_text:
        return Decision(False, "policy:no_text", 1.0)
    found = _phi_evidence(ev)
    if found is not None:
        return found
    if ev.allowlist.covered:
        return Decision(False, f"allowlist:{ev.allowlist.section}", 1.0)
    if policy == "all_text":
        return Decision(True, "policy:all_text", 1.0)
    # any unexplained word of two or more characters, or in a non-Latin script (one CJK character can be a
    # surname), may be a name or an ID: in doubt, redact
    if any(t.end - t.start >= 2 or not t.skel.isascii() for t in ev.allowlist.uncovered):
        return Decision(True, DOUBT_REASON, _DOUBT_SCORE)
    return Decision(False, "policy:no_evidence", _DOUBT_SCORE)
