"""ScrubMetadata on real DICOM files: no new dciodvfy errors, outputs parse in DCMTK and GDCM."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pydicom
import pytest

from monai_deid.errors import UnsupportedContentError
from monai_deid.profile import ScrubMetadata
from tests.datafiles import pydicom_data_file, pydicom_test_file

REAL_FILES = [
    pydicom_test_file("CT_small.dcm"),
    pydicom_test_file("MR_small.dcm"),
    pydicom_test_file("MR_small_implicit.dcm"),
    pydicom_test_file("MR_small_bigendian.dcm"),
    pydicom_test_file("rtplan.dcm"),
    pydicom_test_file("examples_overlay.dcm"),
    pydicom_data_file("US1_UNCR.dcm"),
    pydicom_data_file("emri_small.dcm"),
    pydicom_data_file("eCT_Supplemental.dcm"),
    pydicom_test_file("examples_palette.dcm"),
]


def dciodvfy_errors(path: Path) -> set[str]:
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return {line.strip() for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")}


@pytest.mark.parametrize("source", REAL_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("options", [{}, {"retain_safe_private": True, "clean_structured_content": True}], ids=str)
def test_real_file_stays_valid(source, options, tmp_path):
    ds = pydicom.dcmread(source)
    ScrubMetadata(secret="real-files-secret", **options)(ds)
    out = tmp_path / "out.dcm"
    ds.save_as(out, enforce_file_format=True)
    new_errors = dciodvfy_errors(out) - dciodvfy_errors(source)
    assert not new_errors, new_errors
    dump = subprocess.run(["dcmdump", "-q", str(out)], capture_output=True, text=True)
    assert dump.returncode == 0 and "E:" not in dump.stderr, dump.stderr
    gdcm = subprocess.run(["gdcmdump", str(out)], capture_output=True, text=True)
    assert gdcm.returncode == 0 and "(0012,0062)" in gdcm.stdout, gdcm.stderr
    again = pydicom.dcmread(out)
    assert again.PatientIdentityRemoved == "YES"
    assert again.get("PixelData") == pydicom.dcmread(source).get("PixelData")  # the header stage leaves pixels


@pytest.mark.parametrize("name", ["reportsi.dcm"])
def test_structured_reports_are_quarantined(name):
    ds = pydicom.dcmread(pydicom_test_file(name))
    with pytest.raises(UnsupportedContentError) as caught:
        ScrubMetadata(secret="real-files-secret")(ds, path=name)
    assert caught.value.path == name and "SR" in caught.value.reason
