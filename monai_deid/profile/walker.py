"""Applies an action map to every element of a dataset at every depth, collecting what free-text cleaning needs.

One :class:`Walk` per file: it holds the per-file state (date offset, header values that free text must lose, text
elements to clean once every header value is known) and the shared replacers (UIDs, pseudonyms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from monai_deid.profile.actions import STRING_VRS, TEXT_VRS, dummy_value, empty_value
from monai_deid.profile.clean_text import TextCleaner
from monai_deid.profile.dates import shift_da, shift_dt
from monai_deid.profile.pseudonyms import Pseudonymizer
from monai_deid.profile.safe_private import is_safe_private
from monai_deid.profile.table import ActionMap, load_table
from monai_deid.profile.uids import UidReplacer

__all__ = ["Walk"]

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
PATIENT_AGE = 0x00101010
# The oldest age kept as it is: older ages are shown as this one (HIPAA Safe Harbor's "90 or older").
_OLDEST_AGE = "090Y"
_TERM_KEYWORD = re.compile(r"(ID|IDs|Number|Numbers|Name|Address|Title|Locator|Value)$")
_TERM_VRS = frozenset({"AE", "LO", "SH"})
_CLEANED_AWAY = "ANONYMIZED"
_ASCII_VRS = frozenset({"UI", "DA", "DT"})
# File meta attributes outside Table E.1-1 that name sending/receiving stations: device identity.
# Value representations of free text, cleaned wherever they are (see ``Walk._unlisted``).
_FREE_TEXT_VRS = frozenset({"LT", "ST", "UT"})
_FILE_META_DEVICE_TAGS = (0x00020016, 0x00020017, 0x00020018)
# Private Information Creator UID and Private Information: a vendor's own bytes, which nothing here can inspect.
_FILE_META_PRIVATE_TAGS = (0x00020100, 0x00020102)
# The letters a value of these VRs may hold (an exponent, an age's unit): any other letter is a word written where a
# number, an age, a time, a date or a UID belongs, and no valid value of the VR holds it.
_LETTERS_ALLOWED = {"AS": "DWMY", "DS": "Ee", "IS": "", "TM": "", "DA": "", "DT": "", "UI": ""}
_WORDS_IN = {vr: re.compile(rf"[^\W\d_{letters}]") for vr, letters in _LETTERS_ALLOWED.items()}
# Unlisted UID attributes that name a class, a syntax or a coding scheme of the standard or of a vendor, not an
# instance: kept. Every other unlisted UID (Multi-frame Source SOP Instance UID, Table Frame of Reference UID) is
# replaced like the listed ones; well-known UIDs never are (see ``UidReplacer``).
_CLASS_UID_KEYWORD = re.compile(r"Class|TransferSyntax|CodingScheme|ContextGroup|MappingResource|ContextUID|Version")


@cache
def _vr_of(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


@cache
def _term_tags() -> frozenset[int]:
    """Identifier attributes (IDs, numbers, names of institutions and stations, addresses) of Table E.1-1.

    Their values are removed from free text elsewhere in the header. Descriptors (attributes that Clean
    Descriptors keeps) are excluded: their words are clinical as often as not.
    """
    tags = set()
    for record in load_table().attributes:
        tag = int(record["tag"], 16)
        if "clean_descriptors" in record["options"] or _vr_of(tag) not in _TERM_VRS:
            continue
        if _TERM_KEYWORD.search(record["keyword"]):
            tags.add(tag)
    return frozenset(tags)


def _fix_text_vr(ds: Dataset, tag: int) -> None:
    """Give a text attribute written with another string VR (a description as ``CS``, a history as ``DS``) its own
    VR back: the cleaning follows the VR, and a value read as a code or a number would be kept as it is."""
    own, written = _vr_of(tag), ds.get_item(tag).VR
    if written and written != own and own in TEXT_VRS and written in STRING_VRS:
        elem = ds[tag]
        elem.VR = own
        if own == "PN" and elem.value is not None:
            elem.value = [PersonName(v) for v in elem.value] if elem.VM > 1 else PersonName(elem.value)


def _cap_age(elem: DataElement) -> None:
    """A kept Patient's Age over 89 years becomes 90 years: so few people are that old that the age identifies."""
    value = str(elem.value or "").strip().upper()
    if value.endswith("Y") and value[:-1].isdigit() and int(value[:-1]) > 89:
        elem.value = _OLDEST_AGE


def _value_text(ds: Dataset, tag: int) -> str:
    """The value of ``ds[tag]`` as one string, decoded or not (its values joined by backslashes)."""
    elem = ds.get_item(tag)
    value = elem.value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, MultiValue | list):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def _empty_if_worded(ds: Dataset, tag: int, vr: str) -> None:
    """Empty a kept number, age, time, date or UID that holds a word: a name written where a number belongs."""
    words = _WORDS_IN.get(vr)
    if words is not None and words.search(_value_text(ds, tag)):
        ds[tag].value = ""


def _is_instance_uid(tag: int) -> bool:
    """Whether an attribute not in the table holds the UID of an instance (not of a class, syntax or scheme)."""
    return not _CLASS_UID_KEYWORD.search(keyword_for_tag(tag) or "")


def _is_term_tag(tag: int) -> bool:
    """Attributes whose values are identifiers or names that free text elsewhere must also lose."""
    return tag in _term_tags() or _vr_of(tag) == "PN"


@dataclass
class Walk:
    """The scrubbing of one file.

    Args:
        actions: the tag -> action map of the option set.
        uids: UID replacer (shared across files).
        pseudonyms: pseudonym maker (shared across files).
        patient_key: the original identity of the file's patient (keys the pseudonyms and the date offset).
        date_offset: days added to dates under the modified-dates option, None when dates are not shifted.
        root: the file's top-level dataset (only its Patient Name becomes the pseudonym).
    """

    actions: ActionMap
    uids: UidReplacer
    pseudonyms: Pseudonymizer
    patient_key: str
    date_offset: int | None
    root: Dataset
    names: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    pending_text: list[tuple[Dataset, int]] = field(default_factory=list)

    def dataset(self, ds: Dataset, structured: bool = False) -> None:
        """Apply the profile to every element of ``ds`` and its sequences.

        Args:
            ds: a dataset or sequence item, changed in place.
            structured: inside content cleaned under Clean Structured Content / Clean Graphics: text and dates not
                listed in the table are cleaned too.
        """
        by_tag = self.actions.by_tag
        private: list[int] = []
        for tag in list(ds.keys()):
            if tag >> 16 & 1:
                private.append(tag)
                continue
            _fix_text_vr(ds, tag)
            action = by_tag.get(tag)
            if action is None:
                self._unlisted(ds, tag, structured)
            else:
                self._apply(ds, tag, action, structured)
        if private:
            self._private(ds, private)

    def file_meta(self, meta: Dataset) -> None:
        """Apply the profile to the file meta group (Media Storage SOP Instance UID follows SOP Instance UID; the
        private information goes)."""
        self.dataset(meta)
        for tag in _FILE_META_PRIVATE_TAGS:
            if tag in meta:
                del meta[tag]
        if not self.actions.options.retain_device_identity:
            for tag in _FILE_META_DEVICE_TAGS:
                if tag in meta:
                    del meta[tag]

    def clean_pending_text(self) -> None:
        """Clean the free text found during the walk, now that every identifying header value is known."""
        if not self.pending_text:
            return
        cleaner = TextCleaner(self.names, self.terms)
        for ds, tag in self.pending_text:
            elem = ds[tag]
            if elem.VR == "PN":  # a person name has no clinical words to keep
                elem.value = ""
            elif elem.value:
                values = [elem.value] if elem.VM <= 1 else list(elem.value)
                # A value cleaned away entirely gets a dummy, so Type 1 attributes (RT Plan Label) stay valid.
                cleaned = [cleaner(str(v)) or _CLEANED_AWAY for v in values]
                elem.value = cleaned[0] if elem.VM <= 1 else cleaned

    def _unlisted(self, ds: Dataset, tag: int, structured: bool) -> None:
        if self.actions.in_curve_or_overlay_group(tag):
            # Overlay and curve bitmaps cannot be inspected here: their whole repeating group goes, so no
            # incomplete Overlay Plane module is left behind.
            del ds[tag]
            return
        vr = ds.get_item(tag).VR or _vr_of(tag)
        if vr == "SQ":
            for item in ds[tag].value:
                self.dataset(item, structured)
        elif vr in TEXT_VRS and (structured or vr in _FREE_TEXT_VRS):
            # Comments and notes of attributes the table does not list (newer than it, or retired) are free text
            # like the listed ones: the clinical words stay, the names, numbers and dates go.
            if structured:
                self._remember(ds[tag])
            self.pending_text.append((ds, tag))
        elif vr in ("DA", "DT") and (structured or not self.actions.options.retain_long_full_dates):
            self._clean_date(ds[tag])  # a date the table does not list (a death date) is a date all the same
        elif vr == "UI" and not self.actions.options.retain_uids and _is_instance_uid(tag):
            _empty_if_worded(ds, tag, vr)
            self._replace_uids(ds[tag], structured)
        elif tag >> 16 != 2:  # the file meta's syntax and class UIDs are checked when the file is read
            _empty_if_worded(ds, tag, vr)

    def _apply(self, ds: Dataset, tag: int, action: str, structured: bool) -> None:
        if action == "X":
            if _is_term_tag(tag):
                self._remember(ds[tag])
            del ds[tag]
            return
        vr = ds.get_item(tag).VR or _vr_of(tag)
        if tag == PATIENT_AGE and action == "K":
            _cap_age(ds[tag])
        if vr != "SQ" and (action == "K" or (action == "C" and vr == "TM")):
            _empty_if_worded(ds, tag, vr)
            return  # kept as read otherwise (times stay under whole-day date offsets)
        if vr in _ASCII_VRS and self._replace_raw(ds, tag, vr, action):
            return
        elem = ds[tag]
        if action == "K":
            for item in elem.value:
                self.dataset(item, structured)
            return
        self._remember(elem)
        if tag == PATIENT_ID and action in ("D", "Z"):
            # Nested Patient IDs may name another patient: each gets the pseudonym of its own value.
            key = self.patient_key if ds is self.root else str(elem.value or "").strip()
            elem.value = self.pseudonyms.patient_id(key) if key else ""
        elif tag == PATIENT_NAME and action in ("D", "Z") and ds is self.root:
            elem.value = self.pseudonyms.patient_name(self.patient_key, str(elem.value)) if self.patient_key else ""
        elif action == "Z":
            elem.value = empty_value(elem)
        elif action == "D":
            elem.value = self.uids(str(elem.value)) if elem.VR == "UI" else dummy_value(elem)
        elif action == "U":
            self._replace_uids(elem, structured)
        elif action == "C":
            self._clean(ds, elem)

    def _replace_raw(self, ds: Dataset, tag: int, vr: str, action: str) -> bool:
        """U on UIDs and C on dates of a not yet decoded element, on its bytes (the fast path); False if not done.

        UI, DA and DT values are ASCII in every character set and byte order, so the new value's bytes are valid in
        whatever encoding the element was read with.
        """
        raw = ds.get_item(tag)
        if not isinstance(raw, RawDataElement) or not isinstance(raw.value, bytes) or not raw.value.isascii():
            return False
        text = raw.value.decode("ascii").rstrip("\x00 ")
        if action == "U" and vr == "UI":
            new = "\\".join(self.uids(uid) for uid in text.split("\\"))
            padding = b"\x00"
        elif action == "C" and vr in ("DA", "DT") and self.date_offset is not None:
            new = (shift_da if vr == "DA" else shift_dt)(text, self.date_offset)
            padding = b" "
        else:
            return False
        data = new.encode("ascii")
        data += padding * (len(data) % 2)
        ds[tag] = raw._replace(value=data, length=len(data))
        return True

    def _replace_uids(self, elem: DataElement, structured: bool) -> None:
        if elem.VR == "SQ":  # U* on a reference sequence: keep it, replace the UIDs inside
            for item in elem.value:
                self.dataset(item, structured)
        elif elem.VR == "UI" and elem.value:
            elem.value = self.uids(elem.value) if elem.VM <= 1 else [self.uids(v) for v in elem.value]

    def _clean(self, ds: Dataset, elem: DataElement) -> None:
        if elem.VR == "SQ":
            for item in elem.value:
                self.dataset(item, structured=True)
        elif elem.VR in ("DA", "DT"):
            self._clean_date(elem)
        elif elem.VR in TEXT_VRS:
            self.pending_text.append((ds, elem.tag))

    def _clean_date(self, elem: DataElement) -> None:
        if not elem.value:
            return
        if self.date_offset is None:
            elem.value = dummy_value(elem)
        else:
            shift = shift_da if elem.VR == "DA" else shift_dt
            elem.value = shift(str(elem.value) if elem.VM <= 1 else "\\".join(elem.value), self.date_offset)

    def _remember(self, elem: DataElement) -> None:
        """Keep the value of a name or identifier: free text elsewhere in the header must lose it too."""
        if (elem.VR != "PN" and not _is_term_tag(elem.tag)) or not elem.value:
            return
        values = [elem.value] if elem.VM <= 1 else list(elem.value)
        (self.names if elem.VR == "PN" else self.terms).extend(str(v) for v in values)

    def _private(self, ds: Dataset, tags: list[int]) -> None:
        if not self.actions.options.retain_safe_private:
            for tag in tags:
                del ds[tag]
            return
        creators = {(t >> 16, t & 0xFFFF): str(ds[t].value) for t in tags if 0x10 <= t & 0xFFFF <= 0xFF}
        kept_blocks = set()
        for tag in tags:
            group, element = tag >> 16, tag & 0xFFFF
            if element < 0x1000:
                continue
            if is_safe_private(group, creators.get((group, element >> 8)), element):
                kept_blocks.add((group, element >> 8))
                if ds.get_item(tag).VR == "SQ":
                    for item in ds[tag].value:
                        self.dataset(item)
            else:
                del ds[tag]
        for tag in tags:
            if tag & 0xFFFF < 0x1000 and (tag >> 16, tag & 0xFFFF) not in kept_blocks:
                del ds[tag]
