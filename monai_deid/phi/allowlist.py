"""The clinical allowlist: vocabulary terms and parameter formats that belong on medical images.

The data lives in ``clinical_vocabulary.yaml`` next to this module (and in optional extra files of the same
layout). A text is *covered* when every word of it is a term, a number, a parameter readout or punctuation; the
policy keeps covered text only when no PHI evidence was found first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from .text_norm import Token, digit_view, skeleton, tokenize, within_one_edit, within_one_ocr_edit

__all__ = ["Allowlist", "AllowlistResult", "load_placeholders"]

_MAX_GROUP = 4  # space-separated pieces a parameter readout may span ("MI = 0. 8")
_FUZZY_MIN = 5  # terms this long may differ from the OCR reading by one character
_PLAIN_NUMBER = re.compile(r"^\d{1,4}$")
_MIN_JOINED = 2  # shortest term recognised inside two terms read as one word


@dataclass
class AllowlistResult:
    """How a text is accounted for by the allowlist.

    Args:
        covered: every word of the text is accounted for.
        section: the section of the first term or format found (the reason code suffix), ``None`` if none.
        uncovered: the tokens not accounted for (spans into the text; their content is PHI-relevant).
        terms: ``(start, end, section)`` of the multi-word vocabulary terms found (``"GE MEDICAL SYSTEMS"``).
    """

    covered: bool
    section: str | None
    uncovered: list[Token] = field(default_factory=list)
    terms: list[tuple[int, int, str]] = field(default_factory=list)


def _read_yaml(source: str) -> dict:
    # libyaml's safe loader where PyYAML was built with it: the shipped vocabulary in 7 ms instead of 57
    try:
        data = yaml.load(source, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"an allowlist file is not YAML ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError("an allowlist file must map section names to lists of terms")
    return data


def _read_extra_file(path: Path, index: int) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        # not the path: a term given by mistake could be a name
        raise ValueError(
            f"extra_allowlist: entry {index + 1} cannot be read ({type(e).__name__}); it takes YAML files laid out "
            "like the shipped clinical_vocabulary.yaml, not terms"
        ) from None


@cache
def load_placeholders() -> frozenset[str]:
    """Token skeletons of the placeholder words shipped in ``placeholder_values.txt`` (read once per process)."""
    text = resources.files(__package__).joinpath("placeholder_values.txt").read_text(encoding="utf-8")
    words = (line.strip() for line in text.splitlines())
    return frozenset(skeleton(w) for w in words if w and not w.startswith("#"))


class Allowlist:
    """Clinical vocabulary and parameter formats.

    Args:
        extra_files: more YAML files with the layout of ``clinical_vocabulary.yaml`` (site probes, presets, ...).
    """

    def __init__(self, extra_files: list[str | Path] | None = None) -> None:
        sources = [resources.files(__package__).joinpath("clinical_vocabulary.yaml").read_text(encoding="utf-8")]
        sources += [_read_extra_file(Path(p), i) for i, p in enumerate(extra_files or [])]
        self._single: dict[str, str] = {}
        self._multi: dict[tuple[str, ...], str] = {}
        self._formats: list[tuple[re.Pattern[str], str]] = []
        for source in sources:
            for section, items in _read_yaml(source).items():
                if section == "formats":
                    for name, regexes in items.items():
                        self._formats += [(re.compile(rx, re.IGNORECASE), name) for rx in regexes]
                else:
                    for term in items:
                        self._add_term(str(term), section)
        # A term one edit away from a reading is at most one character longer or shorter: per reading length, the
        # terms that can be, in vocabulary order (the first near term gives the section).
        fuzzy = [t for t in self._single if len(t) >= _FUZZY_MIN - 1]
        lengths = {len(t) + d for t in fuzzy for d in (-1, 0, 1)}
        self._fuzzy_terms = {n: [t for t in fuzzy if abs(len(t) - n) <= 1] for n in lengths}

    def _add_term(self, term: str, section: str) -> None:
        tokens = tuple(t.skel for t in tokenize(term))
        if len(tokens) == 1:
            self._single.setdefault(tokens[0], section)
        elif tokens:
            self._multi.setdefault(tokens, section)

    def is_term(self, skel: str) -> bool:
        """Whether a token skeleton is a single-word vocabulary term (exactly)."""
        return skel in self._single

    def _term_section(self, skel: str, as_read: str) -> str | None:
        """The section of the term a token reads as: exactly, or one edit away.

        Args:
            skel: the token's skeleton.
            as_read: the token as read. A plain word (letters only) may differ from a term only by an edit OCR
                makes (``within_one_ocr_edit``), so that a different English word is not taken for the term
                (``MEDICAL`` is not ``MEDIAL``); a code with digits (``BM12L``) by any one edit.
        """
        if skel in self._single:
            return self._single[skel]
        joined = self._joined_terms(skel)
        if joined:
            return joined
        if len(skel) >= _FUZZY_MIN:
            near = within_one_ocr_edit if as_read.isalpha() else within_one_edit
            for term in self._fuzzy_terms.get(len(skel), ()):
                # one edit keeps the first or the last character: a cheap test before the edit check
                if (
                    (term[0] == skel[0] or term[-1] == skel[-1])
                    and max(len(term), len(skel)) >= _FUZZY_MIN
                    and near(term, skel)
                ):
                    return self._single[term]
        return None

    def _joined_terms(self, skel: str) -> str | None:
        """The section of the first of two terms read without the space between them (``AXIALT2``), exactly."""
        for cut in range(_MIN_JOINED, len(skel) - _MIN_JOINED + 1):
            if skel[:cut] in self._single and skel[cut:] in self._single:
                return self._single[skel[:cut]]
        return None

    def _format_section(self, piece: str) -> str | None:
        for candidate in {piece.lower(), digit_view(piece).lower()}:
            for rx, name in self._formats:
                if rx.match(candidate):
                    return name
        return None

    def explain(self, text: str) -> AllowlistResult:
        """Account for ``text`` word by word (see the class docstring)."""
        pieces = [m for m in re.finditer(r"\S+", text)]
        sections: list[str] = []
        uncovered: list[Token] = []
        terms: list[tuple[int, int, str]] = []
        p = 0
        while p < len(pieces):
            step = self._match_group(text, pieces, p, sections, terms)
            if step:
                p += step
                continue
            piece = pieces[p].group()
            for tok in tokenize(piece):
                # inside a piece no format matched as a whole, words must be terms and numbers plain numbers:
                # "11m24.23" is a garbled time, not the parameter "11m24" and the number "23"
                as_read = piece[tok.start : tok.end]
                section = self._term_section(tok.skel, as_read) or (
                    "parameter" if _PLAIN_NUMBER.match(digit_view(as_read)) else None
                )
                if section:
                    sections.append(section)
                else:
                    offset = pieces[p].start()
                    uncovered.append(Token(tok.start + offset, tok.end + offset, tok.skel))
            p += 1
        return AllowlistResult(not uncovered, sections[0] if sections else None, uncovered, terms)

    def _match_group(
        self, text: str, pieces: list[re.Match[str]], p: int, sections: list[str], terms: list[tuple[int, int, str]]
    ) -> int:
        """Length of the longest group of pieces from ``p`` that is one format or multi-word term; 0 if none.

        The group's section is appended to ``sections``, and its span to ``terms`` when it is a multi-word term.
        """
        for n in range(min(_MAX_GROUP, len(pieces) - p), 0, -1):
            start, end = pieces[p].start(), pieces[p + n - 1].end()
            tokens = tokenize(text[start:end])
            if not tokens:
                return n  # punctuation only
            section = self._format_section(text[start:end])
            if section is None and (section := self._multi.get(tuple(t.skel for t in tokens))):
                terms.append((start, end, section))
            if section:
                sections.append(section)
                return n
        return 0
