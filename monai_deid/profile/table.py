"""The project's copy of PS3.15 Table E.1-1 and the tag -> action map of one option set.

The table is package data built by ``scripts/build_profile.py``. :func:`action_map` resolves it once per option set
(cached), so scrubbing a file is a dictionary lookup per element.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from monai_deid.profile.options import ProfileOptions

__all__ = ["ActionMap", "ProfileTable", "action_map", "load_table"]

#: even repeating groups of the table: curves 50xx and overlays 60xx
REPEATING_GROUP_BASES = (0x5000, 0x6000)
#: Patient attributes that Table E.1-1 (2024e) does not list and that identify as surely as a listed sibling: the
#: dates of birth and death in another calendar (a date this package cannot shift: removed, as Patient's Birth Date
#: is never kept), the coded ethnic group (as Ethnic Group) and an animal's breed registration (its registry number).
_SUPPLEMENT = (
    {"tag": "00100033", "action": "X", "options": {}},
    {"tag": "00100034", "action": "X", "options": {}},
    {"tag": "00102161", "action": "X", "options": {"retain_patient_characteristics": "K"}},
    {"tag": "00102294", "action": "X", "options": {}},
)


@dataclass(frozen=True)
class ProfileTable:
    """Table E.1-1 as loaded from package data.

    Args:
        edition: the DICOM edition the table was built from.
        attributes: one record per standard attribute (``tag`` hex string, ``basic``, resolved ``action``,
            ``options`` mapping option name to action).
        repeating_groups: the same records for the 50xx/60xx rows (``tag`` like ``"60XX3000"``).
    """

    edition: str
    attributes: tuple[dict, ...]
    repeating_groups: tuple[dict, ...]


@dataclass(frozen=True)
class ActionMap:
    """The concrete action of every listed attribute under one option set.

    Args:
        options: the option set.
        by_tag: standard tag (int) -> one of ``"D" "Z" "X" "K" "C" "U"``.
        repeating: ``(group base, element)`` -> action for 50xx/60xx rows; element ``None`` means any element.
    """

    options: ProfileOptions
    by_tag: dict[int, str]
    repeating: dict[tuple[int, int | None], str]

    @staticmethod
    def in_curve_or_overlay_group(tag: int) -> bool:
        """Whether a tag lies in an even repeating group of the table: curves (50xx) or overlays (60xx)."""
        group = tag >> 16
        return not group & 1 and group & 0xFF00 in REPEATING_GROUP_BASES


@cache
def load_table() -> ProfileTable:
    """Load the packaged Table E.1-1 (once per process)."""
    data = json.loads(resources.files("monai_deid.profile").joinpath("table_e1_1.json").read_text())
    return ProfileTable(data["edition"], tuple(data["attributes"]), tuple(data["repeating_groups"]))


def _resolve(record: dict, options: ProfileOptions) -> str:
    action = record["action"]
    for name in options.applied():
        action = record["options"].get(name, action)
    return action


@cache
def action_map(options: ProfileOptions) -> ActionMap:
    """The tag -> action map of an option set (Table E.1-1 and the few patient attributes it misses), computed once per
    distinct option set."""
    table = load_table()
    by_tag = {int(r["tag"], 16): _resolve(r, options) for r in (*table.attributes, *_SUPPLEMENT)}
    repeating: dict[tuple[int, int | None], str] = {}
    for record in table.repeating_groups:
        group, element = record["tag"][:4], record["tag"][4:]
        key = (int(group.replace("X", "0"), 16), None if "X" in element else int(element, 16))
        repeating[key] = _resolve(record, options)
    return ActionMap(options, by_tag, repeating)
