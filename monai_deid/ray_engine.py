"""The Ray engine: the same pipeline, the same per-file outcomes, spread over a Ray cluster with Ray Data.

The driver lists the inputs (:func:`~monai_deid.runner.find_inputs`), makes a Ray Dataset of their paths and maps it
through a pool of actors. Each actor builds the pipeline once with the same ``factory(**kwargs)`` as the local engine
(so the OCR reader is loaded once per actor, on its GPU when the cluster has GPUs) and runs
:func:`~monai_deid.runner.process_file` on every path: outputs and quarantine copies are written by the workers, on
storage the whole cluster shares, and the audit records come back to the driver, which writes them into one audit file.

A dying worker loses nothing and duplicates nothing: Ray restarts the actor and re-runs its batch, and every write is
idempotent (outputs are written to a temporary name and renamed to a name derived from the content, quarantine copies
are named from the source path), so a retry re-writes the same bytes under the same names. The driver keeps the first
record per source, so the audit holds exactly one record per input. A file that kills its worker on every attempt is
retried alone, then audited as ``failed`` and quarantined, like any other file that cannot be processed.

Ray is an optional dependency (``pip install monai-deid[ray]``): only this module imports it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import ray
import ray.data
import torch
from ray.data import ActorPoolStrategy, DataContext

from monai_deid.audit import AuditLog, AuditRecord, Status
from monai_deid.runner import RunSummary, _quarantine, process_file, skipped_record, write_again

__all__ = ["run_ray"]

logger = logging.getLogger(__name__)

#: What ``io._atomic_write`` leaves behind when its process dies between writing and renaming.
_PARTIAL_WRITE_GLOB = ".tmp-*.dcm"


class _DeidActor:
    """A Ray Data callable class: one pipeline per actor, applied to each batch of paths.

    Args:
        factory: builds the pipeline; must be importable on the workers.
        kwargs: its keyword arguments.
        quarantine_dir: where inputs that were not written are copied; ``None`` copies nothing.
    """

    def __init__(
        self, factory: Callable[..., Callable[[dict], dict]], kwargs: dict[str, Any], quarantine_dir: Path | None
    ) -> None:
        # Ray holds an actor's torch to its CPUs (OMP_NUM_THREADS); OpenCV's stroke test gets the same share.
        cv2.setNumThreads(torch.get_num_threads())
        self.pipeline = factory(**kwargs)
        self.quarantine_dir = quarantine_dir

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        records = [process_file(Path(path), self.pipeline, self.quarantine_dir) for path in batch["path"]]
        # Records travel as JSON: their ``details`` are nested and vary per file, which Arrow columns do not like.
        return {"record": np.array([record.to_json() for record in records], dtype=object)}


def _connect(address: str | None) -> None:
    """Join the cluster at ``address`` (``None``: ``RAY_ADDRESS``, a running local cluster, or a new local one)."""
    if not ray.is_initialized():
        ray.init(address=address)


def _pool(max_actors: int | None, gpus_per_actor: float | None) -> tuple[int, dict[str, float]]:
    """Number of actors and the resources of each: one GPU each when the cluster has GPUs, else one CPU each."""
    resources = ray.cluster_resources()
    if gpus_per_actor is None:
        gpus_per_actor = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
    if gpus_per_actor > 0:
        size, request = int(resources.get("GPU", 0) // gpus_per_actor), {"num_gpus": gpus_per_actor}
    else:
        size, request = int(resources.get("CPU", 1)), {"num_cpus": 1.0}
    return max(1, min(size, max_actors or size)), request


def _run_pass(
    files: list[Path],
    factory: Callable[..., Callable[[dict], dict]],
    kwargs: dict[str, Any],
    quarantine_dir: Path | None,
    files_per_batch: int,
    task_retries: int,
    pool: tuple[int, dict[str, float]],
) -> Iterator[AuditRecord]:
    """Map ``files`` through the actor pool and yield the records as they come back (batches given up are absent)."""
    size, request = pool
    paths = ray.data.from_items(
        [{"path": str(path)} for path in files], override_num_blocks=math.ceil(len(files) / files_per_batch)
    )
    results = paths.map_batches(
        _DeidActor,
        batch_size=files_per_batch,
        # One task in flight per actor: a task queued behind one that kills the actor would die with it.
        compute=ActorPoolStrategy(min_size=1, max_size=size, initial_size=size, max_tasks_in_flight_per_actor=1),
        fn_constructor_kwargs={"factory": factory, "kwargs": kwargs, "quarantine_dir": quarantine_dir},
        max_restarts=-1,  # a dead actor is replaced ...
        max_task_retries=task_retries,  # ... and its batch re-run; outputs are idempotent, so re-runs are harmless
        **request,
    )
    for row in results.iter_rows():
        yield AuditRecord(**json.loads(row["record"]))


def _remove_partial_writes(output_dir: Path) -> None:
    """Delete temporary files of writes whose worker died before the rename; the retry wrote the real file."""
    for partial in output_dir.rglob(_PARTIAL_WRITE_GLOB):
        partial.unlink(missing_ok=True)


def run_ray(
    files: list[Path],
    factory: Callable[..., Callable[[dict], dict]],
    kwargs: dict[str, Any],
    audit: AuditLog,
    quarantine_dir: str | Path | None = None,
    skipped: list[Path] | None = None,
    address: str | None = None,
    output_dir: str | Path | None = None,
    files_per_batch: int = 4,
    max_actors: int | None = None,
    gpus_per_actor: float | None = None,
    task_retries: int = 3,
    progress: bool = True,
    config_id: str = "",
) -> RunSummary:
    """Process ``files`` on a Ray cluster with the pipeline that ``factory(**kwargs)`` builds; one audit record each.

    The outcome per file is the one :func:`~monai_deid.runner.run_batch` gives; the order of the records is not.

    Args:
        files: the inputs, from :func:`~monai_deid.runner.find_inputs`; paths every worker can read.
        factory: builds the pipeline (once per actor); must be importable on every node.
        kwargs: its keyword arguments (picklable; paths in them must be valid on every node).
        audit: where the records go (written by the driver only).
        quarantine_dir: where inputs that were not written are copied; ``None`` copies nothing.
        skipped: files found but not DICOM by content; audited as ``skipped``.
        address: the cluster (``"auto"``, ``"ray://head:10001"``, ...); ``None``: ``RAY_ADDRESS`` or a local one.
            Ignored when this process is already connected.
        output_dir: the pipeline's output folder, cleaned of temporary files left by workers that died mid-write.
        files_per_batch: files per actor task; a batch whose worker dies is re-run as a whole.
        max_actors: at most this many actors; default: one per GPU, or one per CPU on a cluster without GPUs.
        gpus_per_actor: GPUs per actor; default 1 when the cluster has GPUs, else 0 (the actor takes one CPU).
        task_retries: re-runs of a batch whose worker died before the batch is given up and its files are retried
            one per task, each as often again.
        progress: show Ray Data's progress bars.
        config_id: PHI-free fingerprint of the settings and the secret, recorded with every written file (as the
            local engine does, so a later local run with the same settings skips them).
    """
    quarantine_dir = Path(quarantine_dir) if quarantine_dir is not None else None
    _connect(address)
    summary, start = RunSummary(), time.perf_counter()
    for path in skipped or []:
        audit.write(skipped_record(path))
        summary.counts[Status.SKIPPED] += 1
    context = DataContext.get_current()
    saved = context.max_errored_blocks, context.enable_progress_bars
    # A batch that keeps killing its worker is dropped instead of failing the run; its files are retried alone below.
    context.max_errored_blocks, context.enable_progress_bars = -1, progress
    pool, done, missing = _pool(max_actors, gpus_per_actor), set(), list(files)
    try:
        for batch in dict.fromkeys((files_per_batch, 1)):
            if not missing:
                break
            if len(missing) < len(files):
                logger.warning("%d files lost their worker on every attempt: retrying them one per task", len(missing))
            for record in _run_pass(missing, factory, kwargs, quarantine_dir, batch, task_retries, pool):
                if record.source in done:  # belt and braces: the audit keeps one record per input
                    continue
                done.add(record.source)
                if record.status == Status.OK and config_id:
                    record.details["config_id"] = config_id
                summary.add(record)
                audit.write(record)
            missing = [path for path in files if str(path) not in done]
    finally:
        context.max_errored_blocks, context.enable_progress_bars = saved
    for path in missing:
        record = AuditRecord(
            str(path), None, Status.FAILED, reason="its worker process died on every attempt", code="worker_lost"
        )
        if quarantine_dir is not None:
            record.details["quarantined_copy"] = _quarantine(path, quarantine_dir)
        summary.add(record)
        audit.write(record)
    if output_dir is not None:
        _remove_partial_writes(Path(output_dir))
    write_again(summary.inputs_to_write_again(files), factory, kwargs)
    summary.seconds = time.perf_counter() - start
    return summary
