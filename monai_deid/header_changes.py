"""Header changes counted by action, for ``inspect`` and the review report: never the values themselves.

A ``header_changes`` summary is ``{"removed": n, "replaced": n, "cleaned": n, "kept": n, "added": n}``, counted by
comparing a header before and after de-identification at every sequence depth. A comparison cannot tell text kept
with identifying words taken out from a replaced value, so ``cleaned`` counts only top-level sequences in
:func:`changed_attributes` and is 0 in :func:`compare_headers`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset

__all__ = ["HEADER_ACTIONS", "changed_attributes", "compare_headers"]

#: The keys of a ``header_changes`` summary, in the order reports show them.
HEADER_ACTIONS = ("removed", "replaced", "cleaned", "kept", "added")
#: Pixel-bearing elements are not header content.
_PIXEL_TAGS = {0x7FE00010, 0x7FE00001, 0x7FE00002, 0x7FE00008, 0x7FE00009}


def _leaves(ds: Dataset, prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every non-sequence element as ``(path, value)``, the path made of tags and sequence item indices."""
    for element in ds:
        if element.tag in _PIXEL_TAGS:
            continue
        path = (*prefix, int(element.tag))
        if element.VR == "SQ":
            for index, item in enumerate(element.value or []):
                yield from _leaves(item, (*path, index))
            continue
        yield path, element.value


def compare_headers(before: Dataset, after: Dataset) -> dict[str, int]:
    """Count the attributes (at every sequence depth) that were removed, replaced, kept or added.

    Args:
        before: the original header.
        after: the de-identified header.

    Returns:
        a ``header_changes`` summary; ``cleaned`` is 0 because a comparison cannot tell it from ``replaced``.
    """
    old, new = dict(_leaves(before)), dict(_leaves(after))
    counts = dict.fromkeys(HEADER_ACTIONS, 0)
    for path, value in old.items():
        if path not in new:
            counts["removed"] += 1
        elif new[path] == value:
            counts["kept"] += 1
        else:
            counts["replaced"] += 1
    counts["added"] = sum(1 for path in new if path not in old)
    return counts


def _name(ds: Dataset, tag: int) -> str:
    element = ds[tag]
    return element.keyword or f"private {element.tag}"


def changed_attributes(before: Dataset, after: Dataset) -> list[tuple[int, str, str]]:
    """``(tag, attribute, change)`` for each top-level attribute: removed, replaced, cleaned (a sequence), kept or
    added."""
    changes = []
    for tag in sorted(set(before.keys()) | set(after.keys())):
        if tag not in after:
            change = "removed"
        elif tag not in before:
            change = "added"
        elif before[tag].value != after[tag].value:
            change = "cleaned" if before[tag].VR == "SQ" else "replaced"
        else:
            change = "kept"
        changes.append((int(tag), _name(before if tag in before else after, tag), change))
    return changes
