"""Original -> new identifiers and UIDs, written as CSV ``id_old,id_new`` for authorised re-linking.

The file holds PHI by design: write it outside the output folder and keep it with the secret.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path

from monai_deid.audit import open_private

__all__ = ["IdentifierMapping"]


class IdentifierMapping:
    """Thread-safe record of every replacement made while scrubbing (UIDs, patient IDs, patient names).

    Records stay in the process that scrubbed: with DataLoader or batch workers, write one mapping per worker (the
    replacements are keyed by the secret, so every worker agrees) or scrub in the main process.
    """

    def __init__(self) -> None:
        self._pairs: dict[str, str] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"pairs": self.items()}

    def __setstate__(self, state: dict) -> None:
        self._pairs = dict(state["pairs"])
        self._lock = threading.Lock()

    def record(self, old: str, new: str) -> None:
        """Remember that ``old`` became ``new`` (the same old value always maps to the same new one)."""
        with self._lock:
            self._pairs.setdefault(old, new)

    def __len__(self) -> int:
        return len(self._pairs)

    def items(self) -> list[tuple[str, str]]:
        """The recorded pairs, sorted by original value."""
        with self._lock:
            return sorted(self._pairs.items())

    def drain(self) -> list[tuple[str, str]]:
        """Return the recorded pairs, sorted, and forget them (for writing them out file by file)."""
        with self._lock:
            pairs, self._pairs = sorted(self._pairs.items()), {}
        return pairs

    def write_csv(self, path: str | Path) -> Path:
        """Write the pairs as CSV with header ``id_old,id_new`` (overwrites ``path``); returns the path."""
        path = Path(path)
        with open_private(path, "w") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id_old", "id_new"])
            writer.writerows(self.items())
        return path
