"""The ``monai-deid run`` and ``demo`` commands: batches with bad files, exit codes, audit, output names."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from datafiles import PYDICOM_DATA_FILES, PYDICOM_TEST_FILES, pydicom_data_file, pydicom_test_file
from validators import iod_errors

from monai_deid.audit import read_audit
from monai_deid.samples import SAMPLE_PATIENTS, render_text, write_sample_set

GOOD = ["CT_small.dcm", "MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm"]


REPO = Path(__file__).resolve().parents[1]


def _monai_deid(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the command line as a user does, in a fresh process (the package need not be installed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MONAI_DEID_SECRET": "test-secret-0123456789"}
    command = [sys.executable, "-m", "monai_deid.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def _digests(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def header_only(tmp_path: Path) -> Path:
    """A config that skips the pixel stages: these tests are about batching, not OCR (see test_pipeline.py)."""
    path = tmp_path / "header-only.yaml"
    path.write_text("scan_pixels: false\n")
    return path


@pytest.fixture
def mixed_batch(tmp_path: Path) -> Path:
    """Good files in a folder named after a patient, plus every kind of bad input."""
    batch = tmp_path / "in" / "DOE_JANE_MRN4471920"
    batch.mkdir(parents=True)
    for name in GOOD:
        shutil.copy(pydicom_test_file(name), batch / name)
    (batch / "not_dicom.dcm").write_text("this is a text file, not DICOM")
    (batch / "truncated.dcm").write_bytes(pydicom_test_file("CT_small.dcm").read_bytes()[:600])
    shutil.copy(pydicom_test_file("rtplan.dcm"), batch / "no_pixels.dcm")
    shutil.copy(pydicom_test_file("JPEG-lossy.dcm"), batch / "undecodable.dcm")
    (batch / "notes.txt").write_text("a stray file that is not DICOM by content")
    shutil.copy(pydicom_data_file("US1_UNCR.dcm"), batch / "IMG0001")  # DICOM without an extension
    (batch / "moved_away.dcm").symlink_to(tmp_path / "nowhere.dcm")
    os.mkfifo(batch / "pipe.dcm")  # opening it would wait for a writer forever
    return tmp_path / "in"


def test_run_writes_good_files_and_audits_every_bad_one(mixed_batch: Path, header_only: Path, tmp_path: Path) -> None:
    before = _digests(mixed_batch)
    output = tmp_path / "out"
    result = _monai_deid("run", mixed_batch, output, "--no-progress", "--config", header_only)
    assert result.returncode == 1, result.stderr
    assert _digests(mixed_batch) == before  # inputs untouched
    records = {Path(r.source).name: r for r in read_audit(tmp_path / "out.audit.jsonl")}
    assert {name for name, r in records.items() if r.status == "ok"} == {*GOOD, "IMG0001"}
    expected_codes = {
        "not_dicom.dcm": "invalid_dicom",
        "truncated.dcm": "missing_pixel_data",
        "no_pixels.dcm": "missing_pixel_data",
        "undecodable.dcm": "undecodable_pixel_data",
    }
    for name, code in expected_codes.items():
        assert (records[name].status, records[name].code, records[name].output) == ("failed", code, None)
        assert records[name].reason
    assert "truncated" in records["truncated.dcm"].reason
    assert records["notes.txt"].status == "skipped"
    for name in ("moved_away.dcm", "pipe.dcm"):
        assert (records[name].status, records[name].code) == ("skipped", "not_a_file")
    written = sorted(p for p in output.rglob("*") if p.is_file())
    assert len(written) == len(GOOD) + 1
    for path in written:
        assert "DOE" not in str(path) and "MRN" not in str(path) and path.suffix == ".dcm"
        pydicom.dcmread(path)
    assert "written" in result.stdout and "failed" in result.stdout


def test_quarantine_keeps_a_copy_of_each_file_not_written(mixed_batch: Path, header_only: Path, tmp_path: Path) -> None:
    result = _monai_deid(
        "run", mixed_batch, tmp_path / "out", "--quarantine", tmp_path / "q", "--no-progress", "--config", header_only
    )
    assert result.returncode == 1
    copies = sorted((tmp_path / "q").iterdir())
    assert len(copies) == 4
    assert all("DOE" not in p.name and "no_pixels" not in p.name for p in copies)
    # The summary says where the 4 files not written went, and what each count means.
    assert re.search(r"failed +4 +could not be read or processed", result.stdout)
    assert re.search(r"quarantined +0 +read, but not proven clean", result.stdout)
    assert f"quarantine  {tmp_path / 'q'}" in result.stdout


def test_two_inputs_of_one_instance_are_counted_as_repeated(header_only: Path, tmp_path: Path) -> None:
    # The same SOP instance twice (as pydicom-data ships 693_UNCI.dcm beside pydicom's 693_J2KI.dcm): one output
    # path, and a summary that says so instead of "written 2" beside one file.
    source = tmp_path / "in"
    source.mkdir()
    for name in ("a.dcm", "b.dcm"):
        shutil.copy(pydicom_test_file("CT_small.dcm"), source / name)
    result = _monai_deid("run", source, tmp_path / "out", "--no-progress", "--config", header_only)
    assert result.returncode == 0, result.stderr
    assert re.search(r"written +2 ", result.stdout)
    assert re.search(r"repeated +1 +written, of an instance", result.stdout)
    assert len([p for p in (tmp_path / "out").rglob("*.dcm")]) == 1
    records = read_audit(tmp_path / "out.audit.jsonl")
    assert [bool(r.details.get("repeats_instance")) for r in records].count(True) == 1


def test_two_images_of_one_instance_leave_the_same_output_whatever_finishes_first(tmp_path: Path) -> None:
    # Two different images under one SOP instance (a broken export): the output is the one of the input that comes
    # last in the run's order, as one worker leaves it, even when the other (slower) input finishes last.
    source = tmp_path / "in"
    source.mkdir()
    small = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
    slow = pydicom.dcmread(pydicom_data_file("US1_UNCR.dcm"))  # burned-in text: OCR takes it longer
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(slow, keyword, small[keyword].value)
    slow.file_meta.MediaStorageSOPInstanceUID = small.SOPInstanceUID
    slow.save_as(source / "a_slow.dcm")
    small.save_as(source / "b_small.dcm")

    result = _monai_deid("run", source, tmp_path / "out", "--no-progress", "--workers", "2")

    assert result.returncode == 0, result.stderr
    outputs = list((tmp_path / "out").rglob("*.dcm"))
    assert len(outputs) == 1
    written = pydicom.dcmread(outputs[0])
    assert (written.Rows, written.Columns) == (small.Rows, small.Columns)


def test_all_good_exits_zero_and_audit_lies_outside_output(header_only: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(pydicom_test_file("CT_small.dcm"), source / "a.dcm")
    audit = tmp_path / "logs" / "audit.jsonl"
    result = _monai_deid("run", source, tmp_path / "out", "--audit", audit, "--config", header_only)
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert record["status"] == "ok" and Path(record["output"]).is_relative_to(tmp_path / "out")
    assert not list((tmp_path / "out").rglob("*.jsonl"))


@pytest.mark.parametrize(
    "args",
    [
        ["run", "missing-folder", "out"],
        ["run", ".", "."],
        ["run", "IN", "OUT", "--audit", "OUT/audit.jsonl"],
        ["run", "IN", "OUT", "--workers", "0"],
        ["run", "IN", "OUT", "--workers", "two"],
        ["run", "IN", "OUT", "--device", "gpu"],
        ["run", "IN", "OUT", "--device", "cuda:99"],
        ["verify", "missing-folder"],
        ["verify", ".", "--device", "cuda:99"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_two(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "IN").mkdir()
    result = _monai_deid(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_a_setting_no_stage_takes_stops_the_run_before_the_workers_start(tmp_path: Path) -> None:
    # Raised in the workers, it made the pool start new workers forever.
    batch = tmp_path / "in"
    batch.mkdir()
    for name in GOOD[:2]:
        shutil.copy(pydicom_test_file(name), batch / name)
    config = tmp_path / "typo.yaml"
    config.write_text("detect:\n  detectr: lines\n")
    result = _monai_deid("run", batch, tmp_path / "out", "--workers", "2", "--config", config)
    assert result.returncode == 2 and "detectr" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('scrub:\n  retain_uids: "false"\n', "retain_uids must be bool, not str"),
        ("scrub:\n  secret: 918273645546372819\n", "the secret must be text or bytes, not int"),
    ],
)
def test_a_config_value_of_the_wrong_type_is_a_usage_error(config: str, message: str, tmp_path: Path) -> None:
    # Before, the quoted "false" kept every UID, and the number made bytes() ask for 918 PB: a MemoryError.
    (tmp_path / "in").mkdir()
    shutil.copy(pydicom_test_file("CT_small.dcm"), tmp_path / "in")
    (tmp_path / "config.yaml").write_text(config)
    result = _monai_deid("run", tmp_path / "in", tmp_path / "out", "--config", tmp_path / "config.yaml")
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert "918273645546372819" not in result.stderr and not (tmp_path / "out").exists()


def test_a_config_that_is_not_yaml_is_a_usage_error_that_says_where(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    config = tmp_path / "broken.yaml"
    config.write_text("detect:\n  detector: [lines\n")
    result = _monai_deid("run", tmp_path / "in", tmp_path / "out", "--config", config)
    assert result.returncode == 2 and "at line 3, column 1" in result.stderr


def _broken_factory() -> None:
    raise OSError("the weights are gone")


def test_workers_that_cannot_build_the_pipeline_fail_each_file_and_the_batch_ends(tmp_path: Path) -> None:
    from monai_deid.audit import AuditLog
    from monai_deid.runner import run_batch

    files = [pydicom_test_file(name) for name in GOOD]
    with AuditLog(tmp_path / "audit.jsonl") as audit:
        summary = run_batch(files, _broken_factory, {}, audit, workers=2, progress=False)
    records = read_audit(tmp_path / "audit.jsonl")
    assert summary.not_written == len(GOOD) and len(records) == len(GOOD)
    assert {r.reason for r in records} == {"the worker could not build the pipeline (OSError)"}


def test_verify_finds_nothing_to_check_in_an_empty_folder_and_fails(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _monai_deid("verify", tmp_path / "empty")
    assert result.returncode == 1 and "nothing was checked" in result.stdout


def test_two_workers_write_the_same_files_as_one(mixed_batch: Path, header_only: Path, tmp_path: Path) -> None:
    common = ("--no-progress", "--config", header_only)
    assert _monai_deid("run", mixed_batch, tmp_path / "one", "--workers", "1", *common).returncode == 1
    assert _monai_deid("run", mixed_batch, tmp_path / "two", "--workers", "2", *common).returncode == 1
    one = {Path(p).relative_to(tmp_path / "one"): d for p, d in _digests(tmp_path / "one").items()}
    two = {Path(p).relative_to(tmp_path / "two"): d for p, d in _digests(tmp_path / "two").items()}
    assert one == two and len(one) == len(GOOD) + 1


def test_demo_generates_writes_and_reports_the_broken_file(tmp_path: Path) -> None:
    result = _monai_deid("demo", tmp_path / "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    records = read_audit(tmp_path / "demo" / "audit.jsonl")
    assert [r.status for r in records].count("ok") == len(records) - 1
    (broken,) = [r for r in records if r.status != "ok"]
    assert Path(broken.source).name == "broken_truncated.dcm" and broken.status == "failed"
    assert "Look at" in result.stdout and (tmp_path / "demo" / "report" / "review.html").is_file()
    assert (tmp_path / "demo" / "demo-secret.txt").stat().st_mode & 0o777 == 0o600
    verify = _monai_deid("verify", tmp_path / "demo" / "output")
    assert verify.returncode == 0, verify.stdout
    assert f"{len(records) - 1} of {len(records) - 1} files pass" in verify.stdout


def test_verify_command_flags_a_file_that_was_never_deidentified(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    shutil.copy(pydicom_test_file("CT_small.dcm"), folder / "a.dcm")
    result = _monai_deid("verify", folder)
    assert result.returncode == 1 and "header:not_marked_deidentified" in result.stdout


def test_verify_command_sorts_every_file_and_goes_on_past_unreadable_ones(tmp_path: Path) -> None:
    result = _monai_deid("run", pydicom_test_file("CT_small.dcm"), tmp_path / "out", "--no-progress")
    assert result.returncode == 0, result.stderr
    (clean,) = (tmp_path / "out").rglob("*.dcm")
    folder = tmp_path / "shared"
    folder.mkdir()
    shutil.copy(clean, folder / "clean.dcm")
    ds = pydicom.dcmread(clean)
    pixels = ds.pixel_array
    text = render_text(np.zeros(pixels.shape, np.uint8), [(4, 100, "ZORBLAX QUENTIN")], size=12) > 127
    ds.PixelData = np.where(text, pixels.max(), pixels).astype(pixels.dtype).tobytes()
    ds.save_as(folder / "unexplained_text.dcm")
    shutil.copy(pydicom_test_file("CT_small.dcm"), folder / "never_deidentified.dcm")
    (folder / "junk.dcm").write_text("not DICOM")
    result = _monai_deid("verify", folder)
    assert result.returncode == 1, result.stderr
    verdicts = {Path(line.split()[1]).name: line.split()[0] for line in result.stdout.splitlines()[:-1]}
    assert verdicts == {
        "clean.dcm": "ok",
        "unexplained_text.dcm": "REVIEW",
        "never_deidentified.dcm": "FAIL",
        "junk.dcm": "ERROR",
    }
    assert "invalid_dicom" in result.stdout
    (review,) = [line for line in result.stdout.splitlines() if line.startswith("REVIEW")]
    # where the text was drawn: 12 px letters from (4, 100)
    x0, y0, x1, y1 = map(int, re.search(r"at frame 0 box \((\d+), (\d+), (\d+), (\d+)\)$", review).groups())
    assert x0 <= 6 and 95 <= y0 <= 105 and x1 > 60 and y1 <= 120, review
    assert result.stdout.splitlines()[-1] == "1 of 4 files pass (1 to review, 1 fail, 1 could not be checked)"


def test_inspect_explains_without_showing_values(tmp_path: Path) -> None:
    path = pydicom_data_file("US1_UNCR.dcm")
    result = _monai_deid("inspect", path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^  replaced  PatientName +Table E.1-1 Z", result.stdout, re.M)
    assert re.search(r"^  removed   InstitutionName +Table E.1-1 X", result.stdout, re.M)
    assert re.search(r"^  kept      Modality +not in Table E.1-1", result.stdout, re.M)
    listed = re.findall(r"^  (?:removed|replaced|cleaned|kept)  +(\S+)", result.stdout, re.M)
    assert len(listed) == len(pydicom.dcmread(path)) - 1  # every attribute but the pixels, kept ones too
    assert ".py:" not in result.stderr  # a warning (no local NER model) shows its message, not Python's source line
    assert "redact" in result.stdout and "reason header:" in result.stdout
    header = pydicom.dcmread(path, stop_before_pixels=True)
    for value in (str(header.PatientName), header.PatientID, header.InstitutionName):
        if len(value) > 3:
            assert value not in result.stdout


def test_sample_set_carries_phi_in_names_and_headers(tmp_path: Path) -> None:
    paths = write_sample_set(tmp_path)
    ds = pydicom.dcmread(paths[0])
    assert str(ds.PatientName) == SAMPLE_PATIENTS[0].name and SAMPLE_PATIENTS[0].patient_id in paths[0].name


def test_rerun_with_same_secret_skips_done_files_and_keeps_outputs(
    mixed_batch: Path, header_only: Path, tmp_path: Path
) -> None:
    args = ("run", mixed_batch, tmp_path / "out", "--no-progress", "--config", header_only)
    assert _monai_deid(*args).returncode == 1
    first, first_records = _digests(tmp_path / "out"), len(read_audit(tmp_path / "out.audit.jsonl"))
    assert _monai_deid(*args).returncode == 1  # the bad files fail again
    assert _digests(tmp_path / "out") == first
    second_run = read_audit(tmp_path / "out.audit.jsonl")[first_records:]
    done = [r for r in second_run if r.code == "done"]
    assert len(done) == len(GOOD) + 1 and all(r.status == "skipped" and r.output for r in done)


def test_mapping_links_original_identifiers_to_pseudonyms(header_only: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(pydicom_test_file("CT_small.dcm"), source / "a.dcm")
    mapping = tmp_path / "private" / "map.csv"
    assert _monai_deid("run", source, tmp_path / "out", "--mapping", mapping, "--config", header_only).returncode == 0
    rows = dict(line.split(",") for line in mapping.read_text().splitlines()[1:])
    original = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
    (written,) = (tmp_path / "out").rglob("*.dcm")
    output = pydicom.dcmread(written)
    assert rows[original.SOPInstanceUID] == output.SOPInstanceUID
    assert rows[original.PatientID] == output.PatientID
    assert not list(tmp_path.glob("private/*.parts"))
    # the mapping and the audit hold PHI: only their owner may read them
    for path in (mapping, tmp_path / "out.audit.jsonl"):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_a_worker_holds_networks_and_stroke_test_to_its_share_of_cores() -> None:
    import cv2
    import torch

    from monai_deid.runner import _init_worker

    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        _init_worker(dict, {}, 1)
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def test_auto_workers_use_the_cores_for_many_files_and_one_for_one_file() -> None:
    import torch

    from monai_deid.runner import auto_workers, available_cores

    assert auto_workers(1) == 1
    assert 1 <= auto_workers(10_000) <= available_cores()
    assert auto_workers(2) == min(2, auto_workers(10_000))
    assert auto_workers(1, "cuda") == 1
    # on a GPU at most 4 (more processes take turns on it), and one where there is no GPU to run on
    assert 1 <= auto_workers(10_000, "cuda") <= min(4, auto_workers(10_000))
    if not torch.cuda.is_available():
        assert auto_workers(10_000, "cuda") == 1


def test_workers_fork_only_where_safe() -> None:
    from monai_deid.runner import _start_method

    # In a fresh process, as the command line starts its workers: forked.
    code = "from monai_deid.runner import _start_method; print(_start_method({'device': 'cpu'}, 1))"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert fresh.stdout.strip() == "fork"
    # OpenMP threads of the parent do not exist in a forked child: a child running more than one thread hangs.
    assert _start_method({"device": "cpu"}, threads=2) == "spawn"
    assert _start_method({"device": "cuda"}, threads=1) == "spawn"
    # Another Python thread may hold a lock the child would wait for.
    idle = threading.Event()
    other = threading.Thread(target=idle.wait)
    other.start()
    try:
        assert _start_method({"device": "cpu"}, threads=1) == "spawn"
    finally:
        idle.set()
        other.join()


_FORKING_PARENT = """
import os, sys
from pathlib import Path

import cv2, numpy as np, torch

from monai_deid import runner
from monai_deid.audit import AuditLog
from monai_deid.pipeline import build_pipeline

os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])  # 2 workers of one thread each: forked
torch.set_num_threads(2)
cv2.setNumThreads(2)
# OpenMP's and OpenCV's pools now have threads, which a forked child does not have.
torch.nn.functional.conv2d(torch.rand(1, 8, 256, 256), torch.rand(8, 8, 3, 3))
cv2.morphologyEx(np.zeros((1024, 1024), np.uint8), cv2.MORPH_TOPHAT, np.ones((15, 15), np.uint8))
kwargs = {"output_dir": sys.argv[1], "scrub": {"secret": "test-secret"}, "classify": {"ner_model": None}}
print(runner._start_method(kwargs, 1))
with AuditLog(Path(sys.argv[2])) as audit:
    summary = runner.run_batch([Path(p) for p in sys.argv[3:]], build_pipeline, kwargs, audit, 2, progress=False)
print(summary.counts["ok"])
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_forked_workers_run_after_their_parent_ran_thread_pools(tmp_path: Path) -> None:
    from monai_deid.pipeline import build_pipeline
    from monai_deid.runner import process_file

    files = write_sample_set(tmp_path / "in")[:3]
    settings = {"output_dir": tmp_path / "one", "scrub": {"secret": "test-secret"}, "classify": {"ner_model": None}}
    alone = [process_file(path, build_pipeline(**settings), None).status for path in files]
    args = [sys.executable, "-c", _FORKING_PARENT, tmp_path / "two", tmp_path / "audit.jsonl", *files]
    parent = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=REPO, start_new_session=True)
    try:
        out, _ = parent.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(parent.pid, signal.SIGKILL)  # the hung workers too
        raise
    assert out.split() == ["fork", "3"] and alone == ["ok"] * 3
    one, two = _digests(tmp_path / "one"), _digests(tmp_path / "two")
    assert len(one) == 3 and sorted(one.values()) == sorted(two.values())


#: Real files the verifier quarantines: their Manufacturer is their Institution Name ("OFFIS"), which the profile
#: keeps and the verifier finds. Every other real file is written or fails to load with a named reason.
QUARANTINED_BY_VERIFIER = {"mlut_18.dcm", "vlut_04.dcm"}


@pytest.mark.slow
def test_every_real_file_is_written_or_refused_with_a_reason(tmp_path: Path) -> None:
    source = tmp_path / "in"
    for folder, name in ((PYDICOM_TEST_FILES, "pydicom"), (PYDICOM_DATA_FILES, "pydicom-data")):
        shutil.copytree(folder, source / name)
    result = _monai_deid("run", source, tmp_path / "out", "--no-progress", "--quarantine", tmp_path / "q")
    assert result.returncode == 1, result.stderr  # some real files are broken on purpose
    records = read_audit(tmp_path / "out.audit.jsonl")
    assert len(records) == len([p for p in source.rglob("*") if p.is_file()])
    assert not [r for r in records if r.code == "internal_error"]
    assert {Path(r.source).name for r in records if r.code == "verification_failed"} == QUARANTINED_BY_VERIFIER
    written = [r for r in records if r.status == "ok"]
    assert len(written) >= 150
    files = {str(p) for p in (tmp_path / "out").rglob("*.dcm")}
    assert {r.output for r in written} == files
    assert sum(bool(r.details.get("repeats_instance")) for r in written) == len(written) - len(files)
    # Valid DICOM: no output has a dciodvfy error that none of its inputs had.
    sources: dict[str, list[str]] = {}
    for record in written:
        sources.setdefault(record.output, []).append(record.source)
    for output, inputs in sources.items():
        new = iod_errors(output) - set.union(*(iod_errors(path) for path in inputs))
        assert not new, (Path(inputs[0]).name, new)
