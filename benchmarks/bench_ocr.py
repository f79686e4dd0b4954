"""Benchmark of the OCR stage: DetectBurnedInText against plain ``easyocr.Reader.readtext``, in the same run.

Both detection modes run: ``detector="craft"`` (CRAFT over every stroke area) and the default ``"lines"`` (stroke-test
lines read by the recogniser directly).

Cases: the single-frame ultrasound files of pydicom-data, a synthetic 1024x768 ultrasound frame, a CT without text
(the text-presence test), and a 30-frame cine (static overlay, one label on frame 17) against its single frame, once
with a still background and once with anatomy that changes on every frame.

The baseline reads the same 8-bit OCR view with ``readtext`` as EasyOCR ships (greedy decoding, canvas 2560). Both
use the same reader weights and the same torch threads. Prints a Markdown table; no result is asserted.

Usage:
    PYTHONPATH=$PWD:$PWD/tests python benchmarks/bench_ocr.py [--device cpu] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monai_deid.io import LoadDicomWithMeta  # noqa: E402
from monai_deid.ocr import DetectBurnedInText, ocr_view_frames  # noqa: E402
from tests.datafiles import pydicom_data_file, pydicom_test_file  # noqa: E402
from tests.ocr_dicom import FORMATS, write_dicom  # noqa: E402
from tests.ocr_render import STRINGS, draw_strings  # noqa: E402


def _timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _ultrasound_frame(h: int, w: int, rng: np.random.Generator, phase: float = 0.0) -> np.ndarray:
    """A float [0, 1] frame: dark screen, a speckled fan-shaped sector whose speckle depends on ``phase``."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, top = w / 2, h * 0.12
    r = np.hypot(xx - cx, yy - top)
    angle = np.arctan2(xx - cx, yy - top)
    sector = (r < h * 0.8) & (np.abs(angle) < 0.6) & (yy > top)
    speckle = np.abs(rng.normal(0.0, 0.25, (h, w))).astype(np.float32)
    tissue = 0.25 + 0.15 * np.sin(r / 9.0 + phase) + speckle
    return np.where(sector, np.clip(tissue, 0, 1), 0.02).astype(np.float32)


def _overlay(frame: np.ndarray, size: int) -> np.ndarray:
    h, w = frame.shape
    out, _ = draw_strings(frame, STRINGS[:4], "mono", size, 0.95, origin=(10, 8))
    out, _ = draw_strings(out, STRINGS[4:8], "sans", size, 0.95, origin=(w - 16 * size, 8))
    out, _ = draw_strings(out, [STRINGS[8]], "sans", size, 0.95, origin=(10, h - 3 * size))
    return out


def _cases(tmp: Path) -> list[tuple[str, Path]]:
    rng = np.random.default_rng(7)
    cases = [
        ("US1_UNCR 640x480 RGB", pydicom_data_file("US1_UNCR.dcm")),
        ("OBXXXX1A 800x600 palette", pydicom_data_file("OBXXXX1A.dcm")),
        ("gdcm-US-ALOKA-16 640x480 palette", pydicom_data_file("gdcm-US-ALOKA-16.dcm")),
        ("CT 693_UNCR 512x512, no text", pydicom_data_file("693_UNCR.dcm")),
        ("CT_small 128x128, no text", pydicom_test_file("CT_small.dcm")),
    ]
    big = _overlay(_ultrasound_frame(768, 1024, rng), 14)
    cases.append(("synthetic US 1024x768", write_dicom(tmp / "us1024.dcm", big[None], FORMATS[0])))
    still = _overlay(_ultrasound_frame(480, 640, rng), 12)
    cases.append(("cine frame 640x480 (1 frame)", write_dicom(tmp / "one.dcm", still[None], FORMATS[0])))
    cine = np.repeat(still[None], 30, axis=0)
    cine[17], _ = draw_strings(still, ["LT KIDNEY"], "mono", 12, 0.95, origin=(280, 300))
    cases.append(("cine 30 frames, still background", write_dicom(tmp / "cine_still.dcm", cine, FORMATS[0])))
    moving = np.stack([_overlay(_ultrasound_frame(480, 640, np.random.default_rng(i), i * 0.3), 12) for i in range(30)])
    moving[17], _ = draw_strings(moving[17], ["LT KIDNEY"], "mono", 12, 0.95, origin=(280, 300))
    cases.append(("cine 30 frames, moving anatomy", write_dicom(tmp / "cine_moving.dcm", moving, FORMATS[0])))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    # The baseline is EasyOCR as shipped: its own reader, not the one monai-deid tunes (see engine.get_reader).
    import easyocr
    import easyocr_en_models

    reader = easyocr.Reader(
        ["en"],
        gpu=args.device != "cpu",
        model_storage_directory=easyocr_en_models.model_dir(),
        download_enabled=False,
        verbose=False,
    )
    detector = DetectBurnedInText(device=args.device)
    exhaustive = DetectBurnedInText(device=args.device, detector="craft")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} threads {torch.get_num_threads()}, device {args.device}"
    )
    print(
        "| case | frames | readtext ms/frame | detector=craft ms/frame | detector=lines (default) ms/frame "
        "| lines vs readtext | regions (craft / lines) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    single_ms = None
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in _cases(Path(tmp)):
            image, header, _ = LoadDicomWithMeta()(path)
            frames = image.shape[1]
            view = ocr_view_frames(image, header)
            # The baseline reads one frame (frame 0); a plain loop over a cine costs frames x that.
            base_s, _ = _timed(lambda v=view: reader.readtext(v[0]), args.repeat)
            craft_s, craft_regions = _timed(lambda i=image, h=header: exhaustive(i, h), args.repeat)
            ours_s, regions = _timed(lambda i=image, h=header: detector(i, h), args.repeat)
            ours_ms = ours_s * 1000 / frames
            note = ""
            if name.startswith("cine frame"):
                single_ms = ours_s * 1000
            elif name.startswith("cine 30") and single_ms:
                note = f" (whole cine = {ours_s * 1000 / single_ms:.2f}x one frame)"
            print(
                f"| {name} | {frames} | {base_s * 1000:.0f} | {craft_s * 1000 / frames:.0f} | {ours_ms:.0f}{note} "
                f"| {base_s * 1000 / ours_ms:.1f}x | {len(craft_regions)} / {len(regions)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
