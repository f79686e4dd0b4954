"""ClassifyPHI / ClassifyPHId: label each burned-in text region as PHI or not, with a reason code and a score."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends
from pydicom.dataset import Dataset

from ..regions import TextRegion
from .allowlist import Allowlist, load_placeholders
from .evidence import gather_evidence
from .header_values import collect_header_values
from .institution import InstitutionCues
from .line_context import line_context_evidence
from .line_terms import pieces_of_line_terms
from .matching import HeaderMatcher
from .ner import DEFAULT_NER_MODEL, NerTagger
from .policy import POLICIES, decide

__all__ = ["ClassifyPHI", "ClassifyPHId"]


class ClassifyPHI(Transform):
    """Decide which text regions are PHI, from the file's header values, PHI patterns, NER and the allowlist.

    Evidence of PHI is looked at before the allowlist, so a clinical-looking string that shows a header value, a
    date or an institution cue (``MEDICAL``, ``CLINIC``) is still PHI. Each region gets ``is_phi``, a PHI-free
    ``reason`` (``"header:PatientID"``, ``"pattern:date"``, ``"pattern:institution"``, ``"ner:PATIENT"``,
    ``"allowlist:probe"``, ``"policy:doubt"``, ...) and a ``score``.

    Args:
        policy: ``"sensitive"`` (default: PHI evidence or a word that could be an identifier -> PHI),
            ``"all_text"`` (everything not on the allowlist is PHI) or ``"none"`` (nothing is PHI).
        ner_model: Hugging Face model id (local cache only) or local directory of a token-classification model;
            ``None`` disables NER. When the model is not available locally, one warning and no NER.
        device: device of the NER model; ``None``: CPU, or the image's device in ``ClassifyPHId``.
        extra_allowlist: YAML file(s) with site terms, same layout as ``phi/clinical_vocabulary.yaml``.
        ner_batch_size: texts per NER forward pass.
        ner_threshold: minimum probability of an NER PHI label.
        ner_labels: extra model label names (without B-/I- prefix) -> PHI category, or ``None`` for "not PHI".
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH]

    def __init__(
        self,
        policy: str = "sensitive",
        ner_model: str | Path | None = DEFAULT_NER_MODEL,
        device: str | torch.device | None = None,
        extra_allowlist: str | Path | Sequence[str | Path] | None = None,
        ner_batch_size: int = 32,
        ner_threshold: float = 0.5,
        ner_labels: dict[str, str | None] | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown PHI policy {policy!r}; expected one of {POLICIES}")
        if ner_batch_size < 1:
            raise ValueError(f"ner_batch_size must be at least 1, got {ner_batch_size}")
        if not 0 <= ner_threshold <= 1:
            raise ValueError(f"ner_threshold must be from 0 to 1, got {ner_threshold}")
        self.policy = policy
        extra = [extra_allowlist] if isinstance(extra_allowlist, (str, Path)) else list(extra_allowlist or [])
        self.allowlist = Allowlist(extra)
        self._placeholders = load_placeholders()
        self.cues = InstitutionCues()
        self.ner = (
            None
            if ner_model is None
            else NerTagger(
                ner_model, device, batch_size=ner_batch_size, threshold=ner_threshold, extra_labels=ner_labels
            )
        )
        self.device = device

    def matcher(self, header: Dataset | None) -> HeaderMatcher:
        """The header-value matcher of one file."""
        return HeaderMatcher(collect_header_values(header), self.allowlist.is_term, self._placeholders)

    def __call__(self, regions: Sequence[TextRegion], header: Dataset | None = None) -> list[TextRegion]:
        """Return copies of ``regions`` with ``is_phi``, ``reason`` and ``score`` filled.

        Args:
            regions: the text regions of one image (``DetectBurnedInText``'s output).
            header: the image's DICOM header (``None`` when there is none: no header evidence).
        """
        if self.policy == "none":
            return [dataclasses.replace(r, is_phi=False, reason="policy:none", score=1.0) for r in regions]
        if not regions:
            return []
        matcher = self.matcher(header)
        in_terms = pieces_of_line_terms(regions, self.allowlist)
        evidence = [
            gather_evidence(r.text, matcher, self.allowlist, cues=self.cues, line_term=in_terms.get(i))
            for i, r in enumerate(regions)
        ]
        if self.ner is not None:
            # NER can only add PHI evidence: regions a header value or a pattern already decided need no model pass
            todo = [i for i, ev in enumerate(evidence) if ev.has_text and ev.header is None and ev.pattern is None]
            for i, spans in zip(todo, self.ner.find([regions[i].text for i in todo]), strict=True):
                evidence[i].ner = max(spans, key=lambda s: s.score) if spans else None
        out = []
        for region, ev in zip(regions, evidence, strict=True):
            d = decide(ev, self.policy)
            out.append(dataclasses.replace(region, is_phi=d.is_phi, reason=d.reason, score=d.score))
        # a kept word can be one piece of a value or a date split over several regions of one line
        for i, (reason, score) in line_context_evidence(out, matcher, (self.cues, self.allowlist)).items():
            out[i] = dataclasses.replace(out[i], is_phi=True, reason=reason, score=score)
        return out


class ClassifyPHId(MapTransform):
    """Dictionary wrapper of :class:`ClassifyPHI`: reads ``f"{key}_text"`` and ``f"{key}_dicom"``, writes the
    labelled regions back to ``f"{key}_text"``.

    Args:
        keys: image keys (default ``"image"``); their side keys hold the regions and the header.
        policy: see :class:`ClassifyPHI`.
        ner_model: see :class:`ClassifyPHI`.
        device: see :class:`ClassifyPHI`; ``None`` runs NER on the device of ``data[key]``.
        extra_allowlist: see :class:`ClassifyPHI`.
        ner_batch_size: see :class:`ClassifyPHI`.
        ner_threshold: see :class:`ClassifyPHI`.
        ner_labels: see :class:`ClassifyPHI`.
        text_key_postfix: postfix of the regions' key.
        dicom_key_postfix: postfix of the header's key.
        allow_missing_keys: skip keys (and their side keys) that are missing instead of raising ``KeyError``.
    """

    backend: ClassVar[list[TransformBackends]] = ClassifyPHI.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        policy: str = "sensitive",
        ner_model: str | Path | None = DEFAULT_NER_MODEL,
        device: str | torch.device | None = None,
        extra_allowlist: str | Path | Sequence[str | Path] | None = None,
        ner_batch_size: int = 32,
        ner_threshold: float = 0.5,
        ner_labels: dict[str, str | None] | None = None,
        text_key_postfix: str = "_text",
        dicom_key_postfix: str = "_dicom",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.classifier = ClassifyPHI(
            policy, ner_model, device, extra_allowlist, ner_batch_size, ner_threshold, ner_labels
        )
        self.text_key_postfix = text_key_postfix
        self.dicom_key_postfix = dicom_key_postfix

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            text_key = f"{key}{self.text_key_postfix}"
            if text_key not in d:
                if self.allow_missing_keys:
                    continue
                # fail closed: text that was never detected cannot be declared PHI-free
                raise KeyError(f"{text_key!r} is missing: run DetectBurnedInText before ClassifyPHI")
            image = d.get(key)
            if self.classifier.device is None and self.classifier.ner is not None and isinstance(image, torch.Tensor):
                self.classifier.ner.to(image.device)
            d[text_key] = self.classifier(d[text_key], d.get(f"{key}{self.dicom_key_postfix}"))
        return d
