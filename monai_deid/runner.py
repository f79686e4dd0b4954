"""The batch runner: find DICOM under an input path, run the pipeline on each file, audit every outcome.

One bad file never stops the batch: its typed error becomes a ``failed`` or ``quarantined`` audit record and the run
goes on. Workers are separate processes, each building its pipeline once: forked where that is safe (on the CPU, one
thread each: they start at once), spawned otherwise (CUDA cannot be forked into).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.pool
import os
import shutil
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import torch
from tqdm import tqdm

from monai_deid.audit import AuditLog, AuditRecord, Status
from monai_deid.errors import DeidError, UnsupportedContentError, VerificationError
from monai_deid.io import is_dicom_file

__all__ = [
    "RunSummary",
    "auto_workers",
    "available_cores",
    "done_earlier",
    "file_digest",
    "find_inputs",
    "process_file",
    "run_batch",
    "skipped_record",
]

#: Names that claim to be DICOM: such a file that does not parse is a failure, not a stray file to skip.
_DICOM_SUFFIXES = {".dcm", ".dicom", ".dic"}
#: Errors that mean "read, but not provably clean": the file is withheld, not broken.
_QUARANTINE_ERRORS = (UnsupportedContentError, VerificationError)
#: Memory one worker process needs: its networks, their weights packed per input shape (CRAFT's for 16 shapes, the
#: recogniser's for 64: see ``ocr.fusion``), and one image in flight (2.9 GB at peak over the benchmark corpus).
_WORKER_MEMORY = 3 << 30
#: One GPU worker's share of the card: 3.6 to 6.6 GiB reserved at most on an H100 in two sessions (networks, cuDNN
#: workspaces, a batch of 16 CRAFT canvases of 1024x768), plus its CUDA context.
_GPU_WORKER_MEMORY = 8 << 30
#: GPU workers share the card: each spends most of a frame on the host (stroke test, header matching, verification,
#: file writing), so on an H100 with 16 cores 4 workers read 1024x768 frames 3.0x as fast as one; 8 workers 2.3x,
#: their processes taking turns on the GPU and on about 11 effective cores (BENCHMARKS.md, CUDA).
_GPU_WORKERS = 4


def find_inputs(input_path: str | Path, exclude: list[Path] | None = None) -> tuple[list[Path], list[Path]]:
    """Candidate DICOM files under ``input_path`` (recursively) and the files skipped as not DICOM.

    Args:
        input_path: a file or a folder.
        exclude: folders or files never to read (the output folder, the audit file, the quarantine).

    Returns:
        ``(candidates, skipped)``, both sorted. Candidates are DICOM by content, or files whose name claims DICOM.
        Skipped are the other files, and entries that are not files at all (broken links, pipes), never opened.
    """
    input_path = Path(input_path)
    if input_path.is_file():
        return [input_path], []
    excluded = [p.resolve() for p in exclude or []]
    candidates, skipped = [], []
    for path in sorted(p for p in input_path.rglob("*") if not p.is_dir()):
        resolved = path.resolve()
        if any(resolved == e or e in resolved.parents for e in excluded):
            continue
        if path.is_file() and (path.suffix.lower() in _DICOM_SUFFIXES or is_dicom_file(path)):
            candidates.append(path)
        else:
            skipped.append(path)
    return candidates, skipped


def skipped_record(path: Path) -> AuditRecord:
    """The audit record of an input :func:`find_inputs` skipped."""
    if path.is_file():
        return AuditRecord(str(path), None, Status.SKIPPED, reason="not DICOM by content", code="not_dicom")
    reason = "not a regular file (a broken link or a pipe)"
    return AuditRecord(str(path), None, Status.SKIPPED, reason=reason, code="not_a_file")


def _deid_error(exc: BaseException) -> DeidError | None:
    """The typed error behind ``exc``: MONAI's Compose wraps transform errors in RuntimeError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DeidError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _quarantine(source: Path, quarantine_dir: Path) -> str:
    """Copy an input that was not written into the quarantine folder, under a name that carries no PHI."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    target = quarantine_dir / f"{hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:24]}.dcm"
    shutil.copyfile(source, target)
    return str(target)


def process_file(
    path: Path, pipeline: Callable[[dict], dict], quarantine_dir: Path | None = None, key: str = "image"
) -> AuditRecord:
    """Run ``pipeline`` on one file and describe the outcome; never raises for a bad file."""
    try:
        data = pipeline({key: str(path)})
    except Exception as exc:  # one bad file never stops the batch
        error = _deid_error(exc)
        if error is None:
            # Unknown errors may quote header values: record only the type, never the message.
            status, code, reason = Status.FAILED, "internal_error", f"unexpected {type(exc).__name__} in the pipeline"
        else:
            status = Status.QUARANTINED if isinstance(error, _QUARANTINE_ERRORS) else Status.FAILED
            code, reason = error.code, error.reason
        record = AuditRecord(source=str(path), output=None, status=status, reason=reason, code=code)
        if quarantine_dir is not None:
            record.details["quarantined_copy"] = _quarantine(path, quarantine_dir)
        return record
    details = {"source_sha256": file_digest(path), **_details(data, key)}
    return AuditRecord(source=str(path), output=str(data[f"{key}_output"]), status=Status.OK, details=details)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes: tells a later run whether an input changed since it was de-identified."""
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def done_earlier(previous: list[AuditRecord], config_id: str) -> dict[str, AuditRecord]:
    """The ``ok`` records of earlier runs with the same settings, by source path."""
    return {
        r.source: r
        for r in previous
        if r.status == Status.OK and r.details.get("config_id") == config_id and "source_sha256" in r.details
    }


def _still_done(path: Path, record: AuditRecord | None) -> bool:
    """Whether an earlier run's output for ``path`` still stands: same input bytes, output still there."""
    return (
        record is not None
        and record.output is not None
        and Path(record.output).is_file()
        and record.details["source_sha256"] == file_digest(path)
    )


def _details(data: dict, key: str) -> dict[str, Any]:
    """PHI-free facts for the audit: the pixel facts from ``.meta`` and the text regions without their text."""
    image = data.get(key)
    meta = dict(getattr(image, "meta", {}) or {})
    details: dict[str, Any] = {
        name: meta[name]
        for name in ("modality", "frames", "transfer_syntax", "text_scanned", "pixels_redacted", "deid_verified")
        if name in meta
    }
    regions = data.get(f"{key}_text")
    if regions is not None:
        details["text_regions"] = [region.audit_record() for region in regions]
    return details


@dataclass
class RunSummary:
    """Counts of a batch run, by audit status, and of the written inputs whose instance another input wrote too."""

    counts: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    repeated: int = 0
    _writers: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def add(self, record: AuditRecord) -> None:
        """Count ``record``; an ``ok`` record whose output an earlier record of this run wrote is marked
        ``details["repeats_instance"]``: two inputs held one SOP instance (the same image in two transfer syntaxes,
        a study exported twice), whose output path is one, so the output holds one of them: the one that comes last
        in the run's order (see :meth:`inputs_to_write_again`)."""
        self.counts[record.status] += 1
        if record.status == Status.OK and record.output is not None:
            if record.output in self._writers:
                self.repeated += 1
                record.details["repeats_instance"] = True
            self._writers.setdefault(record.output, []).append(record.source)

    def inputs_to_write_again(self, order: Sequence[Path]) -> list[Path]:
        """Of the inputs written to one output, the one last in ``order`` where another finished after it: written
        again, it leaves the file one worker processing ``order`` in turn would have left, whatever the timing."""
        position = {str(path): index for index, path in enumerate(order)}
        late = []
        for sources in self._writers.values():
            last = max(sources, key=position.__getitem__)
            if sources[-1] != last:
                late.append(Path(last))
        return late

    @property
    def processed(self) -> int:
        return sum(n for status, n in self.counts.items() if status != Status.SKIPPED)

    @property
    def not_written(self) -> int:
        return self.counts[Status.FAILED] + self.counts[Status.QUARANTINED]

    def table(self) -> str:
        """The end-of-run summary, as printed on the terminal: each count with what it means."""
        rate = self.processed / self.seconds if self.seconds > 0 else 0.0
        rows = [
            ("processed", self.processed, ""),
            ("written", self.counts[Status.OK], "de-identified and verified"),
            ("repeated", self.repeated, "written, of an instance another input held too: one file each"),
            ("failed", self.counts[Status.FAILED], "could not be read or processed"),
            ("quarantined", self.counts[Status.QUARANTINED], "read, but not proven clean: withheld"),
            ("skipped", self.counts[Status.SKIPPED], "not DICOM, or done in an earlier run"),
        ]
        lines = [
            f"  {name:<12}{count:>8}   {meaning}".rstrip()
            for name, count, meaning in rows
            if count or name != "repeated"
        ]
        lines.append(f"  {'seconds':<12}{self.seconds:>8.1f}   ({rate:.2f} files/s)")
        return "\n".join(lines)


_worker_pipeline: Callable[[dict], dict] | None = None
#: Why this worker could not build its pipeline (an exception's type name), or ``None``.
_worker_failure: str | None = None


def _init_worker(factory: Callable[..., Callable[[dict], dict]], kwargs: dict[str, Any], threads: int) -> None:
    global _worker_pipeline, _worker_failure
    # workers share the cores: each takes its share instead of every worker spawning one thread per core, in the
    # networks (torch) and in the stroke test (OpenCV) alike
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    try:
        _worker_pipeline = factory(**kwargs)
    except Exception as exc:  # raised here, the pool would start a new worker, forever; each file fails instead
        _worker_failure = type(exc).__name__


def _work(args: tuple[Path, Path | None]) -> AuditRecord:
    if _worker_pipeline is None:
        reason = f"the worker could not build the pipeline ({_worker_failure})"
        return AuditRecord(str(args[0]), None, Status.FAILED, reason=reason, code="internal_error")
    return process_file(args[0], _worker_pipeline, args[1])


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system tells it, as in a container)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def auto_workers(files: int, device: str = "cpu") -> int:
    """The worker count of ``--workers auto``: one per core and at most one per file, within the host's memory (each
    worker holds its own networks, up to about 3 GB); on a GPU at most :data:`_GPU_WORKERS` and within its memory
    (:data:`_GPU_WORKER_MEMORY` each)."""
    pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    memory_limit = max(1, pages * os.sysconf("SC_PAGE_SIZE") // _WORKER_MEMORY) if pages > 0 else files
    workers = min(available_cores(), files, memory_limit)
    if str(device).startswith("cuda"):
        workers = min(workers, _GPU_WORKERS, _gpu_memory(device) // _GPU_WORKER_MEMORY)
    return max(1, workers)


def _gpu_memory(device: str) -> int:
    """Bytes of memory on the GPU ``device`` (0 where there is none); initialises CUDA in this process, which then
    spawns its workers."""
    if not torch.cuda.is_available():
        return 0
    return torch.cuda.get_device_properties(torch.device(device)).total_memory


def _start_method(kwargs: dict[str, Any], threads: int) -> str:
    """``fork`` where it is safe, ``spawn`` elsewhere.

    A forked worker starts at once with this process's imports (torch and MONAI take about 4 s to import: 98
    ultrasound files with 2 workers took 21.4 s spawned, 17.3 s forked, 21.1 s with one worker, on 2 cores). A
    forked child has none of its parent's threads, so forking is safe only

    - on the CPU (CUDA cannot be forked into),
    - with one thread per worker (see :func:`_threads_held`): a child whose parent has run OpenMP threads hangs in
      its first parallel region with more than one,
    - from a process with no other Python thread: a Ray driver, a progress monitor or a user's thread may hold a
      lock the child would wait for (the command line starts its workers before anything else runs).
    """
    cuda = str(kwargs.get("device", "cpu")).startswith("cuda") or torch.cuda.is_initialized()
    alone = threading.active_count() == 1
    fork = threads == 1 and alone and not cuda and "fork" in multiprocessing.get_all_start_methods()
    return "fork" if fork else "spawn"


@contextmanager
def _pool(
    workers: int, factory: Callable[..., Callable[[dict], dict]], kwargs: dict[str, Any]
) -> Iterator[multiprocessing.pool.Pool | None]:
    """The worker processes, each with its pipeline; ``None`` for one worker (the pipeline runs in this process)."""
    if workers <= 1:
        yield None
        return
    threads = max(1, available_cores() // workers)
    method = _start_method(kwargs, threads)
    context = multiprocessing.get_context(method)
    held = _threads_held(threads) if method == "fork" else nullcontext()
    with held, context.Pool(workers, initializer=_init_worker, initargs=(factory, kwargs, threads)) as pool:
        yield pool


@contextmanager
def _threads_held(threads: int) -> Iterator[None]:
    """This process's torch and OpenCV threads held at ``threads`` while workers are forked from it (the pool forks
    again to replace a worker that died).

    A forked child has none of its parent's threads: OpenCV's ``setNumThreads`` in a child whose parent's pool has
    threads waits for them forever, and so does OpenMP in a parallel region.
    """
    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def _records(
    pool: multiprocessing.pool.Pool | None,
    files: list[Path],
    factory: Callable[..., Callable[[dict], dict]],
    kwargs: dict[str, Any],
    quarantine_dir: Path | None,
) -> Iterator[AuditRecord]:
    if pool is not None:
        yield from pool.imap_unordered(_work, [(path, quarantine_dir) for path in files])
        return
    pipeline = factory(**kwargs)
    for path in files:
        yield process_file(path, pipeline, quarantine_dir)


def run_batch(
    files: list[Path],
    factory: Callable[..., Callable[[dict], dict]],
    kwargs: dict[str, Any],
    audit: AuditLog,
    workers: int = 1,
    quarantine_dir: Path | None = None,
    skipped: list[Path] | None = None,
    progress: bool = True,
    config_id: str = "",
    done: dict[str, AuditRecord] | None = None,
) -> RunSummary:
    """Process ``files`` with the pipeline that ``factory(**kwargs)`` builds, writing one audit record per file.

    Args:
        files: the inputs, from :func:`find_inputs`.
        factory: builds the pipeline (called once per worker process); must be importable for spawned workers.
        kwargs: its keyword arguments (picklable).
        audit: where the records go.
        workers: parallel processes; 1 runs in this process.
        quarantine_dir: where inputs that were not written are copied; ``None`` copies nothing.
        skipped: files found but not DICOM by content; audited as ``skipped``.
        progress: show a progress bar (files/s) on stderr.
        config_id: PHI-free fingerprint of the settings and the secret, recorded with every written file.
        done: earlier ``ok`` records with the same ``config_id`` (see :func:`done_earlier`): their inputs are skipped
            when unchanged and their outputs still exist, so a rerun produces the same outputs without the work.
    """
    summary = RunSummary()
    start = time.perf_counter()
    for path in skipped or []:
        audit.write(skipped_record(path))
        summary.counts[Status.SKIPPED] += 1
    todo = []
    for path in files:
        earlier = (done or {}).get(str(path))
        if _still_done(path, earlier):
            reason = "already de-identified by an earlier run with the same settings"
            audit.write(AuditRecord(str(path), earlier.output, Status.SKIPPED, reason=reason, code="done"))
            summary.counts[Status.SKIPPED] += 1
        else:
            todo.append(path)
    # The workers start before the progress bar's monitor thread: forking a process with threads is unsafe.
    with _pool(workers, factory, kwargs) as pool:
        bar = tqdm(total=len(todo), unit="file", disable=not progress, dynamic_ncols=True)
        for record in _records(pool, todo, factory, kwargs, quarantine_dir):
            if record.status == Status.OK and config_id:
                record.details["config_id"] = config_id
            summary.add(record)
            audit.write(record)
            bar.update(1)
        bar.close()
    write_again(summary.inputs_to_write_again(todo), factory, kwargs)
    summary.seconds = time.perf_counter() - start
    return summary


def write_again(inputs: list[Path], factory: Callable[..., Callable[[dict], dict]], kwargs: dict[str, Any]) -> None:
    """Write ``inputs`` again, in turn, in this process (see :meth:`RunSummary.inputs_to_write_again`); their audit
    records are already written."""
    if not inputs:
        return
    try:
        pipeline = factory(**kwargs)
    except Exception as exc:  # a Ray driver without the workers' GPU: the outputs stay as the workers left them
        message = f"{len(inputs)} repeated instances keep the input that finished last ({type(exc).__name__})"
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return
    for path in inputs:
        process_file(path, pipeline)
