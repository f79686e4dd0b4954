"""The ``monai-deid`` command line: ``run`` a folder through the pipeline, ``demo`` it on generated data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monai_deid.audit import AuditLog, default_audit_path
from monai_deid.pipeline import build_pipeline
from monai_deid.runner import RunSummary, find_inputs, run_batch
from monai_deid.samples import write_sample_set

__all__ = ["main"]

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line asks for something impossible; exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monai-deid", description="De-identify DICOM files and folders.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="de-identify INPUT (a file or folder) into OUTPUT")
    run.add_argument("input", type=Path, help="a DICOM file or a folder searched recursively")
    run.add_argument("output", type=Path, help="folder for the de-identified files (only shareable DICOM goes here)")
    _add_run_options(run)
    demo = commands.add_parser("demo", help="generate sample data with planted PHI and de-identify it")
    demo.add_argument("folder", type=Path, help="where to put input/, output/, the audit and the quarantine")
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--audit", type=Path, help="audit log (JSON Lines); default: <OUTPUT>.audit.jsonl beside it")
    parser.add_argument("--quarantine", type=Path, help="copy inputs that were not written here")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="local processes (default) or a Ray cluster"
    )
    parser.add_argument("--ray-address", help="Ray cluster to join (e.g. auto); default: RAY_ADDRESS or a local one")


def _check_paths(input_path: Path, output: Path, audit: Path) -> None:
    if not input_path.exists():
        raise UsageError(f"input {input_path} does not exist")
    input_path, output, audit = input_path.resolve(), output.resolve(), audit.resolve()
    if output == input_path or output in input_path.parents:
        raise UsageError("the output folder must not be the input or contain it: inputs are never overwritten")
    if output == audit or output in audit.parents:
        raise UsageError("the audit log links outputs to source paths, so it must be outside the output folder")


def run_command(
    input_path: Path,
    output: Path,
    audit_path: Path | None = None,
    quarantine: Path | None = None,
    workers: int = 1,
    progress: bool = True,
    engine: str = "local",
    ray_address: str | None = None,
) -> RunSummary:
    """De-identify ``input_path`` into ``output`` and return the run's summary (the ``run`` command's body)."""
    audit_path = audit_path or default_audit_path(output)
    _check_paths(input_path, output, audit_path)
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    exclude = [output, audit_path] + ([quarantine] if quarantine else [])
    files, skipped = find_inputs(input_path, exclude=exclude)
    kwargs = {"output_dir": output}  # build_pipeline's arguments, the same for both engines
    with AuditLog(audit_path) as audit:
        if engine == "ray":
            summary = _run_on_ray(files, skipped, kwargs, audit, quarantine, ray_address, progress)
        else:
            summary = run_batch(files, build_pipeline, kwargs, audit, workers, quarantine, skipped, progress)
    print(f"monai-deid: {input_path} -> {output}\n{summary.table()}\n  audit       {audit_path}")
    return summary


def _run_on_ray(
    files: list[Path],
    skipped: list[Path],
    kwargs: dict[str, Any],
    audit: AuditLog,
    quarantine: Path | None,
    address: str | None,
    progress: bool,
) -> RunSummary:
    """The ``--engine ray`` batch; Ray is imported only here, so the local engine runs without it."""
    try:
        from monai_deid.ray_engine import run_ray
    except ImportError as e:
        raise UsageError("--engine ray needs Ray: pip install 'monai-deid[ray]'") from e
    # Ray workers do not run in this directory: every path they are given must be absolute.
    output = Path(kwargs["output_dir"]).absolute()
    return run_ray(
        [path.absolute() for path in files],
        build_pipeline,
        {**kwargs, "output_dir": output},
        audit,
        quarantine_dir=quarantine.absolute() if quarantine else None,
        skipped=skipped,
        address=address,
        output_dir=output,
        progress=progress,
    )


def _demo(folder: Path) -> int:
    """Generate the sample set, de-identify it and say where to look; exit 0 when only the planted broken file
    failed."""
    inputs = folder / "input"
    write_sample_set(inputs)
    summary = run_command(inputs, folder / "output", folder / "audit.jsonl", folder / "quarantine")
    print(
        f"\nLook at: {folder / 'output'} (de-identified DICOM, named by new UIDs), "
        f"{folder / 'audit.jsonl'} (one record per input), {folder / 'quarantine'} (files withheld)."
    )
    return EXIT_OK if summary.not_written == 1 else EXIT_FAILURES


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``monai-deid`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args.folder)
        summary = run_command(
            args.input,
            args.output,
            args.audit,
            args.quarantine,
            args.workers,
            not args.no_progress,
            args.engine,
            args.ray_address,
        )
    except UsageError as e:
        print(f"monai-deid: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_FAILURES if summary.not_written else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
