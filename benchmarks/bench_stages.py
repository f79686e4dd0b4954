"""Time per stage of the file-to-file pipeline, per corpus set: where a file's time goes.

Runs ``build_pipeline``'s transforms one by one, in one process, on every file of each set of the benchmark corpus
(``benchmarks/corpus.py``), and reports per stage the milliseconds per file and per frame and its share of the
whole, and the header-only pipeline's time per file on the same files (``scan_pixels=False``, timed in the same
rounds) with the full pipeline's ratio to it, and each stage's forward passes of the detector and the recogniser per
file (on a GPU, each pass is a round trip to the host). Warm-up files (``000_warmup_*``) are run first and left out.
On CUDA each stage is timed after a device synchronisation, so asynchronous work is charged to the stage that queued
it.

Usage:
    PYTHONPATH=$PWD python -m benchmarks.bench_stages [--workdir /tmp/monai-deid-bench] [--device cpu|cuda]
        [--sets us_single notext cine compressed] [--rounds 2] [--detector auto|lines|craft]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from benchmarks.corpus import CORPUS_SETS, build_corpus, is_warmup
from monai_deid.ocr import engine
from monai_deid.pipeline import build_pipeline

_SECRET = "monai-deid-bench-stages"


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def counting_passes(counts: Counter) -> Iterator[None]:
    """Count the detector's and the recogniser's forward passes into ``counts`` (keys ``"detector"`` and
    ``"recogniser"``). On a GPU each pass ends with its results copied back to the host: a round trip."""
    score_maps, recognize = engine._score_maps, engine._recognize

    def detector_pass(*args: Any, **kwargs: Any) -> Any:
        counts["detector"] += 1
        return score_maps(*args, **kwargs)

    def recogniser_pass(*args: Any, **kwargs: Any) -> Any:
        counts["recogniser"] += 1
        return recognize(*args, **kwargs)

    engine._score_maps, engine._recognize = detector_pass, recogniser_pass
    try:
        yield
    finally:
        engine._score_maps, engine._recognize = score_maps, recognize


def time_stages(
    files: list[Path],
    output: Path,
    device: str,
    scan_pixels: bool = True,
    passes: Counter | None = None,
    detector: str = "auto",
) -> tuple[Counter, int]:
    """Seconds spent in each transform over ``files``, and the number of frames they hold (``scan_pixels=False``:
    the header-only pipeline). With ``passes``, each transform's network passes are added to it (keys
    ``(stage, network)``, see :func:`counting_passes`). ``detector``: as in ``DetectBurnedInText``, for detection
    and verification."""
    detect = {"detector": detector}
    pipeline = build_pipeline(output, device=device, scan_pixels=scan_pixels, detect=detect, scrub={"secret": _SECRET})
    seconds: Counter = Counter()
    frames = 0
    for path in files:
        data: dict = {"image": str(path)}
        for transform in pipeline.transforms:
            stage, counts = type(transform).__name__, Counter()
            _sync(device)
            start = time.perf_counter()
            with counting_passes(counts):
                data = transform(data)
            _sync(device)
            seconds[stage] += time.perf_counter() - start
            if passes is not None:
                passes.update({(stage, network): n for network, n in counts.items()})
        frames += int(data["image"].shape[1]) if "image" in data else 1
    return seconds, frames


def stage_table(name: str, seconds: Counter, files: int, frames: int, passes: Counter | None = None) -> list[str]:
    """The per-stage Markdown table; with ``passes`` (from :func:`time_stages`), the detector's and the recogniser's
    forward passes per file too."""
    total = sum(seconds.values())
    header = "| stage | ms per file | ms per frame | share |"
    rule = "| --- | ---: | ---: | ---: |"
    if passes is not None:
        header, rule = header + " detector passes per file | recogniser passes per file |", rule + " ---: | ---: |"
    rows = [f"### {name}: {files} files, {frames} frames, {1000 * total / files:.0f} ms per file", "", header, rule]
    for stage, spent in seconds.items():
        row = f"| {stage} | {1000 * spent / files:.1f} | {1000 * spent / frames:.2f} | {100 * spent / total:.0f}% |"
        if passes is not None:
            row += f" {passes[stage, 'detector'] / files:.2f} | {passes[stage, 'recogniser'] / files:.2f} |"
        rows.append(row)
    return [*rows, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/monai-deid-bench"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sets", nargs="+", default=list(CORPUS_SETS), choices=CORPUS_SETS)
    parser.add_argument("--rounds", type=int, default=2, help="passes over each set; the last one is reported")
    parser.add_argument(
        "--detector", default="auto", choices=["auto", "lines", "craft"], help="craft on a CPU: a GPU's passes"
    )
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    build_corpus(workdir)
    print(f"machine: {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}")
    for name in args.sets:
        paths = sorted((workdir / "corpus" / name).glob("*.dcm"))
        warmups, files = [p for p in paths if is_warmup(p)], [p for p in paths if not is_warmup(p)]
        output = workdir / "stages_out" / name
        time_stages(warmups, output, args.device, detector=args.detector)
        time_stages(warmups, output, args.device, scan_pixels=False)
        for _ in range(args.rounds):
            passes: Counter = Counter()
            seconds, frames = time_stages(files, output, args.device, passes=passes, detector=args.detector)
            header_only, _ = time_stages(files, output, args.device, scan_pixels=False)
        print("\n".join(stage_table(name, seconds, len(files), frames, passes)))
        full, header = sum(seconds.values()) / len(files), sum(header_only.values()) / len(files)
        print(f"header-only pipeline: {1000 * header:.1f} ms per file; the full one {full / header:.2f}x that\n")


if __name__ == "__main__":
    main()
