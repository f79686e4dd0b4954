"""The training Compose (every de-identification stage, then DropIdentifyingd) in a DataLoader and a CacheDataset:
batches collate and hold none of the planted PHI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from monai.data import CacheDataset, DataLoader, Dataset, MetaTensor
from monai.transforms import CastToTyped
from planted import planted_in, string_leaves

from monai_deid.samples import write_sample_set
from monai_deid.training import PHI_FREE_META, DropIdentifyingd, build_training_transforms


def _assert_no_phi(batch: dict) -> None:
    leaves = " ".join(string_leaves(batch))
    assert leaves, "the batch has no string leaves to search"
    assert not planted_in(leaves), "planted PHI reached the batch"


@pytest.fixture(scope="module")
def image_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The CT and MR slices of both sample patients: 4 files of 256x256 that collate into one batch."""
    files = write_sample_set(tmp_path_factory.mktemp("samples"))
    return [f for f in files if f.name.endswith(("_ct.dcm", "_mr_rle.dcm"))]


def _transforms() -> Any:
    return build_training_transforms("image", extra=[CastToTyped("image", dtype=torch.float32)])


def test_dataloader_two_workers_batches_hold_no_phi(image_files: list[Path]) -> None:
    dataset = Dataset([{"image": str(f), "label": index % 2} for index, f in enumerate(image_files)], _transforms())
    batches = list(DataLoader(dataset, batch_size=4, num_workers=2))
    assert len(batches) == 1
    batch = batches[0]
    assert set(batch) == {"image", "label"}
    assert batch["image"].shape == (4, 1, 1, 256, 256) and batch["image"].dtype == torch.float32
    assert set(batch["image"].meta) <= PHI_FREE_META
    assert sorted(batch["image"].meta["modality"]) == ["CT", "CT", "MR", "MR"]
    assert all(batch["image"].meta["text_scanned"]) and all(batch["image"].meta["deid_verified"])
    _assert_no_phi(batch)


def test_cache_dataset_items_and_batches_hold_no_phi(image_files: list[Path]) -> None:
    data = [{"image": str(f)} for f in image_files]
    dataset = CacheDataset(data, _transforms(), num_workers=1, progress=False)
    for item in dataset._cache:  # what the cache keeps in memory for every epoch
        assert set(item) == {"image"}
        _assert_no_phi(item)
    batches = list(DataLoader(dataset, batch_size=4, num_workers=0))
    assert len(batches) == 1
    _assert_no_phi(batches[0])


def test_drop_identifying_prunes_meta_and_side_keys() -> None:
    image = MetaTensor(torch.zeros(1, 1, 4, 4), meta={"modality": "CT", "PatientName": "DOE^JANE", "pixel_digest": "0"})
    data = {"image": image, "image_dicom": object(), "image_text": [], "image_encoded": b"", "image_output": "x"}
    data["image_phi"] = object()
    out = DropIdentifyingd("image", allowed_meta=["pixel_digest"])(data)
    assert set(out) == {"image"}
    assert "PatientName" not in out["image"].meta
    assert out["image"].meta["modality"] == "CT" and out["image"].meta["pixel_digest"] == "0"


def test_the_readme_training_example_runs_as_written(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## In a training pipeline") :]
    start = section.index("```python\n") + len("```python\n")
    example = section[start : section.index("\n```", start)]
    check = '\nprint(sorted(batch), tuple(batch["image"].shape), batch["image"].dtype)\n'
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", example + check], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "['image'] (4, 1, 64, 64) torch.float32"
    _assert_no_phi({"out": result.stdout})
