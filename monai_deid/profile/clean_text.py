"""Clean Descriptors / Clean Structured Content: free text keeps its clinical words and loses identifying ones.

Removed: every identifying value the header itself holds (names in their common renderings, IDs with or without
separators) and anything that looks like a date, a UID, an identifier with many digits, a phone number or an e-mail
address. The matcher of burned-in text in ``monai_deid.phi`` covers similar ground for OCR text; this one is kept
small on purpose because header text is short and typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache

__all__ = ["TextCleaner", "fold_accents", "name_renderings"]

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_PATTERNS = [
    r"\d+(?:\.\d+){3,}",  # UIDs and dotted identifiers
    r"(?<!\d)(?:19|20)\d{2}[-/.]?(?:0[1-9]|1[0-2])[-/.]?(?:0[1-9]|[12]\d|3[01])(?!\d)",  # ISO and DICOM dates
    r"(?<!\d)\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})(?!\d)",  # day/month/year in either order
    rf"(?<![a-z0-9])\d{{1,2}}(?:st|nd|rd|th)?[ -]?{_MONTHS}[ ,-]*(?:\d{{4}}|\d{{2}})?(?![a-z0-9])",
    rf"(?<![a-z0-9]){_MONTHS} \d{{1,2}}(?:st|nd|rd|th)?,? ?(?:\d{{4}})?(?![a-z0-9])",
    r"[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+",  # e-mail (a local part is at most 64 characters)
    r"(?<![\w])\+?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]\d{3,4}(?![\w])",  # phone numbers
    r"(?<![\w])(?:mrn|id|acc|no|nr)?[ #:.]{0,3}[a-z]{0,3}[-#]?\d{5,}[a-z0-9-]*(?![\w])",  # long numbers and IDs
    r"(?<![\w])[a-z]{1,4}[-#]?\d{4,}(?![\w])",  # short prefix + 4 or more digits (MRN12345)
]
_MIN_TERM = 2
_BLANKS = re.compile(r"[ \t]{2,}")
_EDGE = " \t\n\r\f\v,;:^-"  # what a cleaned value does not start or end with
# Latin letters with a stroke, which Unicode does not decompose into a base letter and a mark
_STROKED = {"Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d"}


@cache
def _base_letter(char: str) -> str:
    if char in _STROKED:
        return _STROKED[char]
    decomposed = unicodedata.normalize("NFD", char)
    marks_only = len(decomposed) > 1 and all(unicodedata.combining(mark) for mark in decomposed[1:])
    return decomposed[0] if marks_only else char


def fold_accents(text: str) -> str:
    """``text`` with each accented letter replaced by its base letter, one character for one (``José`` -> ``Jose``),
    so that a match in the folded text is a match at the same places in ``text``."""
    return text if text.isascii() else "".join(_base_letter(char) for char in text)


def name_renderings(person_name: str) -> set[str]:
    """Words of a DICOM person name (``Family^Given^Middle^Prefix^Suffix``, any of its groups) worth removing, with
    their accents folded, and the family and given names written together in either order (``DOEJOHN``)."""
    words = set()
    for group in fold_accents(person_name).split("="):
        names = []
        for component in group.split("^"):
            for word in re.split(r"[\s,]+", component):
                word = word.strip(".")
                if len(word) >= _MIN_TERM and not word.isdigit():
                    words.add(word)
                    names.append(word)
        if len(names) >= 2:
            words |= {names[0] + names[1], names[1] + names[0]}
    return words


def _term_variants(term: str) -> set[str]:
    term = fold_accents(term)
    variants = {term.strip()}
    compact = re.sub(r"[^0-9A-Za-z]", "", term)
    if len(compact) >= 3:
        variants.add(compact)
    return {v for v in variants if len(v) >= _MIN_TERM}


class TextCleaner:
    """Removes header PHI values and identifying patterns from free text.

    Args:
        names: person names as found in the header (``PN`` values).
        terms: other identifying values of the header (IDs, numbers, institution and station names).
    """

    def __init__(self, names: Iterable[str] = (), terms: Iterable[str] = ()) -> None:
        words: set[str] = set()
        for name in names:
            words |= name_renderings(name)
        for term in terms:
            words |= _term_variants(term)
        # Longest first, so a full value goes before its parts.
        alternatives = [re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w))]
        parts = [rf"(?<![a-z0-9])(?:{'|'.join(alternatives)})(?![a-z0-9])"] if alternatives else []
        self._regex = re.compile("|".join(parts + _PATTERNS), re.IGNORECASE)

    def __call__(self, text: str) -> str:
        """The text with identifying parts removed and whitespace tidied (multi-values kept apart)."""
        return "\\".join(self._clean_one(value) for value in text.split("\\"))

    def _clean_one(self, value: str) -> str:
        # runs of blanks closed up first: the patterns then never scan a long run again from each of its places
        value = _BLANKS.sub(" ", value)
        kept, start = [], 0
        for match in self._regex.finditer(fold_accents(value)):  # "García" is found as "GARCIA" is
            kept.append(value[start : match.start()])
            start = match.end()
        kept.append(value[start:])
        return _BLANKS.sub(" ", " ".join(kept)).strip(_EDGE)
