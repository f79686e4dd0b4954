"""Entry points for the MONAI Bundle in ``configs/``: de-identify a folder, train for some epochs.

Bundle configs build the transforms with ``_target_`` and hand them here, so the bundle runs the same batch runner
and audit as the command line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from monai_deid.audit import AuditLog, default_audit_path, read_audit
from monai_deid.pipeline import check_device
from monai_deid.report import check_report_dir, write_review_report
from monai_deid.runner import find_inputs, run_batch

__all__ = ["deidentify_folder", "train_epochs"]

logger = logging.getLogger(__name__)


def deidentify_folder(
    input_dir: str | Path,
    output_dir: str | Path,
    pipeline: Callable[[dict], dict],
    audit_path: str | Path | None = None,
    quarantine_dir: str | Path | None = None,
    report_dir: str | Path | None = None,
    progress: bool = False,
    device: str | None = None,
    fail_on_errors: bool = False,
) -> dict[str, int]:
    """Run ``pipeline`` (ending with SaveDicomd into ``output_dir``) on every DICOM file under ``input_dir``.

    Args:
        input_dir: a folder (searched recursively) or one file.
        output_dir: the pipeline's output folder: never read as input, and the audit and report stay out of it.
        pipeline: the file-to-file Compose, as the bundle config builds it.
        audit_path: the audit log; default ``<output_dir>.audit.jsonl`` beside the output folder.
        quarantine_dir: where inputs that were not written are copied; ``None`` copies nothing.
        report_dir: where to write the review page (outside ``output_dir``); ``None`` writes none.
        progress: show a progress bar.
        device: the pipeline's device, checked against this machine before any file is read; ``None``: unchecked.
        fail_on_errors: raise once the batch is done when any file was not written, as the command line exits 1
            (the bundle's ``run`` sets it, so a script sees the failure).

    Returns:
        the run's counts by audit status (``ok``, ``failed``, ``quarantined``, ``skipped``).

    Raises:
        ValueError: ``device`` is not one this machine has.
        RuntimeError: with ``fail_on_errors``, a file was not written; the audit says which and why.
    """
    if device is not None:
        check_device(device)
    output_dir = Path(output_dir)
    audit_path = Path(audit_path) if audit_path else default_audit_path(output_dir)
    if report_dir is not None:
        check_report_dir(report_dir, output_dir)
    quarantine = Path(quarantine_dir) if quarantine_dir else None
    exclude = [output_dir, audit_path] + ([quarantine] if quarantine else [])
    files, skipped = find_inputs(input_dir, exclude=exclude)
    with AuditLog(audit_path) as audit:
        first = len(read_audit(audit_path)) if audit_path.stat().st_size else 0
        summary = run_batch(files, lambda: pipeline, {}, audit, 1, quarantine, skipped, progress)
    if report_dir is not None:
        write_review_report(read_audit(audit_path)[first:], report_dir, output_dir)
    counts = dict(summary.counts)
    outcome = ", ".join(f"{n} {status}" for status, n in counts.items())
    if summary.not_written:
        message = f"{summary.not_written} inputs were not written; the audit {audit_path} says why"
        logger.warning("%s (%s)", message, outcome)
        if fail_on_errors:
            raise RuntimeError(message)
    else:
        logger.info("every input was written or skipped (%s); audit: %s", outcome, audit_path)
    return counts


def train_epochs(
    network: torch.nn.Module,
    loader: Iterable[dict[str, Any]],
    optimizer: torch.optim.Optimizer,
    loss_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    epochs: int = 1,
    image_key: str = "image",
    label_key: str = "label",
    device: str | torch.device = "cpu",
    checkpoint: str | Path | None = None,
) -> list[float]:
    """A plain supervised loop over ``loader`` (no ignite needed); returns the mean loss of each epoch.

    Args:
        network: the model, moved to ``device``.
        loader: yields batches with ``image_key`` and ``label_key``.
        optimizer: the optimiser of ``network``'s parameters.
        loss_function: ``loss(prediction, label)``.
        epochs: passes over ``loader``.
        image_key: the batch key of the input.
        label_key: the batch key of the target.
        device: where to train.
        checkpoint: where to save ``{"network": state_dict, "epoch_losses": [...]}``; ``None`` saves nothing.
    """
    network.to(device).train()
    losses = []
    for _ in range(epochs):
        total, steps = 0.0, 0
        for batch in loader:
            optimizer.zero_grad()
            loss = loss_function(network(batch[image_key].to(device)), batch[label_key].to(device))
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
        losses.append(total / max(steps, 1))
        logger.info("epoch %d: mean loss %.4f over %d batches", len(losses), losses[-1], steps)
    if checkpoint is not None:
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"network": network.state_dict(), "epoch_losses": losses}, checkpoint)
    return losses
