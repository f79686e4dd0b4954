"""Header-only de-identification throughput: monai-deid ScrubMetadata vs dicognito 0.19 and dicom-anonymizer 2.1.

Every tool reads each of N copies of pydicom's CT_small.dcm, de-identifies the header and writes the file, in one
process per tool, all in the same run; a bare pydicom read+write is the floor. The anchors run in their own venv
(they must not enter the project's), created once with:

    python3 -m venv /work/anchors/header
    /work/anchors/header/bin/pip install "dicognito==0.19.*" "dicom-anonymizer==2.1.*"

Run from the repository root:

    PYTHONPATH=$PWD /work/main/.venv/bin/python benchmarks/bench_header.py [--files 400] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANCHOR_PYTHON = Path("/work/anchors/header/bin/python")
SECRET = "benchmark-secret-not-for-real-data"


def _make_tool(name: str):
    """A function (in_path, out_path) -> None for one tool; imports happen here so anchors need no monai_deid."""
    import pydicom

    if name == "pydicom":
        return lambda src, dst: pydicom.dcmread(src).save_as(dst)
    if name == "dicognito":
        from dicognito.anonymizer import Anonymizer

        anonymizer = Anonymizer()

        def run(src, dst):
            ds = pydicom.dcmread(src)
            anonymizer.anonymize(ds)
            ds.save_as(dst)

        return run
    if name == "dicom-anonymizer":
        from dicomanonymizer import anonymize_dicom_file

        return lambda src, dst: anonymize_dicom_file(str(src), str(dst))
    if name.startswith("monai-deid"):
        from monai_deid.profile import ScrubMetadata

        options = {"retain_safe_private": True, "clean_structured_content": True} if name.endswith("+opts") else {}
        scrub = ScrubMetadata(secret=SECRET, **options)

        def run(src, dst):
            scrub(pydicom.dcmread(src)).save_as(dst)

        return run
    raise ValueError(f"unknown tool {name}")


def worker(name: str, inputs: Path, output: Path) -> float:
    """Seconds of one pass over every input file (run inside the tool's own process, after one warm-up file)."""
    tool = _make_tool(name)
    files = sorted(inputs.iterdir())
    tool(files[0], output / "warmup.dcm")
    start = time.perf_counter()
    for src in files:
        tool(src, output / src.name)
    return time.perf_counter() - start


def _run_tool(name: str, python: Path, inputs: Path, root: Path) -> float:
    """Seconds of one pass of one tool, in a fresh process (imports and warm-up are not timed)."""
    output = root / "out"
    output.mkdir()
    cmd = [str(python), __file__, "--worker", name, "--input", str(inputs), "--output", str(output)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    shutil.rmtree(output)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (each tool once per round)")
    parser.add_argument("--worker")
    parser.add_argument("--input", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.worker:
        print(worker(args.worker, args.input, args.output))
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.datafiles import pydicom_test_file

    source = pydicom_test_file("CT_small.dcm")
    with tempfile.TemporaryDirectory(prefix="bench-header-") as tmp:
        root = Path(tmp)
        inputs = root / "in"
        inputs.mkdir()
        for i in range(args.files):
            shutil.copyfile(source, inputs / f"{i:04d}.dcm")
        tools = {
            "pydicom read+write": ("pydicom", Path(sys.executable)),
            "monai-deid (defaults)": ("monai-deid", Path(sys.executable)),
            "monai-deid (+safe private, +SC)": ("monai-deid+opts", Path(sys.executable)),
            "pydicom read+write (anchor venv)": ("pydicom", ANCHOR_PYTHON),
            "dicognito 0.19": ("dicognito", ANCHOR_PYTHON),
            "dicom-anonymizer 2.1": ("dicom-anonymizer", ANCHOR_PYTHON),
        }
        # Rounds interleave the tools, so load from other processes on a shared machine hits all of them alike.
        times: dict[str, list[float]] = {label: [] for label in tools}
        for _ in range(args.repeats):
            for label, (name, python) in tools.items():
                times[label].append(_run_tool(name, python, inputs, root))

    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{args.files} copies of CT_small.dcm, read + de-identify header + write, {args.repeats} rounds")
    rates = {label: args.files / statistics.median(seconds) for label, seconds in times.items()}
    faster_anchor = max(rates["dicognito 0.19"], rates["dicom-anonymizer 2.1"])
    print(f"{'tool':34s} {'files/s':>9s} {'x faster anchor':>16s} {'x bare pydicom':>15s}  (median of rounds)")
    for label, rate in rates.items():
        print(f"{label:34s} {rate:9.1f} {rate / faster_anchor:16.2f} {rate / rates['pydicom read+write']:15.2f}")


if __name__ == "__main__":
    main()
