"""notebooks/prepare_dataset.ipynb executed top to bottom in a real Jupyter kernel."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "prepare_dataset.ipynb"


#: The parameters cell's work folder, replaced by the test's own so that no run leaves a folder behind in /tmp.
_WORK_DIR_LINE = 'WORK_DIR = Path(tempfile.mkdtemp(prefix="monai-deid-notebook-"))'


def _execute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **parameters: object) -> nbformat.NotebookNode:
    """Run the notebook in ``tmp_path`` with its parameters cell's values replaced (the way papermill injects them)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assert _WORK_DIR_LINE in cell.source
    cell.source = cell.source.replace(_WORK_DIR_LINE, f"WORK_DIR = Path({str(tmp_path)!r})")
    cell.source += "".join(f"\n{k} = {v!r}" for k, v in parameters.items())
    root = str(NOTEBOOK.parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    NotebookClient(notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": root}}).execute()
    return notebook


def _outputs(notebook: nbformat.NotebookNode) -> tuple[str, int]:
    text, images = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text", ""))
            data = output.get("data", {})
            text.append(data.get("text/plain", "") + data.get("text/html", ""))
            images += "image/png" in data
    return "\n".join(text), images


def test_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = _execute(tmp_path, monkeypatch, INCLUDE_ULTRASOUND=False)
    text, images = _outputs(notebook)
    assert images == 4, "a before/after picture per written CT and MR file"
    assert "<table>" in text and "broken_truncated.dcm" in text and "failed" in text
    assert "batch: (4, 1, 64, 64) torch.float32 labels:" in text
    assert (tmp_path / "report" / "review.html").is_file()
    assert len(list((tmp_path / "output").rglob("*.dcm"))) == 4


@pytest.mark.slow
def test_notebook_with_ultrasound_cines_shows_redactions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = _execute(tmp_path, monkeypatch)
    text, images = _outputs(notebook)
    assert images == 6
    assert "header:PatientID" in text
