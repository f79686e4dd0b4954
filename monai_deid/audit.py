"""The audit log: one JSON Lines record per input file, written outside the output folder.

A record links an output to its source path (which may carry names), says whether the file was written, and why not.
It never holds header values or recognised text.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["AuditLog", "AuditRecord", "Status", "default_audit_path", "read_audit"]


class Status:
    """Values of :attr:`AuditRecord.status`."""

    OK = "ok"  # written to the output
    FAILED = "failed"  # could not be read or processed (bad input)
    QUARANTINED = "quarantined"  # read, but could not be proven clean: withheld from the output
    SKIPPED = "skipped"  # not DICOM by content, or already done in an earlier run


@dataclass
class AuditRecord:
    """What happened to one input file.

    Args:
        source: the input path.
        output: the written file, or ``None``.
        status: one of :class:`Status`.
        reason: PHI-free reason for a status other than ``ok``.
        code: machine-readable error code (see :mod:`monai_deid.errors`).
        details: PHI-free facts from the stages (text regions without their text, header changes counted, ...).
    """

    source: str
    output: str | None
    status: str
    reason: str | None = None
    code: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def default_audit_path(output_dir: str | Path) -> Path:
    """``<OUTPUT>.audit.jsonl`` beside the output folder, so the output holds only shareable DICOM."""
    output_dir = Path(output_dir).resolve()
    return output_dir.with_name(output_dir.name + ".audit.jsonl")


def open_private(path: str | Path, mode: str = "a") -> IO[str]:
    """Open the text file ``path`` (UTF-8, no newline translation), created readable and writable by its owner only:
    audits, identifier mappings and secrets hold PHI or keys. An existing file keeps its permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    return path.open(mode, newline="", encoding="utf-8")


class AuditLog:
    """Append-only JSON Lines writer; each record is flushed so a crash loses at most the file in flight.

    Args:
        path: the audit file; its folder is created when missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] = open_private(self.path)

    def write(self, record: AuditRecord) -> None:
        self._file.write(record.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_audit(path: str | Path) -> list[AuditRecord]:
    """All records of an audit file, in the order written."""
    with Path(path).open(encoding="utf-8") as f:
        return [AuditRecord(**json.loads(line)) for line in f if line.strip()]
