"""The MONAI Bundle in configs/, run the way users run it: ``python -m monai.bundle run`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
import torch
from monai.networks.nets import Classifier
from planted import planted_in

from monai_deid.audit import Status, read_audit
from monai_deid.bundle import deidentify_folder
from monai_deid.pipeline import build_pipeline
from monai_deid.report import REPORT_NAME
from monai_deid.samples import write_sample_set

ROOT = Path(__file__).resolve().parents[1]


def _bundle_run(config: str, *overrides: str, returncode: int = 0) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(ROOT / "configs" / config),
        "--meta_file",
        str(ROOT / "configs" / "metadata.json"),
        *overrides,
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert result.returncode == returncode, result.stderr[-3000:]
    return result


def _check_deidentified(tmp_path: Path) -> None:
    records = read_audit(tmp_path / "audit.jsonl")
    failed = [r for r in records if r.status == Status.FAILED]
    assert [Path(r.source).name for r in failed] == ["broken_truncated.dcm"]
    written = [Path(r.output) for r in records if r.status == Status.OK]
    assert written and sorted(written) == sorted((tmp_path / "output").rglob("*.dcm"))
    for path in written:
        assert not planted_in(str(path.relative_to(tmp_path)))
        ds = pydicom.dcmread(path)
        leaves = " ".join(str(e.value) for e in ds.iterall() if e.VR not in ("OB", "OW", "UN", "SQ"))
        assert not planted_in(leaves), f"planted PHI left in the header of {path.name}"
        assert ds.PatientIdentityRemoved == "YES"
    assert (tmp_path / "report" / REPORT_NAME).stat().st_size > 10_000


def test_deid_bundle_deidentifies_a_folder(tmp_path: Path) -> None:
    files = write_sample_set(tmp_path / "input")
    # the ultrasound cines need minutes of OCR on this CPU: the slow test below runs them
    for path in files:
        if path.name.endswith("_us_cine.dcm"):
            path.unlink()
    result = _bundle_run(
        "deid.json",
        f"--input_dir={tmp_path / 'input'}",
        f"--output_dir={tmp_path / 'output'}",
        f"--audit_path={tmp_path / 'audit.jsonl'}",
        f"--quarantine_dir={tmp_path / 'quarantine'}",
        f"--report_dir={tmp_path / 'report'}",
        "--secret=bundle-test-secret-0123",
        returncode=1,  # the truncated file fails, and the run says so, as the command line does
    )
    assert f"1 inputs were not written; the audit {tmp_path / 'audit.jsonl'} says why" in result.stderr
    _check_deidentified(tmp_path)
    assert len(list((tmp_path / "quarantine").iterdir())) == 1


def test_deidentify_folder_refuses_a_device_this_machine_lacks_before_any_file(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "input")
    pipeline = build_pipeline(tmp_path / "output", device="cuda:99", scrub={"secret": "bundle-test-secret-0123"})

    with pytest.raises(ValueError, match="cuda:99: this machine has"):
        deidentify_folder(tmp_path / "input", tmp_path / "output", pipeline, device="cuda:99")
    assert not (tmp_path / "output").exists() and not (tmp_path / "output.audit.jsonl").exists()


@pytest.mark.slow
def test_deid_bundle_deidentifies_the_whole_sample_set(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "input")
    _bundle_run(
        "deid.json",
        f"--input_dir={tmp_path / 'input'}",
        f"--output_dir={tmp_path / 'output'}",
        f"--audit_path={tmp_path / 'audit.jsonl'}",
        f"--report_dir={tmp_path / 'report'}",
        "--secret=bundle-test-secret-0123",
        returncode=1,
    )
    _check_deidentified(tmp_path)
    regions = [r for record in read_audit(tmp_path / "audit.jsonl") for r in record.details.get("text_regions", [])]
    assert any(r["is_phi"] for r in regions)


def test_train_with_deid_bundle_trains_one_epoch(tmp_path: Path) -> None:
    _bundle_run("train_with_deid.json", f"--data_dir={tmp_path / 'data'}", "--epochs=1")
    saved = torch.load(tmp_path / "data" / "model.pt", weights_only=True)
    assert len(saved["epoch_losses"]) == 1 and saved["epoch_losses"][0] > 0
    network = Classifier(in_shape=(1, 64, 64), classes=2, channels=(4, 8), strides=(2, 2))
    network.load_state_dict(saved["network"])
    assert all(torch.isfinite(p).all() for p in network.parameters())
