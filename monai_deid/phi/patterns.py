"""PHI patterns: dates, times, date-times, ages over 89, phone numbers, e-mail, SSN-like numbers, long digit runs,
MRN/accession-style identifiers, labelled identity fields and titled names.

Patterns run on the OCR *digit view* of the text (confusable letters read as digits inside number-like runs, see
``text_norm``), so ``"5/25/2O11"`` or ``"0g: 04"`` still read as a date and a time. The view has the text's length,
so the spans index the original text.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .text_norm import digit_view

__all__ = ["PatternMatch", "find_patterns"]

_MON = (
    r"(?:JAN(?:UARY)?|FEB(?:RUARY)?|MAR(?:CH)?|APR(?:IL)?|MAY|JUNE?|JULY?|AUG(?:UST)?|SEP(?:T(?:EMBER)?)?|"
    r"OCT(?:OBER)?|NOV(?:EMBER)?|DEC(?:EMBER)?)(?![A-Z])\.?"
)
_SEP = r"\s?[/.\-]\s?"
_CLOCK = r"(?:[01]?\d|2[0-3])"
_AMPM = r"(?:\s?[AP]\.?\s?M\.?)"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("email", re.compile(r"[\w.+\-]+\s?@\s?[\w\-]+(?:\.[\w\-]+)+")),
    ("url", re.compile(r"(?:https?://|www\.)\S+", re.I)),
    ("ssn", re.compile(r"(?<!\d)\d{3}[\- ]\d{2}[\- ]\d{4}(?!\d)")),
    ("phone", re.compile(r"(?<![\d.])(?:\+?\d{1,3}[\s.\-]?)?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]\d{4}(?![\d.])")),
    ("phone", re.compile(r"(?<!\w)\+\d{1,3}(?:[\s.\-]?\d{2,4}){2,4}(?!\d)")),
    ("phone", re.compile(r"(?<![\d.\-])\d{3}-\d{4}(?![\d.\-])")),
    ("phone", re.compile(r"\b(?:TEL|PHONE|PH|FAX|CELL|MOBILE)\.?\s?[:#=]?\s?\+?\(?\d[\d\s().\-]{5,}\d", re.I)),
    ("datetime", re.compile(r"(?<!\d)(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[T ]?\d{4,6}(?!\d)")),
    ("date", re.compile(rf"(?<![\d.])\d{{1,2}}{_SEP}\d{{1,2}}{_SEP}(?:\d{{4}}|\d{{2}})(?![\d%])")),
    # a date with its year cut off by the frame's edge or the next region ("12/04/1", "12-04-19")
    ("date", re.compile(r"(?<![\d.])\d{1,2}([/\-])\d{1,2}\1\d{0,3}$")),
    # a day and a month without the year, in either order, both of two digits ("17/01", "01/17")
    (
        "date",
        re.compile(
            r"(?<![\w./\-])(?:(?:0[1-9]|[12]\d|3[01])/(?:0[1-9]|1[0-2])|(?:0[1-9]|1[0-2])/(?:0[1-9]|[12]\d|3[01]))(?![\d./%])"
        ),
    ),
    ("date", re.compile(rf"(?<![\d.])(?:19|20)\d{{2}}{_SEP}\d{{1,2}}{_SEP}\d{{1,2}}(?!\d)")),
    ("date", re.compile(r"(?<!\d)(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)")),
    (
        "date",
        re.compile(rf"(?<!\d)\d{{1,2}}(?:ST|ND|RD|TH)?[\s./\-]?{_MON}(?:[\s./,\-]*(?:\d{{4}}|\d{{2}}))?(?!\d)", re.I),
    ),
    ("date", re.compile(rf"\b{_MON}[\s./\-]?\d{{1,2}}(?:ST|ND|RD|TH)?(?:,?[\s./\-]*(?:\d{{4}}|\d{{2}}))?(?!\d)", re.I)),
    ("date", re.compile(rf"\b{_MON}[\s./,\-]*(?:19|20)\d{{2}}(?!\d)", re.I)),
    ("date", re.compile(r"(?<![\d.])(?:0?[1-9]|1[0-2])\s?[/\-]\s?(?:19|20)\d{2}(?!\d)")),
    ("time", re.compile(rf"(?<![\d.]){_CLOCK}\s?:\s?[0-5]\d(?:\s?[:.]\s?[0-5]\d)?{_AMPM}?(?!\d)", re.I)),
    ("time", re.compile(rf"(?<![\d.]){_CLOCK}\s?\.\s?[0-5]\d\s?:\s?[0-5]\d(?!\d)")),
    ("time", re.compile(r"(?<![\d.])(?:1[0-2]|0?[1-9])(?:[.:][0-5]\d)?\s?[AP]\.?M\.?\b", re.I)),
    ("age", re.compile(r"(?<![\d.])(?:9\d|1[0-4]\d)\s?(?:Y|YO|YR|YRS|YEARS?|Y/O|-?YEARS?-?OLD)\b", re.I)),
    ("age", re.compile(r"\bAGE\s?[:=]?\s?(?:9\d|1[0-4]\d)(?!\d)", re.I)),
    (
        "id",
        re.compile(
            r"\b(?:MRN|MR#|MR|PID|PATID|PTID|PAT\s?ID|PT\s?ID|ID|ACC|ACCN|ACC#|ACCESSION|CASE|EXAM#|REG|"
            r"SSN|NHS|NO)\s?[#:.=\-]?\s?[A-Z0-9\-]*\d{3,}[A-Z0-9\-]*",
            re.I,
        ),
    ),
    ("id", re.compile(r"\b[A-Z]{1,4}\d{5,}[A-Z]{0,3}\b|\b\d{5,}[A-Z]{1,4}\b", re.I)),
    ("id", re.compile(r"(?<![\d.])\d{2,}(?:[\s\-]\d{2,}){2,}(?![\d.])")),
    ("digits", re.compile(r"\d{5,}")),
    (
        "label",
        re.compile(
            r"\b(?:NAME|PATIENT|PT\.?\s?NAME|PAT|DOB|D\.O\.B\.?|BIRTH|BORN|BIRTHDATE|ADDRESS|ADDR|"
            r"PHONE|TEL|PHYSICIAN|PHYS|DOCTOR|REF(?:ERRING)?(?:\s?(?:DR|PHYS(?:ICIAN)?))?|"
            r"OPERATOR|OPER|SONOGRAPHER|SONO|TECH|TECHNOLOGIST|INSTITUTION|INST|HOSPITAL|"
            r"PERFORMED\s?BY|READ\s?BY|ATTENDING)\s?[:#=]\s*\S.*",
            re.I,
        ),
    ),
    # a birth date shown after its label without a colon ("DOB 12.04", "Born 1957")
    ("label", re.compile(r"\b(?:DOB|D\.O\.B\.?|BIRTH\s?DATE|BIRTH|BORN)\s?[:#=.]?\s?\d.*", re.I)),
    ("name_title", re.compile(r"\b(?:DR\.?|MRS\.?|MISS|PROF\.?|MR\.|MS\.)\s?[A-Z][A-Za-z'\-]+", re.I)),
]


class PatternMatch(NamedTuple):
    """A PHI pattern hit: category (``"date"``, ``"time"``, ...), character span, score in ``[0, 1]``."""

    category: str
    start: int
    end: int
    score: float


_AS_READ = {"id", "digits"}
_SCORES = {"email": 1.0, "ssn": 1.0, "url": 1.0, "phone": 0.95, "date": 0.95, "datetime": 0.95, "time": 0.9}


def find_patterns(text: str) -> list[PatternMatch]:
    """All PHI pattern hits in ``text`` (possibly overlapping), in order of position.

    Args:
        text: an OCR reading or a free-text header value (PHI; never logged).
    """
    view = digit_view(text)
    found = []
    for category, rx in _PATTERNS:
        # identifiers are looked for as read: folding "22G22" into "22622" would invent a digit run, and an ID
        # misread with letters is still caught as an unexplained word by the policy
        for m in rx.finditer(text if category in _AS_READ else view):
            found.append(PatternMatch(category, m.start(), m.end(), _SCORES.get(category, 0.85)))
    return sorted(found, key=lambda m: (m.start, -m.end))
