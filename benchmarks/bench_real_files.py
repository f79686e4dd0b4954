"""Time per stage over real scanner files: pydicom's own test files and pydicom-data's, as they come.

The corpus (``corpus.py``) is generated to plant known PHI; real files bring what it lacks: JPEG Baseline
YBR_FULL_422 cines, segmented 16-bit palettes, 3D renderings whose frames all differ, compressed syntaxes of every
kind. Every file runs through ``build_pipeline``'s transforms one by one in one process, and through the header-only
pipeline (``scan_pixels=False``) in the same round; files that fail or are quarantined are counted, not timed. The
last of ``--rounds`` passes is reported: per stage over all written files, and the slowest files.

Usage:
    PYTHONPATH=$PWD python -m benchmarks.bench_real_files [--rounds 2] [--slowest 10] [--workdir /tmp/monai-deid-real]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from collections import Counter
from pathlib import Path

import pydicom
import torch

from benchmarks.corpus import pydicom_data_folder
from monai_deid.pipeline import build_pipeline

_SECRET = {"secret": "monai-deid-bench-real-files"}


def real_files() -> list[Path]:
    """Every file of pydicom's test files and of pydicom-data, sorted by name."""
    folders = [Path(pydicom.data.__file__).parent / "test_files", pydicom_data_folder()]
    return sorted((p for folder in folders for p in folder.rglob("*") if p.is_file()), key=lambda p: p.name)


def time_file(transforms: list, path: Path) -> tuple[Counter, int] | None:
    """Seconds per stage and the frames of one file, or ``None`` when the pipeline does not write it."""
    seconds: Counter = Counter()
    data: dict = {"image": str(path)}
    try:
        for transform in transforms:
            start = time.perf_counter()
            data = transform(data)
            seconds[type(transform).__name__] += time.perf_counter() - start
    except Exception:  # failed or quarantined: the batch goes on, as the runner's does
        return None
    return seconds, int(data["image"].shape[1])


def stage_table(timed: dict[str, tuple[Counter, int]]) -> list[str]:
    """Seconds, ms per file and per frame, and share of each stage over the written files."""
    stages = sum((seconds for seconds, _ in timed.values()), Counter())
    total, frames = sum(stages.values()), sum(n for _, n in timed.values())
    rows = ["| stage | s | ms per file | ms per frame | share |", "| --- | ---: | ---: | ---: | ---: |"]
    for stage, spent in stages.items():
        per_file, per_frame = 1000 * spent / len(timed), 1000 * spent / frames
        rows.append(f"| {stage} | {spent:.2f} | {per_file:.1f} | {per_frame:.2f} | {100 * spent / total:.0f}% |")
    return rows


def slowest_table(timed: dict[str, tuple[Counter, int]], count: int) -> list[str]:
    """The ``count`` slowest files: frames, whole time and the four largest stages, ms."""
    stages = ("DetectBurnedInTextd", "VerifyDeidentifiedd", "LoadDicomWithMetad", "SaveDicomd")
    rows = [
        "| file | frames | ms | detect | verify | load | save |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, (seconds, frames) in sorted(timed.items(), key=lambda item: -sum(item[1][0].values()))[:count]:
        parts = [1000 * sum(seconds.values())] + [1000 * seconds[stage] for stage in stages]
        rows.append(f"| {name} | {frames} | " + " | ".join(f"{ms:.0f}" for ms in parts) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/monai-deid-real"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--slowest", type=int, default=10)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    full = build_pipeline(args.workdir / "full", scrub=_SECRET).transforms
    header_only = build_pipeline(args.workdir / "header", scan_pixels=False, scrub=_SECRET).transforms
    files = real_files()
    for _ in range(args.rounds):
        timed, header_seconds = {}, 0.0
        for path in files:
            result, header = time_file(full, path), time_file(header_only, path)
            if result is not None and header is not None:
                timed[path.name], header_seconds = result, header_seconds + sum(header[0].values())
    total, frames = sum(sum(s.values()) for s, _ in timed.values()), sum(n for _, n in timed.values())
    print(f"machine: {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, cpu")
    print(
        f"{len(files)} files, {len(timed)} written, {frames} frames: {total:.2f} s; header-only {header_seconds:.2f} s"
    )
    print("\n".join(["", *stage_table(timed), "", *slowest_table(timed, args.slowest)]))


if __name__ == "__main__":
    main()
