"""Text normalisation shared by the PHI evidence sources: OCR-confusion folding and tokenisation with offsets.

OCR readings of burned-in text confuse glyphs that look alike (``O``/``0``, ``I``/``1``/``l``, ``S``/``5``,
``B``/``8``, ``Z``/``2``, ``G``/``6``, ``U``/``V``). Two views fold them in opposite directions:

* the *skeleton* maps every member of a confusion class to one representative, so ``"8APT1ST"`` and ``"BAPTIST"``
  compare equal, and drops diacritics, so the header's ``"Núñez^José"`` and the burned-in ``"NUNEZ JOSE"`` compare
  equal too (the English recogniser reads accented letters as their base letters); header values and vocabulary
  terms are compared on skeletons;
* the *digit view* turns confusable letters into digits inside digit-heavy tokens only, so ``"0g: 04"`` reads
  ``"09: 04"`` for the date/time patterns while ordinary words stay words.

Fuzzier comparisons go through ``within_one_edit`` (any one edit) or ``within_one_ocr_edit`` (one edit that OCR
makes: a thin glyph dropped or added, or one letter read as a look-alike letter), the latter for plain words, where
any one edit would turn one English word into another (``MEDICAL`` / ``MEDIAL``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

__all__ = [
    "Token",
    "closed_up",
    "closed_up_kept",
    "digit_view",
    "skeleton",
    "tokenize",
    "within_one_edit",
    "within_one_ocr_edit",
]

_SKELETON = str.maketrans(
    {
        "0": "O",
        "Q": "O",
        "D": "O",
        "1": "I",
        "L": "I",
        "|": "I",
        "!": "I",
        "5": "S",
        "8": "B",
        "2": "Z",
        "6": "G",
        "U": "V",
    }
)
# upper-case Latin letters that Unicode does not decompose into a base letter and a mark
_UNMARKED = str.maketrans({"Ø": "O", "Æ": "AE", "Œ": "OE", "Ł": "L", "Đ": "D", "Þ": "TH"})
_TO_DIGIT = str.maketrans(
    {"O": "0", "o": "0", "Q": "0", "D": "0", "I": "1", "l": "1", "|": "1", "i": "1", "Z": "2", "z": "2"}
    | {"S": "5", "s": "5", "B": "8", "G": "6", "g": "9", "q": "9"}
)
_CONFUSABLE = set("OoQDIl|iZzSsBGgq")
# on skeletons: thin glyphs OCR drops or adds, and letter pairs it reads one for the other beyond the skeleton classes
_THIN = frozenset("I")
_LOOK_ALIKE = frozenset(
    frozenset(pair) for pair in ("CE", "CG", "CO", "EF", "FP", "PR", "BR", "HN", "MN", "VY", "KX", "IT", "IJ")
)
_TOKEN = re.compile(r"[^\W_]+")  # letters and digits of any script: names are not only ASCII
_RUN = re.compile(r"[0-9A-Za-z|]+")
# three or more single letters or digits, each one space from the next: a letter-spaced word ("J O H N")
_SPACED_OUT = re.compile(r"(?<![^\W_])[^\W_](?![^\W_])(?: [^\W_](?![^\W_])){2,}")
# a unit glued to a reading ("l6cm", "z0hz") must not stop the number in front of it from being read as digits
_UNIT_SUFFIX = re.compile(r"(.+?)(hz|khz|mhz|fps|db|cm|mm|bpm|kvp|kv|mas|ms|ml|cm2|cm3|mgy)", re.IGNORECASE)


class Token(NamedTuple):
    """An alphanumeric run of a text: its character span and its skeleton."""

    start: int
    end: int
    skel: str


def skeleton(text: str) -> str:
    """Upper-case ``text``, drop its diacritics and fold OCR confusion classes onto one representative each."""
    return _without_diacritics(text.upper()).translate(_SKELETON)


def _without_diacritics(text: str) -> str:
    """``text`` with accented letters as their base letters (``"HÉLÈNE"`` -> ``"HELENE"``, ``"ØSTER"`` ->
    ``"OSTER"``); ``"ß"`` is already ``"SS"`` in upper case. Other scripts change on both sides of a comparison
    alike."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_UNMARKED)


def closed_up(text: str) -> str:
    """``text`` with its letter-spaced words written as words: ``"D O E  J O H N"`` -> ``"DOE  JOHN"``,
    ``"0 0 4 1 2 3 7 7"`` -> ``"00412377"``. Letter by letter, no single character identifies anybody, and the
    allowlist explains each one (a digit, an orientation letter)."""
    return closed_up_kept(text)[0]


def closed_up_kept(text: str) -> tuple[str, list[int]]:
    """:func:`closed_up` and, for each of its characters, the index of that character in ``text``."""
    dropped = {m.start() + k for m in _SPACED_OUT.finditer(text) for k, c in enumerate(m.group()) if c == " "}
    kept = [k for k in range(len(text)) if k not in dropped]
    return "".join(text[k] for k in kept), kept


def tokenize(text: str) -> list[Token]:
    """Alphanumeric runs of ``text`` with their spans; punctuation and spaces separate tokens."""
    return [Token(m.start(), m.end(), skeleton(m.group())) for m in _TOKEN.finditer(text)]


def _fold_run(run: str) -> str:
    unit = _UNIT_SUFFIX.fullmatch(run)
    if unit and any(c.isdigit() for c in unit.group(1)):
        folded = _fold_run(unit.group(1))
        if folded.isdigit():
            return folded + unit.group(2)
    digits = sum(c.isdigit() for c in run)
    letters = sum(c.isalpha() for c in run)
    confusable = sum(c in _CONFUSABLE for c in run)
    # a run is read as a number when digits dominate and every letter in it is a known confusion
    if digits and digits * 2 >= digits + letters and confusable == letters:
        return run.translate(_TO_DIGIT)
    return run


def digit_view(text: str) -> str:
    """``text`` with confusable letters read as digits inside digit-heavy runs; same length as ``text``."""
    return _RUN.sub(lambda m: _fold_run(m.group()), text)


def within_one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by at most one substituted, inserted or deleted character."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def within_one_ocr_edit(a: str, b: str) -> bool:
    """Whether skeletons ``a`` and ``b`` differ by at most one edit that OCR makes: a thin glyph (``I``, ``l``,
    ``1``, ``|``) dropped or added, or one letter read as a look-alike letter (``C``/``E``, ``M``/``N``, ...).

    Args:
        a: a token skeleton (``skeleton``).
        b: another token skeleton.
    """
    if len(a) == len(b):
        diff = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        return not diff or (len(diff) == 1 and frozenset(diff[0]) in _LOOK_ALIKE)
    if abs(len(a) - len(b)) != 1:
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[i] in _THIN and long[:i] + long[i + 1 :] == short for i in range(len(long)))
