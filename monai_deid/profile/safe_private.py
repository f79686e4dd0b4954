"""Table E.3.10-1: private attributes that are safe to keep under the Retain Safe Private option."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = ["is_safe_private", "safe_private_keys"]


@cache
def safe_private_keys() -> frozenset[tuple[int, str, int]]:
    """``(group, private creator, element offset)`` of every safe private attribute (loaded once)."""
    data = json.loads(resources.files("monai_deid.profile").joinpath("safe_private.json").read_text())
    return frozenset((int(a["group"], 16), a["creator"], int(a["offset"], 16)) for a in data["attributes"])


def is_safe_private(group: int, creator: str | None, element: int) -> bool:
    """Whether private element ``(group, element)`` of the block reserved by ``creator`` is in Table E.3.10-1.

    Args:
        group: the odd group number.
        creator: the private creator value of the element's block (None when the block has no creator).
        element: the element number (``0xBBOO``: block BB, offset OO).
    """
    if not creator:
        return False
    return (group, creator.strip(), element & 0xFF) in safe_private_keys()
