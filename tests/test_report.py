"""The review report built from really processed sample files, rendered by headless Chromium."""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
import subprocess
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from monai.transforms import Compose, MapTransform
from PIL import Image, ImageFont

from monai_deid.audit import AuditLog, Status, read_audit
from monai_deid.io import LoadDicomWithMetad, SaveDicomd
from monai_deid.phi import ClassifyPHId
from monai_deid.profile import ScrubMetadatad
from monai_deid.redact import RedactPixelsd
from monai_deid.regions import TextRegion
from monai_deid.report import BOX_COLOURS, REPORT_NAME, ReportLocationError, ReviewReport, write_review_report
from monai_deid.runner import find_inputs, run_batch
from monai_deid.samples import SAMPLE_PATIENTS, write_sample_set

CHROMIUM = shutil.which("chromium")
SECRET = "review-report-test-secret-0001"


class PlantedTextd(MapTransform):
    """Stands in for OCR in the fast test: the regions where samples.py drew the ultrasound header band.

    Boxes come from the same font samples.py draws with, so ClassifyPHI, RedactPixels and the report all work on
    real positions; the slow test runs the real OCR instead.
    """

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            header, frames = d[f"{key}_dicom"], int(d[key].shape[1])
            patient = next(p for p in SAMPLE_PATIENTS if p.patient_id == header.PatientID)
            lines = [(8, 6, patient.institution), (300, 6, f"ID: {patient.patient_id}"), (8, 358, "Sag Liver")]
            regions = []
            if header.Modality == "US":
                font = ImageFont.load_default(size=14)
                for x, y, text in lines:
                    x0, y0, x1, y1 = font.getbbox(text)
                    box = (x + x0, y + y0, x + x1, y + y1)
                    regions.append(TextRegion(tuple(range(frames)), box, text, 0.99))
            d[f"{key}_text"] = regions
            d[key].meta["text_scanned"] = True
        return d


def _factory(output_dir: Path, ocr: bool) -> Compose:
    if ocr:
        from monai_deid.ocr import DetectBurnedInTextd

        text_stage: MapTransform = DetectBurnedInTextd("image")
    else:
        text_stage = PlantedTextd("image")
    return Compose(
        [
            LoadDicomWithMetad("image"),
            text_stage,
            ClassifyPHId("image", ner_model=None),
            RedactPixelsd("image"),
            ScrubMetadatad("image", secret=SECRET),
            SaveDicomd("image", output_dir=output_dir),
        ]
    )


def _processed(tmp_path: Path, ocr: bool) -> tuple[Path, Path]:
    """Run the sample set through the stages; return the audit file and the output folder."""
    inputs, output = tmp_path / "input", tmp_path / "output"
    write_sample_set(inputs)
    files, skipped = find_inputs(inputs)
    with AuditLog(tmp_path / "audit.jsonl") as audit:
        run_batch(
            files, _factory, {"output_dir": output, "ocr": ocr}, audit, 1, tmp_path / "quarantine", skipped, False
        )
    return tmp_path / "audit.jsonl", output


def _chromium(page: Path, profile: Path, *args: str) -> str:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)
    return result.stdout


def _check_report(page: Path, tmp_path: Path, records: list) -> None:
    written = [r for r in records if r.status == Status.OK]
    text = page.read_text(encoding="utf-8")
    # the page shows decisions and reason codes, never the recognised text
    assert "header:InstitutionName" in text and "allowlist:" in text
    for patient in SAMPLE_PATIENTS:
        assert patient.institution not in text
    dom = _chromium(page, tmp_path / "profile-dom", "--dump-dom")
    uris = re.findall(r'<img src="data:image/png;base64,([^"]+)"', dom)
    assert len(uris) == 2 * len(written), "a before and an after preview per written file"
    for uri in uris:
        preview = Image.open(io.BytesIO(base64.b64decode(uri)))
        assert preview.format == "PNG" and min(preview.size) > 100
    for record in records:
        if record.status == Status.FAILED:
            assert html.escape(record.source) in dom and record.code in dom and html.escape(record.reason) in dom

    shot = tmp_path / "screenshot.png"
    _chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2600")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    red = tuple(int(BOX_COLOURS[True][i : i + 2], 16) for i in (1, 3, 5))
    outline = (np.abs(pixels - red).sum(axis=2) < 30).sum()
    assert outline > 200, "the redaction outlines drawn inside the before previews are on screen"
    # the page is light and its text thin: only the previews' black backgrounds hold runs of 40 dark pixels
    dark = np.cumsum(pixels.sum(axis=2) < 90, axis=1)
    rows_with_preview = ((dark[:, 40:] - dark[:, :-40]) == 40).any(axis=1).sum()
    assert rows_with_preview > 400, "the previews' pixels are on screen"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (see .ci/run)")
def test_report_renders_in_chromium_with_previews_and_outlines(tmp_path: Path) -> None:
    audit, output = _processed(tmp_path, ocr=False)
    records = read_audit(audit)
    assert {r.status for r in records} == {Status.OK, Status.FAILED}
    page = write_review_report(records, tmp_path / "report", output)
    assert page == (tmp_path / "report" / REPORT_NAME).resolve()
    _check_report(page, tmp_path, records)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (see .ci/run)")
def test_report_after_real_ocr_renders_in_chromium(tmp_path: Path) -> None:
    audit, output = _processed(tmp_path, ocr=True)
    records = read_audit(audit)
    page = write_review_report(records, tmp_path / "report", output)
    _check_report(page, tmp_path, records)


def test_report_refuses_a_folder_inside_the_output(tmp_path: Path) -> None:
    (tmp_path / "output").mkdir()
    with pytest.raises(ReportLocationError):
        ReviewReport(tmp_path / "output" / "report", tmp_path / "output")
    with pytest.raises(ReportLocationError):
        ReviewReport(tmp_path / "output", tmp_path / "output")
    assert ReviewReport(tmp_path / "report", tmp_path / "output").report_dir == (tmp_path / "report").resolve()
