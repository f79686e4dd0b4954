"""Header changes counted by comparing a real header before and after ScrubMetadata."""

from __future__ import annotations

import copy

import pydicom
from datafiles import pydicom_test_file

from monai_deid.header_changes import HEADER_ACTIONS, compare_headers
from monai_deid.profile import ScrubMetadata


def test_counts_follow_the_elements_at_every_depth() -> None:
    before = pydicom.dcmread(pydicom_test_file("CT_small.dcm"), stop_before_pixels=True)
    after = copy.deepcopy(before)
    after.PatientName = "ANON"
    del after.PatientID
    after.PatientIdentityRemoved = "YES"
    counts = compare_headers(before, after)
    assert set(counts) == set(HEADER_ACTIONS)
    assert (counts["replaced"], counts["removed"], counts["added"], counts["cleaned"]) == (1, 1, 1, 0)
    assert counts["kept"] == sum(1 for e in before.iterall() if e.VR != "SQ") - 2


def test_scrubbed_header_changes_are_counted() -> None:
    before = pydicom.dcmread(pydicom_test_file("CT_small.dcm"), stop_before_pixels=True)
    after = ScrubMetadata(secret="header-changes-secret-01")(copy.deepcopy(before))
    counts = compare_headers(before, after)
    assert counts["removed"] > 0 and counts["replaced"] > 0 and counts["added"] > 0
