"""NER evidence: a ``transformers`` token-classification model run over the OCR readings.

The model (default ``StanfordAIMI/stanford-deidentifier-base``, or any local path) is loaded with
``local_files_only=True``: nothing is ever downloaded. When it is not available locally the tagger warns once and
reports no entities, and the classifier works from the other evidence. Its label set is checked against the known
PHI categories when it is loaded: a label this module cannot place is an error, never silently ignored (a model
whose ``PATIENT`` labels are not mapped would keep every name it finds).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import torch

__all__ = ["DEFAULT_NER_MODEL", "NER_CATEGORIES", "NerLabelError", "NerSpan", "NerTagger", "label_categories"]

DEFAULT_NER_MODEL = "StanfordAIMI/stanford-deidentifier-base"

#: label name (without B-/I-/E-/S-/L-/U- prefix, upper case) -> PHI category, or None for "not PHI"
NER_CATEGORIES: dict[str, str | None] = {
    "O": None,
    "VENDOR": None,  # device makers: kept on images by design
    **{k: "PATIENT" for k in ("PATIENT", "PAT", "NAME_STUDENT")},
    **{k: "STAFF" for k in ("HCW", "STAFF", "DOCTOR", "DR", "PHYSICIAN")},
    **{k: "PERSON" for k in ("PER", "PERSON", "NAME", "USERNAME")},
    **{k: "HOSPITAL" for k in ("HOSPITAL", "HOSP", "PATORG", "ORGANIZATION", "ORG")},
    **{k: "LOCATION" for k in ("LOC", "LOCATION", "LOCATION_OTHER", "CITY", "STATE", "COUNTRY", "STREET", "ZIP")},
    **{k: "LOCATION" for k in ("STREET_ADDRESS", "ADDRESS", "GPE")},
    **{k: "DATE" for k in ("DATE", "DATE_TIME", "TIME", "DATETIME")},
    "AGE": "AGE",
    **{k: "ID" for k in ("ID", "IDNUM", "ID_NUM", "MEDICALRECORD", "MRN", "BIOID", "HEALTHPLAN", "ACCOUNT")},
    **{k: "ID" for k in ("LICENSE", "DEVICE", "SSN", "VEHICLE")},
    **{k: "CONTACT" for k in ("PHONE", "PHONE_NUM", "FAX", "EMAIL", "URL", "URL_PERSONAL", "IP", "IPADDRESS")},
    **{k: "OTHER" for k in ("PROFESSION", "MISC", "OTHER", "NORP")},
}
_PREFIXES = ("B-", "I-", "E-", "S-", "L-", "U-")


class NerLabelError(ValueError):
    """The model's ``id2label`` holds labels that cannot be mapped to a PHI category (names the labels)."""


class NerSpan(NamedTuple):
    """An entity found by the model: PHI category, character span, probability."""

    category: str
    start: int
    end: int
    score: float


def _strip_prefix(label: str) -> str:
    upper = label.upper()
    return upper[2:] if upper.startswith(_PREFIXES) else upper


def label_categories(id2label: dict[int, str], extra: dict[str, str | None] | None = None) -> dict[int, str | None]:
    """Map a model's label ids to PHI categories (``None`` = not PHI).

    Args:
        id2label: the model config's ``id2label``.
        extra: more label names (without prefix) and their categories, for models with their own label names.

    Raises:
        NerLabelError: some labels are unknown; the message lists them and how to map them.
    """
    known = NER_CATEGORIES | {k.upper(): v for k, v in (extra or {}).items()}
    mapping, unknown = {}, []
    for idx, label in id2label.items():
        name = _strip_prefix(str(label))
        if name in known:
            mapping[int(idx)] = known[name]
        else:
            unknown.append(str(label))
    if unknown:
        raise NerLabelError(
            f"NER model labels {sorted(unknown)} are not known PHI categories; map them with "
            f"ClassifyPHI(ner_labels={{'LABEL': 'PATIENT' or None, ...}}) or use another model"
        )
    return mapping


class NerTagger:
    """Token classification over short texts, batched, on one device.

    Args:
        model: a Hugging Face model id (looked up in the local cache only) or a local directory.
        device: where the model runs (``"cpu"``, ``"cuda"``, a ``torch.device``); ``None`` picks CPU.
        batch_size: texts per forward pass.
        threshold: minimum probability of a PHI label for a token to count.
        extra_labels: label names (without prefix) -> PHI category or ``None``, added to ``NER_CATEGORIES``.
    """

    def __init__(
        self,
        model: str | Path,
        device: str | torch.device | None = None,
        batch_size: int = 32,
        threshold: float = 0.5,
        extra_labels: dict[str, str | None] | None = None,
    ) -> None:
        self.model_id = str(model)
        self.device = torch.device(device or "cpu")
        self.batch_size = batch_size
        self.threshold = threshold
        self.extra_labels = extra_labels
        self._loaded = False
        self._model = None
        self._tokenizer = None
        self._categories: dict[int, str | None] = {}

    @property
    def available(self) -> bool:
        """Whether the model is loaded (loads it on first use)."""
        self._load()
        return self._model is not None

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_id, local_files_only=True)
            model = AutoModelForTokenClassification.from_pretrained(self.model_id, local_files_only=True)
        except (OSError, ValueError) as err:
            warnings.warn(
                f"NER model {self.model_id!r} is not available locally ({type(err).__name__}); "
                "classifying burned-in text from header values, patterns and the allowlist only",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        self._categories = label_categories(model.config.id2label, self.extra_labels)
        if not tokenizer.is_fast:
            raise ValueError(f"NER model {self.model_id!r} needs a fast tokenizer (character offsets)")
        self._tokenizer, self._model = tokenizer, model.to(self.device).eval()

    def to(self, device: str | torch.device) -> NerTagger:
        """Move the model to ``device`` (it runs where the pipeline's tensors are)."""
        self.device = torch.device(device)
        if self._model is not None:
            self._model.to(self.device)
        return self

    def find(self, texts: list[str]) -> list[list[NerSpan]]:
        """PHI entities of each text; empty lists when the model is not available."""
        if not texts or not self.available:
            return [[] for _ in texts]
        out: list[list[NerSpan]] = []
        for first in range(0, len(texts), self.batch_size):
            out += self._find_batch(texts[first : first + self.batch_size])
        return out

    @torch.inference_mode()
    def _find_batch(self, texts: list[str]) -> list[list[NerSpan]]:
        max_length = min(int(self._tokenizer.model_max_length), 512)
        enc = self._tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=max_length,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = enc.pop("offset_mapping").tolist()
        logits = self._model(**{k: v.to(self.device) for k, v in enc.items()}).logits
        probs, labels = logits.float().softmax(-1).max(-1)
        probs, labels = probs.cpu().tolist(), labels.cpu().tolist()
        return [self._spans(o, p, lab) for o, p, lab in zip(offsets, probs, labels, strict=True)]

    def _spans(self, offsets: list[list[int]], probs: list[float], labels: list[int]) -> list[NerSpan]:
        spans: list[NerSpan] = []
        for (start, end), prob, label in zip(offsets, probs, labels, strict=True):
            category = self._categories.get(label)
            if end <= start or category is None or prob < self.threshold:
                continue
            last = spans[-1] if spans else None
            if last and last.category == category and start - last.end <= 1:
                spans[-1] = NerSpan(category, last.start, end, min(last.score, prob))
            else:
                spans.append(NerSpan(category, start, end, prob))
        return spans
