"""``monai-deid inspect``: what de-identification would do to one file, for the operator's own terminal.

It runs the real stages on the file in memory (nothing is written) and describes the outcome by attribute keyword,
action and reason code. Values and recognised text are never printed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydicom.datadict import tag_for_keyword

from monai_deid.header_changes import changed_attributes, compare_headers
from monai_deid.io import LoadDicomWithMeta
from monai_deid.ocr import DetectBurnedInText
from monai_deid.phi import ClassifyPHI
from monai_deid.profile import ScrubMetadata, action_map
from monai_deid.profile.table import ActionMap
from monai_deid.regions import TextRegion

__all__ = ["inspect_file"]

# What each action code of PS3.15 Table E.1-1 asks for.
_TABLE_ACTIONS = {
    "D": "a dummy value",
    "Z": "empty or a dummy value",
    "X": "remove",
    "K": "keep",
    "C": "clean: similar meaning, nothing identifying",
    "U": "a new UID",
}


# Attributes a de-identified file sets to say what was done to it.
_RECORD_TAGS = frozenset(
    tag_for_keyword(keyword)
    for keyword in (
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "LongitudinalTemporalInformationModified",
        "BurnedInAnnotation",
    )
)


def _rule(tag: int, change: str, actions: ActionMap) -> str:
    """Why the profile treats a top-level attribute as it does."""
    if change == "added" or tag in _RECORD_TAGS:
        return "records the de-identification"
    if tag >> 16 & 1:
        return "private attribute"
    if tag in actions.by_tag:
        code = actions.by_tag[tag]
        return f"Table E.1-1 {code}: {_TABLE_ACTIONS[code]}"
    if actions.in_curve_or_overlay_group(tag):
        return "curve or overlay group: removed whole"
    return "not in Table E.1-1"


def _header_lines(header: Any, scrubbed: Any, actions: ActionMap) -> list[str]:
    counts = compare_headers(header, scrubbed)
    lines = ["header, every depth: " + ", ".join(f"{n} {change}" for change, n in counts.items())]
    lines.append("top-level attributes (action, attribute, rule):")
    for tag, name, change in changed_attributes(header, scrubbed):
        lines.append(f"  {change:<9} {name:<40} {_rule(tag, change, actions)}")
    return lines


def _region_lines(regions: list[TextRegion]) -> list[str]:
    lines = []
    for region in regions:
        decision = "redact" if region.is_phi is not False else "keep"
        frames = f"{len(region.frames)} frame(s) from {region.frames[0]}" if region.frames else "no frames"
        lines.append(f"  {decision:<7} box {region.box}  {frames}  reason {region.reason}  score {region.score:.2f}")
    return lines


def inspect_file(
    path: str | Path,
    device: str = "cpu",
    detect: dict[str, Any] | None = None,
    classify: dict[str, Any] | None = None,
    scrub: dict[str, Any] | None = None,
) -> str:
    """The report of ``monai-deid inspect``: header changes by attribute, then text regions with their decision."""
    image, header, _ = LoadDicomWithMeta()(path)
    regions = DetectBurnedInText(device, **(detect or {}))(image, header)
    regions = ClassifyPHI(**{"device": device, **(classify or {})})(regions, header)
    scrub_metadata = ScrubMetadata(**(scrub or {}))
    # as a written file records it: every frame scanned and its PHI redacted
    scrubbed = scrub_metadata(copy.deepcopy(header), pixels_clean=True)
    lines = [f"{path}", *_header_lines(header, scrubbed, action_map(scrub_metadata.options))]
    lines.append(f"burned-in text: {len(regions)} region(s), {sum(r.is_phi is not False for r in regions)} to redact")
    return "\n".join(lines + _region_lines(regions))
