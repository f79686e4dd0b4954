"""The Ray engine: byte-identical outputs and the same audit as the local engine, even when a worker dies mid-run."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from datafiles import pydicom_data_file, pydicom_test_file

from monai_deid.audit import AuditLog, AuditRecord, read_audit
from monai_deid.cli import main
from monai_deid.pipeline import build_pipeline
from monai_deid.runner import find_inputs
from monai_deid.samples import write_sample_set

ray = pytest.importorskip("ray", reason="the Ray engine is optional: pip install 'monai-deid[ray]'")
from monai_deid.ray_engine import run_ray  # noqa: E402  (needs ray)

REPO = Path(__file__).resolve().parents[1]
PYDICOM_FILES = ["CT_small.dcm", "MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm", "JPEG-lossy.dcm"]
#: The file whose worker the fault injection kills (not the first one, so the run is under way).
VICTIM = "MRN5582031_us_cine.dcm"


def _dying_pipeline(marker: str, victim: str, **kwargs: Any) -> Callable[[dict], dict]:
    """``build_pipeline`` whose process dies once, mid-write, on ``victim``: fault injection for the test only.

    The first time ``victim`` comes through, it leaves a half-written temporary file where an interrupted
    atomic write would leave it, creates ``marker`` and exits the worker process without any cleanup.
    """
    pipeline = build_pipeline(**kwargs)

    def run(data: dict) -> dict:
        if Path(data["image"]).name == victim and not Path(marker).exists():
            Path(marker).touch()
            partial = Path(kwargs["output_dir"]) / ".tmp-interrupted.dcm"
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(Path(data["image"]).read_bytes()[:1000])
            os._exit(1)
        return pipeline(data)

    return run


def _poisoned_pipeline(victim: str, **kwargs: Any) -> Callable[[dict], dict]:
    """``build_pipeline`` whose process dies every time ``victim`` comes through: fault injection for the test only."""
    pipeline = build_pipeline(**kwargs)

    def run(data: dict) -> dict:
        if Path(data["image"]).name == victim:
            os._exit(1)
        return pipeline(data)

    return run


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance for the module (starting Ray takes seconds); workers can import the tests."""
    paths = os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": paths}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated sample set (with its truncated file), real pydicom files (one undecodable) and a stray file."""
    root = tmp_path_factory.mktemp("corpus") / "in"
    write_sample_set(root / "export")
    for name in PYDICOM_FILES:
        shutil.copy(pydicom_test_file(name), root / name)
    shutil.copy(pydicom_data_file("US1_UNCR.dcm"), root / "IMG0001")
    (root / "notes.txt").write_text("not DICOM")
    return root


@pytest.fixture(scope="module")
def local_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local engine's run of the corpus: ``out/``, ``out.audit.jsonl``, ``quarantine/``."""
    folder = tmp_path_factory.mktemp("local")
    main(["run", str(corpus), str(folder / "out"), "--quarantine", str(folder / "quarantine"), "--no-progress"])
    return folder


def _tree(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _outcomes(records: list[AuditRecord], folder: Path) -> dict[str, tuple]:
    """Source -> what happened to it, with paths made relative to the run's folder so two runs compare."""

    def relative(path: str | None) -> str | None:
        return None if path is None else str(Path(path).relative_to(folder))

    outcomes = {}
    for r in records:
        details = {k: relative(v) if k == "quarantined_copy" else v for k, v in r.details.items()}
        outcomes[r.source] = (r.status, r.code, r.reason, relative(r.output), details)
    return outcomes


# First, before the module's Ray instance starts: it would compete for the two CPUs.
def test_local_engine_does_not_import_ray(tmp_path: Path) -> None:
    source = pydicom_test_file("CT_small.dcm")
    script = (
        "import sys\n"
        "from monai_deid.cli import main\n"
        f"main(['run', {str(source)!r}, {str(tmp_path / 'out')!r}, '--no-progress'])\n"
        "assert 'ray' not in sys.modules, 'the local engine imported ray'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert any((tmp_path / "out").rglob("*.dcm"))


def test_ray_engine_matches_local_engine_byte_for_byte(
    ray_session: None, corpus: Path, local_run: Path, tmp_path: Path
) -> None:
    quarantine = str(tmp_path / "quarantine")
    status = main(
        ["run", str(corpus), str(tmp_path / "out"), "--quarantine", quarantine, "--no-progress", "--engine", "ray"]
    )
    local_records = read_audit(local_run / "out.audit.jsonl")
    ray_records = read_audit(tmp_path / "out.audit.jsonl")
    assert status == 1  # the truncated and the undecodable file were not written, as in the local run
    assert len(ray_records) == len({r.source for r in ray_records}) == len(local_records)
    assert _outcomes(ray_records, tmp_path) == _outcomes(local_records, local_run)
    assert {r.status for r in ray_records} == {"ok", "failed", "skipped"}
    assert _tree(tmp_path / "out") == _tree(local_run / "out")
    assert _tree(tmp_path / "quarantine") == _tree(local_run / "quarantine")
    assert len(_tree(tmp_path / "out")) == sum(r.status == "ok" for r in ray_records)


@pytest.mark.slow  # a worker restart re-imports torch and MONAI: ~45 s on 2 cores
def test_killed_worker_loses_and_duplicates_nothing(
    ray_session: None, corpus: Path, local_run: Path, tmp_path: Path
) -> None:
    files, skipped = find_inputs(corpus)
    marker, output = tmp_path / "killed-once", tmp_path / "out"
    kwargs = {"output_dir": output, "marker": str(marker), "victim": VICTIM}
    assert VICTIM in [f.name for f in files[1:]]
    with AuditLog(tmp_path / "out.audit.jsonl") as audit:
        summary = run_ray(
            files, _dying_pipeline, kwargs, audit, tmp_path / "quarantine", skipped, output_dir=output, progress=False
        )
    records = read_audit(tmp_path / "out.audit.jsonl")
    assert marker.exists()  # a worker really died on the victim
    assert len(records) == len({r.source for r in records}) == len(files) + len(skipped)  # one record per input
    assert _outcomes(records, tmp_path) == _outcomes(read_audit(local_run / "out.audit.jsonl"), local_run)
    assert summary.counts["ok"] == len(_tree(output))  # every output exactly once, no leftover partial write
    assert _tree(output) == _tree(local_run / "out")
    assert _tree(tmp_path / "quarantine") == _tree(local_run / "quarantine")


@pytest.mark.slow  # the poison file kills four workers, each restart re-imports torch and MONAI
def test_file_that_always_kills_its_worker_is_failed_and_quarantined(
    ray_session: None, corpus: Path, local_run: Path, tmp_path: Path
) -> None:
    files, skipped = find_inputs(corpus)
    output = tmp_path / "out"
    with AuditLog(tmp_path / "out.audit.jsonl") as audit:
        run_ray(
            files,
            _poisoned_pipeline,
            {"output_dir": output, "victim": VICTIM},
            audit,
            tmp_path / "quarantine",
            skipped,
            output_dir=output,
            task_retries=1,
            progress=False,
        )
    audited = read_audit(tmp_path / "out.audit.jsonl")
    records = {r.source: r for r in audited}
    local = {r.source: r for r in read_audit(local_run / "out.audit.jsonl")}
    victim = next(source for source in records if Path(source).name == VICTIM)
    assert len(audited) == len(records) == len(files) + len(skipped)  # one record per input
    assert (records[victim].status, records[victim].code) == ("failed", "worker_lost")
    assert Path(records[victim].details["quarantined_copy"]).read_bytes() == Path(victim).read_bytes()
    others = [r for r in audited if r.source != victim]
    assert _outcomes(others, tmp_path) == {
        source: outcome for source, outcome in _outcomes(list(local.values()), local_run).items() if source != victim
    }
    victim_output = str(Path(local[victim].output).relative_to(local_run / "out"))
    assert _tree(output) == {name: d for name, d in _tree(local_run / "out").items() if name != victim_output}
