"""The independent IOD validator (dicom3tools' ``dciodvfy``), for tests that prove outputs are valid DICOM."""

from __future__ import annotations

import subprocess
from pathlib import Path


def iod_errors(path: Path | str) -> set[str]:
    """dciodvfy's errors for ``path``, values left out (they hold UIDs that de-identification replaced)."""
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return {line.split("<")[0].strip() for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")}
