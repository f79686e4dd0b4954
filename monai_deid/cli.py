"""The ``monai-deid`` command line: ``run``, ``inspect``, ``verify`` and ``demo``."""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from monai_deid.audit import AuditLog, default_audit_path, open_private, read_audit
from monai_deid.errors import DeidError
from monai_deid.phi.policy import DOUBT_REASON
from monai_deid.pipeline import STAGES, build_pipeline, check_device, merge_mapping_parts
from monai_deid.report import write_review_report
from monai_deid.runner import RunSummary, auto_workers, done_earlier, find_inputs, run_batch
from monai_deid.samples import write_sample_set
from monai_deid.secret import MissingSecretError, resolve_secret

__all__ = ["main", "run_command"]

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2
_TOP_LEVEL_SETTINGS = {"device", "scan_pixels", *STAGES}


class UsageError(Exception):
    """The command line asks for something impossible; exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monai-deid", description="De-identify DICOM files and folders.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="de-identify INPUT (a file or folder) into OUTPUT")
    run.add_argument("input", type=Path, help="a DICOM file or a folder searched recursively")
    run.add_argument("output", type=Path, help="folder for the de-identified files (only shareable DICOM goes here)")
    _add_stage_options(run)
    _add_run_options(run)
    inspect = commands.add_parser("inspect", help="show what would be removed, replaced, kept and redacted, and why")
    inspect.add_argument("file", type=Path)
    _add_stage_options(inspect)
    verify = commands.add_parser("verify", help="re-check an already de-identified folder, file by file")
    verify.add_argument("folder", type=Path)
    verify.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    demo = commands.add_parser("demo", help="generate sample data with planted PHI and de-identify it")
    demo.add_argument("folder", type=Path, help="where to put input/, output/, the audit, report and quarantine")
    return parser


def _add_stage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML or JSON: device, scan_pixels and one section per stage")
    parser.add_argument("--secret-file", type=Path, help="file holding the secret (else MONAI_DEID_SECRET)")
    parser.add_argument(
        "--generate-secret", action="store_true", help="use a random throw-away secret (outputs cannot be re-linked)"
    )
    parser.add_argument("--device", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--text-policy", choices=("sensitive", "all_text", "none"), help="which burned-in text goes")
    parser.add_argument(
        "--detector",
        choices=("auto", "lines", "craft"),
        help="lines (default on CPU): read the stroke test's text lines directly; craft (default on CUDA): run CRAFT "
        "over every stroke area",
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--audit", type=Path, help="audit log (JSON Lines); default: <OUTPUT>.audit.jsonl beside it")
    parser.add_argument("--quarantine", type=Path, help="copy inputs that were not written here")
    parser.add_argument("--mapping", type=Path, help="write original -> new identifiers here (CSV, holds PHI)")
    parser.add_argument("--report", type=Path, help="write a review page (HTML, holds PHI) for a privacy officer here")
    parser.add_argument(
        "--workers",
        type=_workers,
        default="auto",
        help="parallel processes, or auto (default): one per core and at most one per file; at most 4 on a GPU",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="local processes (default) or a Ray cluster"
    )
    parser.add_argument("--ray-address", help="Ray cluster to join (e.g. auto); default: RAY_ADDRESS or a local one")


def load_config(path: Path | None) -> dict[str, Any]:
    """Stage settings from a YAML or JSON file: ``device``, ``scan_pixels`` and one section per stage."""
    if path is None:
        return {}
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UsageError(f"cannot read the config {path}: {type(e).__name__}{where}") from None
    unknown = set(config) - _TOP_LEVEL_SETTINGS if isinstance(config, dict) else {"<not a mapping>"}
    if unknown:
        raise UsageError(f"config {path}: unknown settings {sorted(unknown)}; expected {sorted(_TOP_LEVEL_SETTINGS)}")
    return config


def stage_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of the stages: the config file, overridden by the command line options."""
    settings = load_config(args.config)
    scrub = dict(settings.get("scrub") or {})
    if args.secret_file:
        scrub["secret_file"] = str(args.secret_file)
    if args.generate_secret and not scrub.get("secret"):
        # made once here, not in each worker, so every worker pseudonymises alike
        scrub["secret"] = secrets.token_hex(32)
    try:
        resolve_secret(scrub.get("secret"), scrub.get("secret_file"))
    except MissingSecretError as e:
        raise UsageError(f"{e} (or --secret-file FILE / --generate-secret)") from None
    except TypeError as e:
        raise UsageError(f"scrub: {e} (quote it in the config)") from None
    settings["scrub"] = scrub
    if args.device:
        settings["device"] = args.device
    if args.text_policy:
        settings["classify"] = {**(settings.get("classify") or {}), "policy": args.text_policy}
    if args.detector:
        settings["detect"] = {**(settings.get("detect") or {}), "detector": args.detector}
    return settings


def _workers(value: str) -> int | str:
    """``--workers``: ``auto`` or a whole number (checked by :func:`run_command`)."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {value!r}") from None


def _check_device(device: str, present: bool = True) -> None:
    """Stop on a ``--device`` that is not ``cpu``, ``cuda`` or ``cuda:N``, or (with ``present``) names a GPU this
    machine does not have (see :func:`check_device`)."""
    try:
        check_device(device, present)
    except ValueError as e:
        raise UsageError(f"--device {e}") from None


def _check_pipeline(kwargs: dict[str, Any], device_present: bool = True) -> None:
    """Build the pipeline once here, so that a setting no stage takes stops the run with a usage error before any
    worker starts (a worker that cannot build it fails every file instead)."""
    _check_device(kwargs.get("device") or "cpu", device_present)
    try:
        build_pipeline(**kwargs)
    except (TypeError, ValueError) as e:
        raise UsageError(f"the settings make no pipeline: {e}") from None


def config_id(settings: dict[str, Any]) -> str:
    """A PHI-free fingerprint of the settings and the secret: reruns skip files done with the same one."""
    scrub = settings.get("scrub") or {}
    secret = resolve_secret(scrub.get("secret"), scrub.get("secret_file"))
    public = {**settings, "scrub": {k: v for k, v in scrub.items() if k not in ("secret", "secret_file")}}
    text = json.dumps(public, sort_keys=True, default=str) + secret.digest("config-id", "").hex()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_paths(input_path: Path, output: Path, **outside: Path | None) -> None:
    """Stop on a missing input, an output that holds the input, or a file of PHI (``outside``, by option name)
    inside the output folder."""
    if not input_path.exists():
        raise UsageError(f"input {input_path} does not exist")
    input_path, output = input_path.resolve(), output.resolve()
    if output == input_path or output in input_path.parents:
        raise UsageError("the output folder must not be the input or contain it: inputs are never overwritten")
    for option, path in outside.items():
        if path is not None and (output == path.resolve() or output in path.resolve().parents):
            raise UsageError(f"--{option} {path} holds PHI or links to sources, so it must be outside {output}")


def run_command(
    input_path: Path,
    output: Path,
    settings: dict[str, Any],
    audit_path: Path | None = None,
    quarantine: Path | None = None,
    mapping: Path | None = None,
    report: Path | None = None,
    workers: int | str = "auto",
    progress: bool = True,
    engine: str = "local",
    ray_address: str | None = None,
) -> RunSummary:
    """De-identify ``input_path`` into ``output`` and return the run's summary (the ``run`` command's body)."""
    audit_path = audit_path or default_audit_path(output)
    _check_paths(input_path, output, audit=audit_path, quarantine=quarantine, mapping=mapping, report=report)
    if workers != "auto" and (not isinstance(workers, int) or workers < 1):
        raise UsageError("--workers must be at least 1, or auto")
    files, skipped = find_inputs(input_path, exclude=[p for p in (output, audit_path, quarantine, mapping) if p])
    if workers == "auto":
        workers = auto_workers(len(files), settings.get("device", "cpu"))
    kwargs: dict[str, Any] = {"output_dir": output, **settings}
    if mapping is not None:
        kwargs["mapping_dir"] = mapping.with_name(mapping.name + ".parts")
    _check_pipeline(kwargs, device_present=engine != "ray")  # Ray's GPUs may be on other machines
    fingerprint = config_id(settings)
    earlier = read_audit(audit_path) if audit_path.is_file() else []
    done = done_earlier(earlier, fingerprint)
    with AuditLog(audit_path) as audit:
        if engine == "ray":
            # resolved here, once: workers on other nodes may not share this environment or files
            scrub = settings.get("scrub") or {}
            kwargs["scrub"] = {**scrub, "secret": resolve_secret(scrub.get("secret"), scrub.get("secret_file"))}
            summary = _run_on_ray(files, skipped, kwargs, audit, quarantine, ray_address, progress, fingerprint)
        else:
            summary = run_batch(
                files, build_pipeline, kwargs, audit, workers, quarantine, skipped, progress, fingerprint, done
            )
    if mapping is not None and kwargs["mapping_dir"].is_dir():
        merge_mapping_parts(kwargs["mapping_dir"], mapping)
    print(f"monai-deid: {input_path} -> {output}\n{summary.table()}\n  audit       {audit_path}")
    if quarantine is not None and summary.not_written:
        print(f"  quarantine  {quarantine}   (a copy of each file failed or quarantined)")
    if report is not None:
        page = write_review_report(read_audit(audit_path)[len(earlier) :], report, output)
        print(f"  report      {page}")
    return summary


def _run_on_ray(
    files: list[Path],
    skipped: list[Path],
    kwargs: dict[str, Any],
    audit: AuditLog,
    quarantine: Path | None,
    address: str | None,
    progress: bool,
    fingerprint: str,
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
        config_id=fingerprint,
    )


def _verify_folder(folder: Path, device: str) -> int:
    """Re-check every file under ``folder``; one line per file, then the counts. A file that cannot be read is
    reported and the check goes on."""
    if not folder.exists():
        raise UsageError(f"{folder} does not exist")
    files, _ = find_inputs(folder)
    if not files:
        print(f"no DICOM files under {folder}: nothing was checked")
        return EXIT_FAILURES
    verdicts: Counter[str] = Counter()
    for path in files:
        verdict, detail = _verify_file(path, device)
        verdicts[verdict] += 1
        print(f"{verdict:<6}  {path}  {detail}")
    print(
        f"{verdicts['ok']} of {len(files)} files pass ({verdicts['REVIEW']} to review, {verdicts['FAIL']} fail, "
        f"{verdicts['ERROR']} could not be checked)"
    )
    return EXIT_OK if verdicts["ok"] == len(files) else EXIT_FAILURES


def _verify_file(path: Path, device: str) -> tuple[str, str]:
    """``(verdict, detail)`` for one file: ``ok``; ``REVIEW`` when the only problem is burned-in text the sensitive
    policy cannot explain (no evidence that it is PHI, no proof that it is not); ``FAIL`` for evidence of PHI or a
    header that is not de-identified; ``ERROR`` when the file cannot be checked. Details are reason codes and where
    the flagged text is (frame and box), never values."""
    from monai_deid.verify import review_output_file

    try:
        problems, flagged = review_output_file(path, device)
    except DeidError as error:
        return "ERROR", f"{error.code}: {error.reason}"
    except Exception as exc:  # one bad file never stops the check; unknown messages may quote values
        return "ERROR", f"internal_error: unexpected {type(exc).__name__}"
    if not problems:
        return "ok", ""
    places = [f"frame {r.frames[0] if r.frames else 0} box {r.box}" for r in flagged]
    detail = " ".join(problems) + (f"  at {'; '.join(places)}" if places else "")
    return ("REVIEW" if problems == [f"pixels:{DOUBT_REASON}"] else "FAIL"), detail


def _demo(folder: Path) -> int:
    """Generate the sample set, de-identify it and say where to look; exit 0 when only the planted broken file
    failed."""
    inputs = folder / "input"
    write_sample_set(inputs)
    secret_file = folder / "demo-secret.txt"
    if not secret_file.exists():
        with open_private(secret_file, "w") as f:
            f.write(secrets.token_hex(32))
    settings = {"scrub": {"secret_file": str(secret_file)}, "classify": {"ner_model": None}}
    summary = run_command(
        inputs, folder / "output", settings, folder / "audit.jsonl", folder / "quarantine", report=folder / "report"
    )
    print(
        f"\nLook at: {folder / 'output'} (de-identified DICOM, named by new UIDs), "
        f"{folder / 'report' / 'review.html'} (before/after review page), "
        f"{folder / 'audit.jsonl'} (one record per input), {folder / 'quarantine'} (a copy of each file not written).\n"
        f"Check the output again with: monai-deid verify {folder / 'output'}"
    )
    return EXIT_OK if summary.not_written == 1 else EXIT_FAILURES


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return _demo(args.folder)
    if args.command == "verify":
        _check_device(args.device)
        return _verify_folder(args.folder, args.device)
    settings = stage_settings(args)
    if args.command == "inspect":
        _check_device(settings.get("device") or "cpu")
        from monai_deid.inspection import inspect_file

        stages = {name: settings.get(name) for name in ("detect", "classify", "scrub")}
        print(inspect_file(args.file, settings.get("device", "cpu"), **stages))
        return EXIT_OK
    summary = run_command(
        args.input,
        args.output,
        settings,
        args.audit,
        args.quarantine,
        args.mapping,
        args.report,
        args.workers,
        not args.no_progress,
        args.engine,
        args.ray_address,
    )
    return EXIT_FAILURES if summary.not_written else EXIT_OK


def _one_line_warning(message: Warning | str, *_: Any, **__: Any) -> str:
    """A warning as the command line shows it: the message, without Python's source file and line."""
    return f"monai-deid: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``monai-deid`` console script; returns the exit status."""
    warnings.formatwarning = _one_line_warning
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UsageError as e:
        print(f"monai-deid: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except DeidError as e:  # inspect on a file that cannot be read: the typed error names it, PHI-free
        print(f"monai-deid: error: {e}", file=sys.stderr)
        return EXIT_FAILURES


if __name__ == "__main__":
    sys.exit(main())
