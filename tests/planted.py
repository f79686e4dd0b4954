"""The PHI planted in the generated sample set, and a recursive search for it in anything a pipeline produced."""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

import torch
from monai.data import MetaTensor

from monai_deid.samples import SAMPLE_PATIENTS

#: Every identifying field of the sample patients, and the parts of their names, lower case.
PLANTED = sorted(
    {value.lower() for patient in SAMPLE_PATIENTS for value in (*astuple(patient), *patient.name.split("^"))}
)


def string_leaves(value: Any) -> list[str]:
    """Every string leaf: dict keys and values, list items, tensors' meta and applied operations."""
    if isinstance(value, MetaTensor):
        return string_leaves(dict(value.meta)) + string_leaves(value.applied_operations)
    if isinstance(value, torch.Tensor):
        return []
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*string_leaves(k), *string_leaves(v))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in string_leaves(item)]
    return [str(value)]


def planted_in(text: str) -> list[str]:
    """The planted strings found in ``text`` (case-insensitive)."""
    text = text.lower()
    return [planted for planted in PLANTED if planted in text]
