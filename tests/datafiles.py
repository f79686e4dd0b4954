"""Paths of the real DICOM files the tests use: pydicom's bundled test files and the `pydicom-data` package.

Never call ``pydicom.data.get_testdata_file(s)`` in tests: for files it does not hold it tries to download them.
"""

from __future__ import annotations

from pathlib import Path

import data_store
import pydicom.data

PYDICOM_TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
PYDICOM_DATA_FILES = Path(data_store.__file__).parent / "data"


def pydicom_data_file(name: str) -> Path:
    """Path of a file shipped by the PyPI package ``pydicom-data`` (e.g. ``"US1_UNCR.dcm"``)."""
    path = PYDICOM_DATA_FILES / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is not in pydicom-data at {PYDICOM_DATA_FILES}")
    return path


def pydicom_test_file(name: str) -> Path:
    """Path of a file bundled with pydicom itself (e.g. ``"CT_small.dcm"``)."""
    path = PYDICOM_TEST_FILES / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is not bundled with pydicom at {PYDICOM_TEST_FILES}")
    return path


def all_real_files() -> list[Path]:
    """Every ``.dcm`` file of both collections, sorted."""
    return sorted(PYDICOM_TEST_FILES.rglob("*.dcm")) + sorted(PYDICOM_DATA_FILES.glob("*.dcm"))
