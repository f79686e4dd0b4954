"""Builds the de-identification pipeline as a MONAI ``Compose`` from plain keyword arguments.

``build_pipeline`` is what the command line, the batch runner's workers and the Bundle configs call. Each stage takes
its own dictionary of keyword arguments (the same names as the stage's constructor), so a YAML/JSON config maps
one-to-one onto the transforms.
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

import torch
from monai.transforms import Compose
from pydicom.datadict import keyword_for_tag

from monai_deid.arguments import check_arguments
from monai_deid.audit import open_private
from monai_deid.io import LoadDicomWithMetad, SaveDicomd
from monai_deid.ocr import DetectBurnedInTextd
from monai_deid.phi import ClassifyPHId
from monai_deid.profile import IdentifierMapping, ProfileOptions, ScrubMetadatad, action_map
from monai_deid.redact import RedactPixelsd
from monai_deid.verify import CapturePHIInventoryd, VerifyDeidentifiedd

__all__ = [
    "STAGES",
    "DeidPipeline",
    "build_deid_transforms",
    "build_pipeline",
    "check_device",
    "merge_mapping_parts",
    "retained_keywords",
]

#: Names of the stage sections of a config file, in pipeline order.
STAGES = ("detect", "classify", "redact", "scrub", "verify")
_STAGE_TRANSFORMS = {
    "detect": DetectBurnedInTextd,
    "classify": ClassifyPHId,
    "redact": RedactPixelsd,
    "scrub": ScrubMetadatad,
    "verify": VerifyDeidentifiedd,
}
# Arguments of the stages that the pipeline sets itself.
_SET_BY_PIPELINE = ("keys", "mapping")


class DeidPipeline(Compose):
    """The file-to-file pipeline: a ``Compose`` that, when asked, appends the identifier mapping of every file it
    processes to a part file of its own, so parallel workers never share one (see :func:`merge_mapping_parts`).

    Args:
        transforms: the stages.
        mapping: the record of original -> new identifiers that ScrubMetadatad fills, or ``None``.
        mapping_dir: folder of the part files (PHI: outside the output folder).
    """

    def __init__(
        self, transforms: list, mapping: IdentifierMapping | None = None, mapping_dir: str | Path | None = None
    ) -> None:
        super().__init__(transforms)
        self.mapping = mapping
        self.mapping_part = None if mapping_dir is None else Path(mapping_dir) / f"part-{uuid.uuid4().hex}.csv"

    def __call__(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(data, *args, **kwargs)
        finally:
            if self.mapping is not None and self.mapping_part is not None:
                self._append_mapping()

    def _append_mapping(self) -> None:
        pairs = self.mapping.drain()
        if pairs:
            with open_private(self.mapping_part) as f:
                csv.writer(f).writerows(pairs)


def check_device(device: str, present: bool = True) -> None:
    """Raise ``ValueError`` on a device that is not ``cpu``, ``cuda`` or ``cuda:N``, or (with ``present``) names a
    GPU this machine does not have. Counting the GPUs does not initialise CUDA, so forked workers may still use it."""
    try:
        kind = torch.device(device)
    except (RuntimeError, TypeError):
        kind = None
    if kind is None or kind.type not in ("cpu", "cuda"):
        raise ValueError(f"{device!r}: expected cpu, cuda or cuda:N")
    if present and kind.type == "cuda" and (kind.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"{device}: this machine has {torch.cuda.device_count()} CUDA devices")


def merge_mapping_parts(mapping_dir: str | Path, path: str | Path) -> Path:
    """Merge the workers' part files into one CSV ``id_old,id_new`` at ``path`` and remove the parts."""
    mapping_dir, merged = Path(mapping_dir), IdentifierMapping()
    for part in sorted(mapping_dir.glob("part-*.csv")):
        with part.open(newline="", encoding="utf-8") as f:
            for old, new in csv.reader(f):
                merged.record(old, new)
        part.unlink()
    mapping_dir.rmdir()
    return merged.write_csv(path)


def retained_keywords(scrub: dict[str, Any]) -> frozenset[str]:
    """Attributes the profile keeps under the scrub options: their values are not leaks to the verifier."""
    names = set(ProfileOptions.__dataclass_fields__)
    options = ProfileOptions(**{k: v for k, v in scrub.items() if k in names})
    return frozenset(keyword_for_tag(tag) for tag, action in action_map(options).by_tag.items() if action == "K")


def build_deid_transforms(
    key: str = "image",
    device: str = "cpu",
    scan_pixels: bool = True,
    detect: dict[str, Any] | None = None,
    classify: dict[str, Any] | None = None,
    redact: dict[str, Any] | None = None,
    scrub: dict[str, Any] | None = None,
    verify: dict[str, Any] | None = None,
    mapping: IdentifierMapping | None = None,
) -> list:
    """The de-identification stages after loading: detect, classify, redact, scrub, verify.

    Args:
        key: the data dictionary key of the image.
        device: where OCR, NER and redaction run (``"cpu"``, ``"cuda"``, ``"cuda:N"``).
        scan_pixels: run the pixel stages (OCR, classification, redaction). Off, only the header is de-identified
            and Burned In Annotation is never set to NO.
        detect: keyword arguments of DetectBurnedInTextd.
        classify: keyword arguments of ClassifyPHId (``policy``, ``ner_model``, ...).
        redact: keyword arguments of RedactPixelsd (``margin``, ``fill``).
        scrub: keyword arguments of ScrubMetadatad (profile options, ``secret``, ``secret_file``, ...).
        verify: keyword arguments of VerifyDeidentifiedd (``band_fraction``).
        mapping: filled by ScrubMetadatad with original -> new identifiers when given.

    Raises:
        TypeError: a setting no stage takes, or a value of the wrong type (see :func:`check_arguments`).
    """
    sections = {"detect": detect, "classify": classify, "redact": redact, "scrub": scrub, "verify": verify}
    _check_settings(device, scan_pixels, sections)
    scrub = dict(scrub or {})
    transforms: list = [CapturePHIInventoryd(key)]
    if scan_pixels:
        transforms += [
            DetectBurnedInTextd(key, **{"device": device, **(detect or {})}),
            ClassifyPHId(key, **{"device": device, **(classify or {})}),
            RedactPixelsd(key, **(redact or {})),
        ]
    verify_kwargs = {
        "device": device,
        "retained_keywords": retained_keywords(scrub),
        "check_uids": not scrub.get("retain_uids", False),
        "detector": (detect or {}).get("detector", "auto"),
        "half": (detect or {}).get("half", True),
        **(verify or {}),
    }
    transforms += [ScrubMetadatad(key, mapping=mapping, **scrub), VerifyDeidentifiedd(key, **verify_kwargs)]
    return transforms


def build_pipeline(
    output_dir: str | Path, key: str = "image", mapping_dir: str | Path | None = None, **stages: Any
) -> DeidPipeline:
    """The file-to-file pipeline: load, de-identify, verify, save under ``output_dir``.

    Args:
        output_dir: folder the de-identified files are written under.
        key: the data dictionary key of the image.
        mapping_dir: record original -> new identifiers into part files there (see :class:`DeidPipeline`).
        stages: keyword arguments of :func:`build_deid_transforms` (``device``, ``scan_pixels``, ``detect``,
            ``classify``, ``redact``, ``scrub``, ``verify``).
    """
    mapping = None if mapping_dir is None else IdentifierMapping()
    transforms = [
        LoadDicomWithMetad(key),
        *build_deid_transforms(key, mapping=mapping, **stages),
        SaveDicomd(key, output_dir=output_dir),
    ]
    return DeidPipeline(transforms, mapping, mapping_dir)


def _check_settings(device: Any, scan_pixels: Any, sections: dict[str, Any]) -> None:
    """Refuse settings of the wrong type before any stage is built (config values are YAML or JSON)."""
    check_arguments("", build_deid_transforms, {"device": device, "scan_pixels": scan_pixels, **sections})
    for name, section in sections.items():
        check_arguments(name, _STAGE_TRANSFORMS[name].__init__, section or {}, fixed=_SET_BY_PIPELINE)
