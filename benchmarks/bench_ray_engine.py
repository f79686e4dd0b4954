"""Throughput of the Ray engine against the local engine on the same machine, same files, same pipeline.

Usage: ``PYTHONPATH=. python benchmarks/bench_ray_engine.py --copies 10 --cpus 2``

The corpus is ``copies`` copies of the generated sample set, each copy with its own UIDs so every output is a file of
its own. Both engines get the same number of worker processes (``--cpus``); the local engine's time includes starting
its process pool, the Ray engine's includes starting its actors but not ``ray.init``. The output trees are compared
byte for byte before any figure is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from monai_deid.audit import AuditLog
from monai_deid.pipeline import build_pipeline
from monai_deid.runner import find_inputs, run_batch
from monai_deid.samples import write_sample_set


def _corpus(root: Path, copies: int) -> list[Path]:
    for copy in range(copies):
        folder = root / f"copy{copy:03d}"
        for path in write_sample_set(folder):
            try:
                ds = pydicom.dcmread(path)
            except Exception:  # the sample set's deliberately broken file stays broken
                continue
            for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
                setattr(ds, keyword, generate_uid(entropy_srcs=[str(copy), str(ds.get(keyword))]))
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(path, enforce_file_format=True)
    return find_inputs(root)[0]


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.dcm")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of the sample set (7 files each)")
    parser.add_argument("--cpus", type=int, default=2, help="worker processes for both engines")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = _corpus(root / "in", args.copies)
        times = {}
        start = time.perf_counter()
        with AuditLog(root / "local.audit.jsonl") as audit:
            run_batch(files, build_pipeline, {"output_dir": root / "local"}, audit, args.cpus, progress=False)
        times["local"] = time.perf_counter() - start

        import ray

        from monai_deid.ray_engine import run_ray

        ray.init(num_cpus=args.cpus, include_dashboard=False)
        start = time.perf_counter()
        with AuditLog(root / "ray.audit.jsonl") as audit:
            run_ray(files, build_pipeline, {"output_dir": root / "ray"}, audit, progress=False)
        times["ray"] = time.perf_counter() - start
        ray.shutdown()
        assert _tree(root / "ray") == _tree(root / "local"), "the engines' outputs differ"
    print(f"{len(files)} files, {args.cpus} workers each, outputs identical")
    for engine, seconds in times.items():
        rate, ratio = len(files) / seconds, seconds / times["local"]
        print(f"  {engine:<6}{seconds:8.1f} s  {rate:6.2f} files/s  {ratio:5.2f}x the local time")


if __name__ == "__main__":
    main()
