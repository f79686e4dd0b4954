"""De-identification on the fly in a training pipeline: the stages, then a final step that drops what identifies.

The header (``<key>_dicom``), the OCR text (``<key>_text``), the original encoded pixels (``<key>_encoded``) and an
output path (``<key>_output``) must never reach a collated batch, a cache or a log; nor may meta entries this package
did not vouch for. :class:`DropIdentifyingd` removes them, leaving an item that collates.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import Compose, MapTransform, Transform
from monai.utils import TransformBackends
from monai.utils.enums import MetaKeys

from monai_deid.io import LoadDicomWithMetad
from monai_deid.ocr import DetectBurnedInTextd
from monai_deid.phi import ClassifyPHId
from monai_deid.redact import RedactPixelsd

__all__ = ["PHI_FREE_META", "SIDE_KEY_SUFFIXES", "DropIdentifying", "DropIdentifyingd", "build_training_transforms"]

#: Data dictionary entries beside ``key`` that hold PHI or link back to the source.
SIDE_KEY_SUFFIXES = ("_dicom", "_text", "_encoded", "_output")
#: Meta entries that identify nobody: the loader's pixel facts, the stages' flags and MONAI's geometry. Deliberately
#: absent: ``pixel_digest`` (a hash of the original pixels lets anyone holding the original confirm a match) and
#: ``filename_or_obj`` (file names carry patient names).
PHI_FREE_META = frozenset(
    {
        "rows",
        "columns",
        "frames",
        "samples_per_pixel",
        "photometric_interpretation",
        "bits_allocated",
        "bits_stored",
        "pixel_representation",
        "modality",
        "transfer_syntax",
        "lossy_source",
        "text_scanned",
        "pixels_redacted",
        "deid_verified",
        MetaKeys.AFFINE,
        MetaKeys.ORIGINAL_AFFINE,
        MetaKeys.SPATIAL_SHAPE,
        MetaKeys.SPACE,
        MetaKeys.ORIGINAL_CHANNEL_DIM,
    }
)


class DropIdentifying(Transform):
    """Keep only allowlisted meta entries of a MetaTensor (in place); other tensors pass through.

    Args:
        allowed_meta: extra meta keys to keep besides :data:`PHI_FREE_META` (only ones you know identify nobody).
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, allowed_meta: Iterable[str] = ()) -> None:
        self.allowed = PHI_FREE_META | frozenset(allowed_meta)

    def __call__(self, image: Any) -> Any:
        """
        Args:
            image: the image; a MetaTensor loses every meta entry outside the allowlist.
        """
        if isinstance(image, MetaTensor):
            for name in [name for name in image.meta if name not in self.allowed]:
                del image.meta[name]
        return image


class DropIdentifyingd(MapTransform):
    """Remove the header, OCR text, encoded pixels and output path of each key, and prune its meta to an allowlist.

    Put it last in the de-identification part of a training ``Compose``: after it the item is collatable and holds
    nothing identifying (given the stages before it did their work on the pixels).

    Args:
        keys: image keys; ``f"{key}_dicom"``, ``f"{key}_text"``, ``f"{key}_encoded"`` and ``f"{key}_output"`` go.
        allowed_meta: extra meta keys to keep besides :data:`PHI_FREE_META`.
        allow_missing_keys: don't raise if a key is missing.
    """

    backend = DropIdentifying.backend

    def __init__(
        self, keys: KeysCollection = "image", allowed_meta: Iterable[str] = (), allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.dropper = DropIdentifying(allowed_meta)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            for suffix in SIDE_KEY_SUFFIXES:
                d.pop(f"{key}{suffix}", None)
            d[key] = self.dropper(d[key])
        return d


def build_training_transforms(
    keys: KeysCollection = "image",
    device: str = "cpu",
    text_policy: str = "sensitive",
    ner_model: str | Path | None = None,
    detect_text: bool = True,
    allowed_meta: Iterable[str] = (),
    extra: Sequence[Any] = (),
) -> Compose:
    """A training ``Compose``: load, detect text, classify, redact, drop what identifies, then ``extra``.

    The header is not scrubbed but dropped whole by :class:`DropIdentifyingd`: nothing of it reaches the batch, so no
    secret is needed (pseudonyms and UIDs are for files that leave, see ``monai_deid.pipeline``).

    Args:
        keys: image keys; the items hold their file paths under these keys.
        device: device of the OCR and NER models.
        text_policy: ClassifyPHI's policy (``sensitive``, ``all_text`` or ``none``).
        ner_model: a local token-classification model for ClassifyPHI, or ``None`` for rules only.
        detect_text: run the burned-in text stages (OCR, classification, redaction); switch off only for data whose
            pixels are known to carry no text.
        allowed_meta: extra meta keys :class:`DropIdentifyingd` keeps.
        extra: training transforms appended after the de-identification (intensity, cropping, ...).
    """
    stages: list[Any] = [LoadDicomWithMetad(keys)]
    if detect_text:
        stages += [
            DetectBurnedInTextd(keys, device=device),
            ClassifyPHId(keys, policy=text_policy, ner_model=ner_model, device=device),
            RedactPixelsd(keys),
        ]
    stages.append(DropIdentifyingd(keys, allowed_meta))
    return Compose([*stages, *extra])
