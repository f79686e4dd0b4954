"""Scaling of ``monai-deid run --workers N`` on distinct single-frame ultrasound files, measured in one run.

The set: the benchmark corpus's four generated grey ultrasound files (``gen_ob_grey_*``, ``gen_speckle_*``: planted
PHI and clinical labels on real or synthetic ultrasound), each in ``--copies`` variants with +-1 grey-level noise
added, so every file's line crops differ and no worker is served readings from its cache; two warm-up files first
(one per worker, left out of the figures). Runs alternate, ``--rounds`` times: 1 worker with torch's default threads
(one per core: the default, whose networks already use every core), 1 worker held to one thread (one core's worth,
``OMP_NUM_THREADS=1``) and 2 workers (one thread each), then Presidio's image redactor on the same files (as in
``bench_end_to_end``; skipped with ``--no-presidio`` or without its venv). The figure is the median steady throughput
(files completed after the warm-ups, over the time since the last warm-up completed).

Usage:
    PYTHONPATH=$PWD python -m benchmarks.bench_workers [--workdir /tmp/monai-deid-bench] [--copies 6] [--rounds 2]
        [--no-presidio]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
from pathlib import Path

import numpy as np
import pydicom

from benchmarks.bench_end_to_end import RunTiming, run_monai_cli, run_presidio
from benchmarks.corpus import build_corpus

_PRESIDIO = "Presidio (same files)"
_SOURCES = ("gen_ob_grey_0.dcm", "gen_ob_grey_1.dcm", "gen_speckle_0.dcm", "gen_speckle_1.dcm")


def build_scaling_set(workdir: Path, copies: int) -> Path:
    """Write the scaling set under ``workdir/scaling`` and return its folder."""
    build_corpus(workdir)
    source, target = workdir / "corpus" / "us_single", workdir / "scaling"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for warmup in sorted(source.glob("000_warmup_*.dcm")):
        shutil.copyfile(warmup, target / warmup.name)
    rng = np.random.default_rng(0)
    for name in _SOURCES:
        for copy in range(copies):
            ds = pydicom.dcmread(source / name)
            pixels = ds.pixel_array.astype(np.int32) + rng.integers(-1, 2, ds.pixel_array.shape)
            ds.PixelData = np.clip(pixels, 0, 255).astype(ds.pixel_array.dtype).tobytes()
            uid = pydicom.uid.generate_uid(entropy_srcs=["monai-deid-scaling", name, str(copy)])
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
            ds.save_as(target / f"{Path(name).stem}_{copy}.dcm", enforce_file_format=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/monai-deid-bench"))
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-presidio", action="store_true", help="leave out Presidio's run on the same files")
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    folder = build_scaling_set(workdir, args.copies)
    configs = {
        "1 worker (default threads)": (1, None),
        "1 worker, 1 thread": (1, {"OMP_NUM_THREADS": "1"}),
        "2 workers": (2, None),
    }
    rates: dict[str, list[float]] = {name: [] for name in [*configs, _PRESIDIO]}
    for round_ in range(args.rounds):
        for k, (name, (workers, env)) in enumerate(configs.items()):
            out = workdir / "out" / f"scaling_{k}_{round_}"
            timing = run_monai_cli(folder, out, workers, workdir / f"scaling_{k}_{round_}.log", env=env)
            _record(rates[name], timing, f"round {round_}, {name}")
        if not args.no_presidio:
            _record(rates[_PRESIDIO], run_presidio(workdir, folder), f"round {round_}, {_PRESIDIO}")
    medians = {name: statistics.median(r) for name, r in rates.items() if r}
    base, core = medians["1 worker (default threads)"], medians["1 worker, 1 thread"]
    presidio = medians.get(_PRESIDIO)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print("| run | steady files/s (median) | runs | vs 1 worker | vs 1 worker, 1 thread | vs Presidio |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for name, rate in medians.items():
        runs = ", ".join(f"{r:.3f}" for r in rates[name])
        versus = f"{rate / presidio:.2f}x" if presidio else "n/a"
        print(f"| {name} | {rate:.3f} | {runs} | {rate / base:.2f}x | {rate / core:.2f}x | {versus} |")


def _record(rates: list[float], timing: RunTiming, label: str) -> None:
    files, _, seconds = timing.steady()
    if not files:
        print(f"{label}: no figure ({timing.note})", flush=True)
        return
    rates.append(files / seconds)
    print(f"{label}: {files} files in {seconds:.1f} s steady", flush=True)


if __name__ == "__main__":
    main()
