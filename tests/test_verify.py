"""VerifyDeidentified's header re-walk: it catches what a scrub left, and accepts what the options keep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from datafiles import pydicom_data_file, pydicom_test_file

from monai_deid.audit import Status
from monai_deid.errors import VerificationError
from monai_deid.io import LoadDicomWithMetad
from monai_deid.pipeline import build_pipeline
from monai_deid.profile import ScrubMetadata
from monai_deid.regions import TextRegion
from monai_deid.runner import process_file
from monai_deid.samples import render_text
from monai_deid.verify import (
    CapturePHIInventoryd,
    VerifyDeidentified,
    VerifyDeidentifiedd,
    capture_inventory,
    check_output_file,
    header_leaks,
)

SECRET = {"secret": "verify-test-secret"}
NO_NER = {"ner_model": None}


def test_an_unscrubbed_header_fails_verification_with_phi_free_reasons() -> None:
    data = CapturePHIInventoryd()(LoadDicomWithMetad()({"image": str(pydicom_test_file("CT_small.dcm"))}))
    with pytest.raises(VerificationError) as info:
        VerifyDeidentifiedd()(data)  # ScrubMetadatad never ran
    reason = info.value.reason
    assert "header:PatientName" in reason and "header:uid" in reason
    header = data["image_dicom"]
    assert str(header.PatientName) not in reason and header.PatientID not in reason


@pytest.mark.parametrize(
    "name", ["emri_small_RLE.dcm", "emri_small_jpeg_ls_lossless.dcm", "emri_small_jpeg_2k_lossless.dcm"]
)
def test_uids_the_profile_keeps_are_not_leaks(name: str, tmp_path: Path) -> None:
    # enhanced MR carries a Creator-Version UID: a software version, kept by the standard, not an instance UID
    record = process_file(pydicom_data_file(name), build_pipeline(tmp_path, scan_pixels=False, scrub=SECRET))
    assert record.status == Status.OK, record.reason


def test_values_kept_by_a_retain_option_are_not_leaks(tmp_path: Path) -> None:
    scrub = {**SECRET, "retain_institution_identity": True}
    record = process_file(pydicom_test_file("MR_small.dcm"), build_pipeline(tmp_path, scan_pixels=False, scrub=scrub))
    assert record.status == Status.OK, record.reason
    assert pydicom.dcmread(record.output).InstitutionName == "TOSHIBA"  # kept, and not reported as a leak


@pytest.mark.parametrize(
    "source",
    [
        pydicom_data_file("eCT_Supplemental.dcm"),  # Perfusion^MCA Stroke, image type DERIVED\PRIMARY\PERFUSION
        pydicom_test_file("ExplVR_BigEnd.dcm"),  # a patient named "Anonymized", as the scrubber's dummy values read
    ],
    ids=lambda p: p.name,
)
def test_real_files_whose_names_are_terms_or_placeholders_pass_verification(source: Path, tmp_path: Path) -> None:
    record = process_file(source, build_pipeline(tmp_path, scan_pixels=False, scrub=SECRET))
    assert record.status == Status.OK, record.reason


def test_a_name_component_is_a_leak_outside_code_strings(tmp_path: Path) -> None:
    header = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
    header.PatientName = "Perfusion^Ada"
    inventory = capture_inventory(header)
    scrubbed = ScrubMetadata(**SECRET)(header)
    scrubbed.ImageType = ["DERIVED", "PRIMARY", "PERFUSION"]
    assert header_leaks(scrubbed, inventory) == []
    scrubbed.Manufacturer = "Perfusion Labs"  # a kept long string: the surname shows
    assert header_leaks(scrubbed, inventory) == ["header:PatientName"]
    scrubbed.Manufacturer = "ACME"
    del scrubbed.ImageType
    with pydicom.config.disable_value_validation():  # not a valid code string: only to show where names are found
        scrubbed.ImageType = ["DERIVED", "PERFUSION^ADA"]  # the whole name is looked for everywhere
    assert header_leaks(scrubbed, inventory) == ["header:PatientName"]


@pytest.mark.parametrize("left", ["Nuñez Garcia", "NUNEZGARCIA", "GarciaNuñez"])
def test_a_name_is_found_without_its_accents_and_written_together(left: str) -> None:
    header = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
    header.PatientName = "NÚÑEZ^GARCÍA"
    inventory = capture_inventory(header)
    scrubbed = ScrubMetadata(**SECRET)(header)
    assert header_leaks(scrubbed, inventory) == []
    scrubbed.Manufacturer = left
    assert header_leaks(scrubbed, inventory) == ["header:PatientName"]


@pytest.fixture(scope="module")
def real_ultrasound_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pydicom-data's US1 (RGB ultrasound with a burned-in header), de-identified by the file pipeline."""
    folder = tmp_path_factory.mktemp("us1")
    record = process_file(pydicom_data_file("US1_UNCR.dcm"), build_pipeline(folder, scrub=SECRET, classify=NO_NER))
    assert record.status == Status.OK, record.reason
    return Path(record.output)


def test_a_de_identified_real_ultrasound_passes_the_check_without_its_original(real_ultrasound_output: Path) -> None:
    # The label 78DR78 reads "?8DR?8 ." at confidence 0.41 on its own line: text the policy cannot explain. The
    # check reads such text again with the detector, as the run does, and finds the label.
    assert check_output_file(real_ultrasound_output) == []


def test_unexplained_text_in_an_output_is_still_reported(real_ultrasound_output: Path, tmp_path: Path) -> None:
    ds = pydicom.dcmread(real_ultrasound_output)
    frame = render_text(np.ascontiguousarray(ds.pixel_array), [(200, 300, "ZORBLAX QUENTIN")], size=16)
    ds.PixelData = frame.tobytes()
    ds.save_as(tmp_path / "with_text.dcm")
    assert "pixels:policy:doubt" in check_output_file(tmp_path / "with_text.dcm")


def test_the_bands_are_read_again_where_redaction_touched_them_or_on_request() -> None:
    header = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
    header.PatientName = "Quist^Ada"
    inventory = capture_inventory(header)
    frame = render_text(np.zeros((256, 320), np.uint8), [(6, 4, "QUIST, ADA")], size=15)
    image = torch.from_numpy(frame.copy())[None, None]
    # Detection read nothing (a miss): on pixels redaction left alone, only a request reads the bands again.
    assert VerifyDeidentified(bands="redacted").pixel_leaks(image, header, [], inventory) == []
    assert VerifyDeidentified(bands="all").pixel_leaks(image, header, [], inventory) == ["pixels:header:PatientName"]
    # A box redacted next to the band (the name's box cut short): the band is read again and the name found.
    short = TextRegion((0,), (6, 30, 60, 44), "", 0.9, is_phi=True, reason="pattern:date")
    assert "pixels:header:PatientName" in VerifyDeidentified().pixel_leaks(image, header, [short], inventory)


@pytest.mark.parametrize("detector", ["lines", "craft"])
def test_both_bands_read_together_report_what_each_holds(detector: str) -> None:
    # The top and bottom bands of a frame are read in one pass, each band with a stroke test of its own: a name left
    # in the top band and an ID in the bottom band are both found.
    header = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
    header.PatientName, header.PatientID = "Quist^Ada", "55092214"
    inventory = capture_inventory(header)
    frame = render_text(np.zeros((256, 320), np.uint8), [(6, 4, "QUIST, ADA"), (6, 234, "ID 55092214")], size=15)
    image = torch.from_numpy(frame.copy())[None, None]
    near_both = [
        TextRegion((0,), (200, 4, 260, 20), "", 0.9, is_phi=True, reason="pattern:date"),
        TextRegion((0,), (200, 234, 260, 250), "", 0.9, is_phi=True, reason="pattern:date"),
    ]
    leaks = VerifyDeidentified(detector=detector).pixel_leaks(image, header, near_both, inventory)
    assert leaks == ["pixels:header:PatientID", "pixels:header:PatientName"]


def test_the_bands_are_read_in_the_view_of_text_the_window_hides() -> None:
    # A name on a real CT's padding at -778 HU, below its 40/100 window, as RedactPixels would leave it if detection
    # had missed it: black on black in the windowed view, read in the view of what the window hides.
    header = pydicom.dcmread(pydicom_data_file("693_UNCR.dcm"))
    header.PatientName = "Quist^Ada"
    inventory = capture_inventory(header)
    pixels = header.pixel_array
    ink = render_text(np.zeros(pixels.shape, np.uint8), [(8, 8, "QUIST ADA")], size=14) > 127
    hidden = round((-778 - float(header.RescaleIntercept)) / float(header.RescaleSlope))
    image = torch.from_numpy(np.where(ink, hidden, pixels).astype(pixels.dtype))[None, None]
    leaks = VerifyDeidentified(bands="all").pixel_leaks(image, header, [], inventory)
    assert leaks == ["pixels:header:PatientName"]


def _cine_with_a_moving_band(name_on: int | None) -> torch.Tensor:
    """Five frames whose top band changes on every frame (a bright mark moves across it, as an ultrasound sector's
    apex does), and the name ``QUIST, ADA`` on frame ``name_on`` only."""
    frames = []
    for index in range(5):
        frame = np.zeros((256, 320), np.uint8)
        frame[12:24, 150 + 12 * index : 160 + 12 * index] = 255
        if index == name_on:
            frame = render_text(frame, [(6, 4, "QUIST, ADA")], size=15).copy()
        frames.append(frame)
    return torch.from_numpy(np.stack(frames))[None]


@pytest.mark.parametrize("detector", ["lines", "craft"])
@pytest.mark.parametrize("name_on", [3, None])
def test_the_bands_of_a_cine_are_read_on_every_frame_where_they_changed(name_on: int | None, detector: str) -> None:
    header = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
    header.PatientName = "Quist^Ada"
    inventory = capture_inventory(header)
    box_on_every_frame = TextRegion((), (250, 4, 300, 20), "", 0.9, is_phi=True, reason="pattern:date")

    verifier = VerifyDeidentified(detector=detector)
    leaks = verifier.pixel_leaks(_cine_with_a_moving_band(name_on), header, [box_on_every_frame], inventory)

    assert leaks == ([] if name_on is None else ["pixels:header:PatientName"])
