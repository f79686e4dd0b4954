"""Fuzzy matching of the file's own header values against OCR text.

Matching is token-level on OCR skeletons (see ``text_norm``), so case, spacing, punctuation and the usual glyph
confusions do not matter. A value is found when OCR text shows

* a whole on-screen rendering of it (``"DOE, JOHN"``, ``"29-AUG-51"``),
* a fragment of it: consecutive value tokens, which covers values truncated with an ellipsis
  (``"MEMORIAL HOSP..."``), lines split by the detector (``"BAPTIST MED"`` / ``"CTR"``) and single words of names,
* the value with its separators lost (``"ID98279"``, ``"BAPTISTMEDCTR"``),
* a piece of an identifier: four characters or more of it, three of them digits, in a row (``"7731 905"`` or
  ``"X773"`` of ``QX7731905``: cut by the frame's edge, split by the detector, or spaced out),

with one OCR substitution allowed in tokens of five or more characters. Clinical-vocabulary words inside a value
(a patient named ``"OB"``, an institution called ``"Philips Healthcare"``) count only where the text shows the whole
value and nothing else, so a preset ``"Gen OB"`` or a logo ``"PHILIPS"`` is not taken for the value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from .header_values import HeaderValue
from .renderings import render
from .text_norm import Token, tokenize, within_one_edit

__all__ = ["HeaderMatch", "HeaderMatcher"]

_TEMPORAL = {"date", "time", "datetime", "age"}
_ELLIPSES = ("...", "..", "…")
# Score of a token one OCR edit from the value's token, or the value's token cut short on screen.
_NEAR = 0.9
# A piece of an identifier counts from this many characters, this many of them digits, and scores this much.
_PIECE_CHARS, _PIECE_DIGITS, _PIECE_SCORE = 4, 3, 0.8


class HeaderMatch(NamedTuple):
    """Where a header value was found: attribute keyword, character span in the text, score in ``[0, 1]``, and
    whether every matched word is a clinical-vocabulary word (a patient named ``"OB"`` shown as ``"OB"``)."""

    keyword: str
    start: int
    end: int
    score: float
    vocabulary_only: bool = False


class _Rendering(NamedTuple):
    keyword: str
    kind: str
    tokens: tuple[str, ...]
    joined: str
    whole_value: bool
    ends: frozenset[tuple[int, str]]  # (0, first character) and (-1, last character) of each token


def _token_score(text_tok: str, value_tok: str) -> float:
    """1.0 for an exact token, ``_NEAR`` for one OCR edit, 0.0 otherwise (a prefix cut short on screen also scores
    ``_NEAR``, where the text shows the cut: see ``HeaderMatcher._find_tokens``)."""
    if text_tok == value_tok:
        return 1.0
    if len(value_tok) >= 5 and len(text_tok) >= 4 and within_one_edit(text_tok, value_tok):
        return _NEAR
    return 0.0


def _cut_prefix(text_tok: str, value_tok: str) -> bool:
    """Whether ``text_tok`` can be ``value_tok`` cut short on screen (3 characters or more)."""
    # only words are cut with an ellipsis on screen; a number that starts like a value is another number
    return len(text_tok) >= 3 and not text_tok.isdigit() and value_tok.startswith(text_tok)


def _ends(tokens: Iterable[str]) -> Iterator[tuple[int, str]]:
    for token in tokens:
        yield (0, token[0])
        yield (-1, token[-1])


class HeaderMatcher:
    """Finds a file's own header values in OCR text.

    Args:
        values: the file's PHI values (``collect_header_values``).
        is_vocabulary: tells whether a token skeleton is a clinical-vocabulary word.
        placeholders: token skeletons of placeholder values (``"ANONYMOUS"``, ``"NO INFO"``) that identify nobody.
    """

    def __init__(
        self,
        values: Iterable[HeaderValue],
        is_vocabulary: Callable[[str], bool],
        placeholders: frozenset[str] = frozenset(),
    ) -> None:
        self._is_vocab = is_vocabulary
        self._renderings: list[_Rendering] = []
        self._identifiers: list[tuple[str, str]] = []  # (keyword, joined skeleton) of values with digits
        seen: set[tuple[str, ...]] = set()
        for hv in values:
            value_tokens = tuple(t.skel for t in tokenize(hv.value.replace("^", " ")))
            if not value_tokens or all(t in placeholders for t in value_tokens):
                continue
            if hv.kind == "text" and sum(c.isdigit() for c in hv.value) >= _PIECE_DIGITS:
                self._identifiers.append((hv.keyword, "".join(value_tokens)))
            for text in render(hv):
                tokens = tuple(t.skel for t in tokenize(text))
                if tokens and tokens not in seen:
                    seen.add(tokens)
                    whole = hv.kind in _TEMPORAL or set(tokens) >= set(value_tokens)
                    ends = frozenset(_ends(tokens))
                    self._renderings.append(_Rendering(hv.keyword, hv.kind, tokens, "".join(tokens), whole, ends))

    def __bool__(self) -> bool:
        return bool(self._renderings)

    def find(self, text: str) -> list[HeaderMatch]:
        """All places where a header value shows in ``text``, best score first."""
        tokens = tokenize(text)
        if not tokens or not self._renderings:
            return []
        found = []
        ends = set(_ends(t.skel for t in tokens))
        joined = "".join(t.skel for t in tokens)
        for r in self._renderings:
            # a token scores only against a value token with its first or last character (see _token_score)
            if not ends.isdisjoint(r.ends):
                found += self._find_tokens(text, tokens, r)
            if r.joined in joined:
                found += self._find_joined(tokens, r)
        found += self._find_pieces(text, tokens)
        return sorted(found, key=lambda m: (-m.score, m.start))

    def _find_pieces(self, text: str, tokens: list[Token]) -> list[HeaderMatch]:
        """Runs of consecutive tokens that are a piece of an identifier value (see the module docstring)."""
        found = []
        for i in range(len(tokens)):
            run = ""
            for j in range(i, len(tokens)):
                run += tokens[j].skel
                start, end = tokens[i].start, tokens[j].end
                if len(run) < _PIECE_CHARS or sum(c.isdigit() for c in text[start:end]) < _PIECE_DIGITS:
                    continue
                hits = [keyword for keyword, value in self._identifiers if run in value]
                if not hits:
                    break
                found.append(HeaderMatch(hits[0], start, end, _PIECE_SCORE))
        return found

    def _truncated_after(self, text: str, tokens: list[Token], i: int) -> bool:
        """True when text token ``i`` is the last one or is followed by an ellipsis: a value may be cut there."""
        return i == len(tokens) - 1 or text[tokens[i].end :].lstrip().startswith(_ELLIPSES)

    def _counts(self, matched: list[str], r: _Rendering, k: int, covers_text: bool) -> bool:
        """Whether a run of ``k`` matched tokens is evidence enough (see the module docstring)."""
        if r.kind in _TEMPORAL:
            # dates and times only as whole renderings, or a long compact token such as 19510829 or 142825
            return k == len(r.tokens) or (k == 1 and len(matched[0]) >= 6)
        distinctive = [t for t in matched if not self._is_vocab(t)]
        if not distinctive:
            return covers_text and r.whole_value and k == len(r.tokens)
        if covers_text:
            return any(len(t) >= 2 for t in distinctive) if r.kind == "name" else sum(map(len, matched)) >= 3
        return sum(map(len, matched)) >= 4 and any(len(t) >= 3 for t in distinctive)

    def _find_tokens(self, text: str, tokens: list[Token], r: _Rendering) -> list[HeaderMatch]:
        found = []
        for i in range(len(tokens)):
            for j in range(len(r.tokens)):
                k, scores = 0, []
                while i + k < len(tokens) and j + k < len(r.tokens):
                    text_tok, value_tok = tokens[i + k].skel, r.tokens[j + k]
                    s = _token_score(text_tok, value_tok)
                    # a prefix counts only where the text stops or is cut there (the dearer test, made last)
                    prefix = not s and j + k < len(r.tokens) - 1 and _cut_prefix(text_tok, value_tok)
                    if prefix and self._truncated_after(text, tokens, i + k):
                        s = _NEAR
                    if not s:
                        break
                    scores.append(s)
                    k += 1
                if not k:
                    continue
                covers_text = i == 0 and k == len(tokens)
                matched = [tokens[i + n].skel for n in range(k)]
                if self._counts(matched, r, k, covers_text):
                    whole = j == 0 and k == len(r.tokens) and r.whole_value
                    score = min(scores) * (1.0 if whole else 0.8)
                    vocabulary_only = r.kind not in _TEMPORAL and all(map(self._is_vocab, matched))
                    span = (tokens[i].start, tokens[i + k - 1].end)
                    found.append(HeaderMatch(r.keyword, *span, score, vocabulary_only))
        return found

    def _find_joined(self, tokens: list[Token], r: _Rendering) -> list[HeaderMatch]:
        """The value with its separators lost or with neighbouring text glued on (``"ID98279"``)."""
        minimum = 6 if r.kind in _TEMPORAL else 5
        if len(r.joined) < minimum or not any(not self._is_vocab(t) for t in r.tokens):
            return []
        joined, owner = "", []
        for n, t in enumerate(tokens):
            joined += t.skel
            owner += [n] * len(t.skel)
        found, at = [], joined.find(r.joined)
        while at >= 0:
            first, last = owner[at], owner[at + len(r.joined) - 1]
            found.append(HeaderMatch(r.keyword, tokens[first].start, tokens[last].end, 0.9))
            at = joined.find(r.joined, at + 1)
        return found
