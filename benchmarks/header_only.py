"""The header-only baselines that the end-to-end benchmark compares monai-deid's full pipeline with.

Two floors, each timed per file:

- ``pipeline``: monai-deid's own runner on a pipeline without pixel stages: LoadDicomWithMeta -> ScrubMetadata (when
  the installed monai_deid has it) -> SaveDicom. What a file costs when no pixel work is done at all.
- ``pydicom``: a bare ``pydicom.dcmread`` + ``save_as`` of each file.

    PYTHONPATH=$PWD /work/main/.venv/bin/python -m benchmarks.header_only {pipeline,pydicom} INPUT OUTPUT --json R

R gets ``{"startup_s", "stages", "files": [{"file", "status", "done_s"}]}`` with ``done_s`` in seconds since the script
started; ``file`` is relative to INPUT.
"""

from __future__ import annotations

import time

_START = time.perf_counter()

import argparse  # noqa: E402  (the clock starts before the imports, as for the other tools)
import json  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402

__all__ = ["header_only_pipeline", "main"]

#: Used only when neither the caller nor MONAI_DEID_SECRET gives one: the corpus is synthetic.
BENCH_SECRET = "monai-deid-benchmark-secret"


def header_only_pipeline(output_dir: str | Path, secret: str = BENCH_SECRET):
    """Load -> ScrubMetadata -> Save, or Load -> Save when this monai_deid has no header stage yet.

    Args:
        output_dir: where the files are written.
        secret: the pseudonymisation secret handed to ScrubMetadata.
    """
    from monai.transforms import Compose

    from monai_deid.io import LoadDicomWithMetad, SaveDicomd

    stages = [LoadDicomWithMetad("image")]
    try:
        from monai_deid.profile import ScrubMetadatad
    except ImportError:
        pass
    else:
        stages.append(ScrubMetadatad("image", secret=secret))
    stages.append(SaveDicomd("image", output_dir=output_dir))
    return Compose(stages)


def _run_pipeline(files: list[Path], output: Path) -> tuple[list[dict], list[str]]:
    from monai_deid.audit import AuditLog
    from monai_deid.runner import run_batch

    class TimedAuditLog(AuditLog):
        """The runner's audit log, with the moment each record arrives."""

        def __init__(self, path: Path) -> None:
            super().__init__(path)
            self.done: list[tuple[str, str, float]] = []

        def write(self, record) -> None:
            super().write(record)
            self.done.append((record.source, record.status, time.perf_counter() - _START))

    kwargs = {"output_dir": output, "secret": os.environ.get("MONAI_DEID_SECRET", BENCH_SECRET)}
    stages = [type(t).__name__ for t in header_only_pipeline(**kwargs).transforms]
    with TimedAuditLog(output.with_name(output.name + ".audit.jsonl")) as audit:
        run_batch(files, header_only_pipeline, kwargs, audit, workers=1, progress=False)
    return [{"file": s, "status": st, "done_s": t} for s, st, t in audit.done], stages


def _run_pydicom(files: list[Path], output: Path) -> list[dict]:
    import pydicom

    records = []
    output.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(files):
        pydicom.dcmread(path).save_as(output / f"{index:05d}.dcm")
        records.append({"file": str(path), "status": "ok", "done_s": time.perf_counter() - _START})
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["pipeline", "pydicom"])
    parser.add_argument("input", type=Path, help="folder of DICOM files (searched recursively, sorted)")
    parser.add_argument("output", type=Path)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    files = sorted(p for p in args.input.rglob("*.dcm") if p.is_file())
    startup = time.perf_counter() - _START
    if args.mode == "pipeline":
        records, stages = _run_pipeline(files, args.output)
    else:
        records, stages = _run_pydicom(files, args.output), ["dcmread", "save_as"]
    for record in records:
        record["file"] = str(Path(record["file"]).relative_to(args.input))
    args.json.write_text(json.dumps({"startup_s": startup, "stages": stages, "files": records}, indent=1))


if __name__ == "__main__":
    main()
