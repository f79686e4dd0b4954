"""Start-up: what a command on a small folder pays before and beside its files.

A hospital's team often runs the command on a handful of files, and every worker process builds its own networks,
so the start matters as much as the files/s. Each figure is a fresh process, in alternating rounds:

- the package's import (``import monai_deid.cli``: torch, MONAI, EasyOCR's modules);
- the OCR reader's build after the imports: EasyOCR's own ``easyocr.Reader`` as shipped (the baseline) against
  ``monai_deid.ocr.engine.get_reader``, which loads the same weights without drawing random initial ones first;
- the whole command (``monai-deid run``, wall time, start-up included) on one 512 x 512 CT slice with one worker and
  on four slices with two workers, against the header-only run of the same files (no reader, no OCR).

Usage:
    PYTHONPATH=$PWD python -m benchmarks.bench_startup [--workdir /tmp/monai-deid-startup] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
from functools import partial
from pathlib import Path

from benchmarks.bench_end_to_end import REPO, machine_description, run_monai_cli
from benchmarks.bench_series import build_series

_IMPORT = "import time; t = time.perf_counter(); import monai_deid.cli; print(time.perf_counter() - t)"
_EASYOCR_READER = """
import time
import easyocr
from monai_deid.ocr import engine
t = time.perf_counter()
easyocr.Reader(["en"], gpu=False, quantize=False, model_storage_directory=engine._model_dir(),
               download_enabled=False, verbose=False)
print(time.perf_counter() - t)
"""
_OUR_READER = """
import time
import easyocr
from monai_deid.ocr import engine
t = time.perf_counter()
engine.get_reader("cpu")
print(time.perf_counter() - t)
"""


def _seconds_printed(code: str) -> float:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    return float(done.stdout.split()[-1])


def _command_seconds(folder: Path, workers: int, header_only: bool, workdir: Path) -> float:
    """Wall time of ``monai-deid run`` on ``folder``, start-up included."""
    name = f"{folder.name}_{workers}{'_header' if header_only else ''}"
    return run_monai_cli(folder, workdir / f"out_{name}", workers, workdir / f"{name}.log", header_only).wall_s


def _folders(workdir: Path) -> dict[str, Path]:
    """One slice and four slices of the benchmark's CT series (``bench_series``), warm-up slices left out."""
    series = workdir / "series"
    build_series(series, 4)
    folders = {"one": workdir / "one", "four": workdir / "four"}
    for name, count in (("one", 1), ("four", 4)):
        folders[name].mkdir(parents=True, exist_ok=True)
        for path in sorted(series.glob("slice_*.dcm"))[:count]:
            (folders[name] / path.name).write_bytes(path.read_bytes())
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/monai-deid-startup"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folders = _folders(args.workdir)
    cases = {
        "import monai_deid.cli": partial(_seconds_printed, _IMPORT),
        "easyocr.Reader as shipped": partial(_seconds_printed, _EASYOCR_READER),
        "get_reader": partial(_seconds_printed, _OUR_READER),
    }
    for name, workers, label in (("one", 1, "one slice, 1 worker"), ("four", 2, "four slices, 2 workers")):
        for header_only in (False, True):
            label_run = f"command, {label}{', header-only' if header_only else ''}"
            cases[label_run] = partial(_command_seconds, folders[name], workers, header_only, args.workdir)
    seconds: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(args.rounds):
        for label, case in cases.items():
            seconds[label].append(case())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Date: {now}  \nMachine: {machine_description()}  \nRounds: {args.rounds} (fresh processes)\n")
    print("| measure | median s | all rounds, s |")
    print("| --- | ---: | --- |")
    for label, values in seconds.items():
        print(f"| {label} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
    shipped, ours = (statistics.median(seconds[k]) for k in ("easyocr.Reader as shipped", "get_reader"))
    print(f"\nThe reader builds {shipped / ours:.1f}x faster than EasyOCR's own ({ours:.2f} s against {shipped:.2f}).")


if __name__ == "__main__":
    main()
