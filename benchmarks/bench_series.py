"""A CT series without burned-in text through the real command line, against the header-only run of the same files.

Most of an archive is files like these: in a published study of 415,000 images only 3% had any burned-in text. The
corpus's ``notext`` set holds 8 files of 5 shapes, so its first pass mostly measures kernels prepared for new shapes;
a series repeats one shape, as a hospital's folders do. The slices are pydicom-data's ``693_UNCR.dcm`` (a 512 x 512 CT
with padding outside its field of view), its anatomy turned, scaled and shifted a little and given fresh noise on
each slice, so that no two slices hold the same pixels. Each run is the command line started cold with one worker;
the two warm-up slices are left out of the steady figures.

Usage:
    PYTHONPATH=$PWD python -m benchmarks.bench_series [--workdir /tmp/monai-deid-series] [--slices 40]
"""

from __future__ import annotations

import argparse
import datetime
import shutil
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.uid import generate_uid

from benchmarks.bench_end_to_end import RunTiming, machine_description, run_monai_cli
from benchmarks.corpus import pydicom_data_folder


def build_series(folder: Path, slices: int, seed: int = 11) -> None:
    """Write ``slices`` CT slices (and two warm-up slices) under ``folder``, one series, no text."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    source = pydicom.dcmread(pydicom_data_folder() / "693_UNCR.dcm")
    pixels = source.pixel_array
    padding = pixels.min()
    body = pixels != padding
    rng = np.random.default_rng(seed)
    series = generate_uid(entropy_srcs=["monai-deid-series", str(seed)])
    names = ["000_warmup_a", "000_warmup_b"] + [f"slice_{i:03d}" for i in range(slices)]
    for index, name in enumerate(names):
        turn = cv2.getRotationMatrix2D((256 + rng.uniform(-8, 8), 256 + rng.uniform(-8, 8)), rng.uniform(-4, 4), 1.0)
        turn[:, :2] *= rng.uniform(0.94, 1.06)
        moved = cv2.warpAffine(pixels.astype(np.float32), turn, pixels.shape[::-1], flags=cv2.INTER_LINEAR)
        noisy = moved + rng.normal(0, 6, pixels.shape)
        ds = source.copy()
        ds.PixelData = np.where(body, np.clip(noisy, padding + 1, pixels.max()), padding).astype(pixels.dtype).tobytes()
        uid = generate_uid(entropy_srcs=["monai-deid-series", str(seed), name])
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.SeriesInstanceUID, ds.InstanceNumber = series, index + 1
        ds.save_as(folder / f"{name}.dcm", enforce_file_format=True)


def _per_file_ms(timing: RunTiming) -> float:
    """Milliseconds per file after the warm-up slices (a mean: completions are read off the audit log every 20 ms,
    so a fast file's own time cannot be told)."""
    files, _, seconds = timing.steady()
    return 1000 * seconds / max(files, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/monai-deid-series"))
    parser.add_argument("--slices", type=int, default=40)
    args = parser.parse_args()
    series = args.workdir / "series"
    build_series(series, args.slices)
    full = run_monai_cli(series, args.workdir / "out_full", 1, args.workdir / "full.log")
    header = run_monai_cli(series, args.workdir / "out_header", 1, args.workdir / "header.log", header_only=True)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Date: {now}  \nMachine: {machine_description()}  \nSlices: {args.slices} (512 x 512 CT, one worker)\n")
    print("| run | files written | wall s | ms per file |")
    print("| --- | --- | --- | --- |")
    for timing in (full, header):
        written = sum(status == "ok" for _, status, _ in timing.files)
        print(f"| {timing.tool} | {written} | {timing.wall_s:.1f} | {_per_file_ms(timing):.1f} |")
    print(f"\nThe full pipeline costs {_per_file_ms(full) / _per_file_ms(header):.2f}x the header-only run per file.")


if __name__ == "__main__":
    main()
