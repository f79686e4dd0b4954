"""``monai-deid inspect``: what de-identification would do to one file, for the operator's own terminal.

It runs the real stages on the file in memory (nothing is written) and describes the outcome by attribute keyword,
action and reason code. Values and recognised text are never printed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from monai_deid.header_changes import changed_attributes, compare_headers
from monai_deid.io import LoadDicomWithMeta
from monai_deid.ocr import DetectBurnedInText
from monai_deid.phi import ClassifyPHI
from monai_deid.profile import ScrubMetadata
from monai_deid.regions import TextRegion

__all__ = ["inspect_file"]


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
    scrubbed = ScrubMetadata(**(scrub or {}))(copy.deepcopy(header))
    counts = compare_headers(header, scrubbed)
    lines = [f"{path}", "header (all depths): " + ", ".join(f"{n} {change}" for change, n in counts.items())]
    lines += [f"  {change:<9} {name}" for name, change in changed_attributes(header, scrubbed) if change != "kept"]
    regions = DetectBurnedInText(device, **(detect or {}))(image, header)
    regions = ClassifyPHI(**{"device": device, **(classify or {})})(regions, header)
    lines.append(f"burned-in text: {len(regions)} region(s), {sum(r.is_phi is not False for r in regions)} to redact")
    return "\n".join(lines + _region_lines(regions))
