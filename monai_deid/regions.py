"""Text regions: the record that DetectBurnedInText writes and ClassifyPHI, RedactPixels and the audit read.

A region's ``text`` is the raw OCR reading and is PHI: it is never logged, written to the audit or collated into a
batch. Only ``frames``, ``box``, ``confidence`` and the PHI decision (``is_phi``, ``reason``, ``score``) may leave the
process.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TextRegion"]


@dataclass
class TextRegion:
    """One piece of text burned into the pixels.

    Args:
        frames: indices (0-based) of the frames the text appears on, sorted.
        box: ``(x0, y0, x1, y1)`` in pixel coordinates of the stored image, end-exclusive.
        text: the recognised text (PHI; never log it).
        confidence: recogniser confidence in ``[0, 1]``.
        is_phi: ClassifyPHI's decision; ``None`` until classified.
        reason: PHI-free code of the evidence that decided (``"header:PatientName"``, ``"pattern:date"``,
            ``"allowlist"``, ``"ner:PATIENT"``, ``"policy:all_text"``, ...).
        score: the deciding evidence's score in ``[0, 1]``.
    """

    frames: tuple[int, ...]
    box: tuple[int, int, int, int]
    text: str
    confidence: float
    is_phi: bool | None = None
    reason: str | None = None
    score: float | None = None

    def audit_record(self) -> dict:
        """The region without its text, safe for the audit log and the review report."""
        return {
            "frames": list(self.frames),
            "box": list(self.box),
            "confidence": round(float(self.confidence), 4),
            "is_phi": self.is_phi,
            "reason": self.reason,
            "score": None if self.score is None else round(float(self.score), 4),
        }
