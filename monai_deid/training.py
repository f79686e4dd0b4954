"""De-identification on the fly in a training pipeline: the stages, then a final step that drops what identifies.

The header (``<key>_dicom``), the OCR text (``<key>_text``), the original encoded pixels (``<key>_encoded``), an
output path (``<key>_output``) and the verifier's PHI inventory (``<key>_phi``) must never reach a collated batch, a
cache or a log; nor may meta entries this package did not vouch for. :class:`DropIdentifyingd` removes them, leaving
an item that collates.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import Compose, MapTransform, Transform
from monai.utils import TransformBackends
from monai.utils.enums import MetaKeys

from monai_deid.io import LoadDicomWithMetad
from monai_deid.pipeline import build_deid_transforms

__all__ = ["PHI_FREE_META", "SIDE_KEY_SUFFIXES", "DropIdentifying", "DropIdentifyingd", "build_training_transforms"]

#: Data dictionary entries beside ``key`` that hold PHI or link back to the source.
SIDE_KEY_SUFFIXES = ("_dicom", "_text", "_encoded", "_output", "_phi")
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
        keys: image keys; ``f"{key}_dicom"``, ``_text``, ``_encoded``, ``_output`` and ``_phi`` go.
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
    key: str = "image",
    device: str = "cpu",
    scan_pixels: bool = True,
    detect: dict[str, Any] | None = None,
    classify: dict[str, Any] | None = None,
    redact: dict[str, Any] | None = None,
    scrub: dict[str, Any] | None = None,
    verify: dict[str, Any] | None = None,
    allowed_meta: Iterable[str] = (),
    extra: Sequence[Any] = (),
) -> Compose:
    """A training ``Compose``: load, every de-identification stage, :class:`DropIdentifyingd`, then ``extra``.

    The stages are the file pipeline's (:func:`monai_deid.pipeline.build_deid_transforms`: detect, classify, redact,
    scrub, verify), so an item that would be quarantined by the command line raises here too. Nothing of the header
    reaches the batch, so by default ScrubMetadata may use a throw-away secret (``MONAI_DEID_SECRET`` still wins).

    Args:
        key: the image key; items hold their file path under it.
        device: where OCR, NER and redaction run.
        scan_pixels: run the pixel stages (OCR, classification, redaction); switch off only for data whose pixels
            are known to carry no text (or that was de-identified already).
        detect: keyword arguments of DetectBurnedInTextd.
        classify: keyword arguments of ClassifyPHId (``policy``, ``ner_model``, ...).
        redact: keyword arguments of RedactPixelsd.
        scrub: keyword arguments of ScrubMetadatad; default ``{"generate_secret": True}``.
        verify: keyword arguments of VerifyDeidentifiedd.
        allowed_meta: extra meta keys :class:`DropIdentifyingd` keeps.
        extra: training transforms appended after the de-identification (intensity, cropping, ...).
    """
    stages = build_deid_transforms(
        key,
        device=device,
        scan_pixels=scan_pixels,
        detect=detect,
        classify=classify,
        redact=redact,
        scrub={"generate_secret": True} if scrub is None else scrub,
        verify=verify,
    )
    return Compose([LoadDicomWithMetad(key), *stages, DropIdentifyingd(key, allowed_meta), *extra])
