"""The bare floor of the end-to-end benchmark: ``pydicom.dcmread`` + ``save_as`` of each file, timed per file.

(The other floor, monai-deid without its pixel stages, is the real command line with ``scan_pixels: false`` in its
config; :mod:`benchmarks.bench_end_to_end` runs it.)

    PYTHONPATH=$PWD /work/main/.venv/bin/python -m benchmarks.header_only INPUT OUTPUT --json R

R gets ``{"startup_s", "stages", "files": [{"file", "status", "done_s"}]}`` with ``done_s`` in seconds since the script
started; ``file`` is relative to INPUT.
"""

from __future__ import annotations

import time

_START = time.perf_counter()

import argparse  # noqa: E402  (the clock starts before the imports, as for the other tools)
import json  # noqa: E402
from pathlib import Path  # noqa: E402

__all__ = ["main", "read_write"]


def read_write(files: list[Path], input_dir: Path, output: Path) -> list[dict]:
    """Read and write each file with pydicom; the completion time of each, in seconds since the script started."""
    import pydicom

    records = []
    output.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(files):
        pydicom.dcmread(path).save_as(output / f"{index:05d}.dcm")
        records.append(
            {"file": str(path.relative_to(input_dir)), "status": "ok", "done_s": time.perf_counter() - _START}
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="folder of DICOM files (searched recursively, sorted)")
    parser.add_argument("output", type=Path)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    files = sorted(p for p in args.input.rglob("*.dcm") if p.is_file())
    startup = time.perf_counter() - _START
    records = read_write(files, args.input, args.output)
    args.json.write_text(json.dumps({"startup_s": startup, "stages": ["dcmread", "save_as"], "files": records}))


if __name__ == "__main__":
    main()
