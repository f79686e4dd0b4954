"""Time per stage of the file-to-file pipeline, per corpus set: where a file's time goes.

Runs ``build_pipeline``'s transforms one by one, in one process, on every file of each set of the benchmark corpus
(``benchmarks/corpus.py``), and reports per stage the milliseconds per file and per frame and its share of the
whole, and the header-only pipeline's time per file on the same files (``scan_pixels=False``, timed in the same
rounds) with the full pipeline's ratio to it. Warm-up files (``000_warmup_*``) are run first and left out. On CUDA
each stage is timed after a device synchronisation, so asynchronous work is charged to the stage that queued it.

Usage:
    PYTHONPATH=$PWD python -m benchmarks.bench_stages [--workdir /tmp/monai-deid-bench] [--device cpu|cuda]
        [--sets us_single notext cine compressed] [--rounds 2]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import Counter
from pathlib import Path

import torch

from benchmarks.corpus import CORPUS_SETS, build_corpus, is_warmup
from monai_deid.pipeline import build_pipeline

_SECRET = "monai-deid-bench-stages"


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_stages(files: list[Path], output: Path, device: str, scan_pixels: bool = True) -> tuple[Counter, int]:
    """Seconds spent in each transform over ``files``, and the number of frames they hold (``scan_pixels=False``:
    the header-only pipeline)."""
    pipeline = build_pipeline(output, device=device, scan_pixels=scan_pixels, scrub={"secret": _SECRET})
    seconds: Counter = Counter()
    frames = 0
    for path in files:
        data: dict = {"image": str(path)}
        for transform in pipeline.transforms:
            _sync(device)
            start = time.perf_counter()
            data = transform(data)
            _sync(device)
            seconds[type(transform).__name__] += time.perf_counter() - start
        frames += int(data["image"].shape[1]) if "image" in data else 1
    return seconds, frames


def stage_table(name: str, seconds: Counter, files: int, frames: int) -> list[str]:
    total = sum(seconds.values())
    rows = [
        f"### {name}: {files} files, {frames} frames, {1000 * total / files:.0f} ms per file",
        "",
        "| stage | ms per file | ms per frame | share |",
        "| --- | ---: | ---: | ---: |",
    ]
    for stage, spent in seconds.items():
        rows.append(
            f"| {stage} | {1000 * spent / files:.1f} | {1000 * spent / frames:.2f} | {100 * spent / total:.0f}% |"
        )
    return [*rows, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/monai-deid-bench"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sets", nargs="+", default=list(CORPUS_SETS), choices=CORPUS_SETS)
    parser.add_argument("--rounds", type=int, default=2, help="passes over each set; the last one is reported")
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    build_corpus(workdir)
    print(f"machine: {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}")
    for name in args.sets:
        paths = sorted((workdir / "corpus" / name).glob("*.dcm"))
        warmups, files = [p for p in paths if is_warmup(p)], [p for p in paths if not is_warmup(p)]
        output = workdir / "stages_out" / name
        time_stages(warmups, output, args.device)
        time_stages(warmups, output, args.device, scan_pixels=False)
        for _ in range(args.rounds):
            seconds, frames = time_stages(files, output, args.device)
            header_only, _ = time_stages(files, output, args.device, scan_pixels=False)
        print("\n".join(stage_table(name, seconds, len(files), frames)))
        full, header = sum(seconds.values()) / len(files), sum(header_only.values()) / len(files)
        print(f"header-only pipeline: {1000 * header:.1f} ms per file; the full one {full / header:.2f}x that\n")


if __name__ == "__main__":
    main()
