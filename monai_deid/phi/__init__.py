"""ClassifyPHI: which burned-in text is PHI, from header values, patterns, the clinical allowlist and NER."""

from .allowlist import Allowlist, AllowlistResult
from .classify import ClassifyPHI, ClassifyPHId
from .free_text import find_phi_spans
from .header_values import HeaderValue, collect_header_values
from .matching import HeaderMatch, HeaderMatcher
from .ner import DEFAULT_NER_MODEL, NerLabelError, NerSpan, NerTagger
from .patterns import PatternMatch, find_patterns
from .policy import POLICIES, Decision, Evidence, decide
from .renderings import render

__all__ = [
    "DEFAULT_NER_MODEL",
    "POLICIES",
    "Allowlist",
    "AllowlistResult",
    "ClassifyPHI",
    "ClassifyPHId",
    "Decision",
    "Evidence",
    "HeaderMatch",
    "HeaderMatcher",
    "HeaderValue",
    "NerLabelError",
    "NerSpan",
    "NerTagger",
    "PatternMatch",
    "collect_header_values",
    "decide",
    "find_patterns",
    "find_phi_spans",
    "render",
]
