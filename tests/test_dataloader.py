"""LoadDicomWithMetad inside a MONAI Compose and a multi-process DataLoader."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from datafiles import pydicom_test_file
from monai.data import DataLoader, Dataset
from monai.transforms import Compose, DeleteItemsd

from monai_deid.io import LoadDicomWithMetad


def test_compose_in_dataloader_with_two_workers_collates(tmp_path: Path) -> None:
    files = []
    for index in range(4):
        files.append(tmp_path / f"ct{index}.dcm")
        shutil.copy(pydicom_test_file("CT_small.dcm"), files[-1])
    transform = Compose([LoadDicomWithMetad("image"), DeleteItemsd(keys=["image_dicom", "image_encoded"])])
    loader = DataLoader(Dataset([{"image": str(f)} for f in files], transform), batch_size=2, num_workers=2)
    batches = list(loader)
    assert len(batches) == 2
    for batch in batches:
        assert set(batch) == {"image"}
        assert batch["image"].shape == (2, 1, 1, 128, 128) and batch["image"].dtype == torch.int16
        assert batch["image"].meta["modality"] == ["CT", "CT"]
        assert "PatientName" not in batch["image"].meta
