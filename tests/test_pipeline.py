"""The whole file pipeline (load, detect, classify, redact, scrub, verify, save) on generated ultrasound with PHI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from datafiles import pydicom_data_file
from pydicom.uid import UltrasoundImageStorage

from monai_deid.audit import Status
from monai_deid.io import LoadDicomWithMeta
from monai_deid.ocr import DetectBurnedInText, DetectBurnedInTextd
from monai_deid.ocr.boxes import boxes_overlap, grown, union_cover
from monai_deid.phi import ClassifyPHI
from monai_deid.pipeline import build_deid_transforms, build_pipeline
from monai_deid.runner import process_file
from monai_deid.samples import SAMPLE_PATIENTS, make_dataset, render_text, write_sample_set
from monai_deid.verify import VerifyDeidentifiedd

PATIENT = SAMPLE_PATIENTS[0]
SECRET = {"secret": "pipeline-test-secret"}
NO_NER = {"ner_model": None}


@pytest.fixture(scope="module")
def ultrasound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A single-frame ultrasound capture: PHI in the header band, clinical labels at the bottom."""
    rng = np.random.default_rng(3)
    frame = np.zeros((240, 320), np.uint8)
    frame[60:200, 60:260] = rng.integers(30, 90, (140, 200))
    frame = render_text(
        frame,
        [(6, 4, PATIENT.name.replace("^", ", ")), (180, 4, f"ID: {PATIENT.patient_id}"), (6, 214, "C5-1  Abd")],
        size=15,
    )
    rgb = np.repeat(frame[None, ..., None], 3, axis=3)
    ds = make_dataset(PATIENT, UltrasoundImageStorage, rgb, "RGB", 5, 1)
    ds.Modality = "US"
    path = tmp_path_factory.mktemp("us") / f"{PATIENT.patient_id}.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


@pytest.fixture(scope="module")
def colour_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ultrasound capture whose header band shows the patient's name and ID in green on a grey as bright as the
    green (11 grey levels apart): a viewer shows them plainly, the luminance alone does not."""
    rng = np.random.default_rng(4)
    frame = np.zeros((240, 320), np.uint8)
    frame[60:200, 60:260] = rng.integers(30, 90, (140, 200))
    ink = render_text(
        np.zeros_like(frame), [(6, 4, PATIENT.name.replace("^", ", ")), (180, 4, f"ID: {PATIENT.patient_id}")], size=15
    )
    alpha = (ink / 255.0)[..., None]
    band = np.zeros((240, 320, 3))
    band[:28] = (128, 128, 128)
    rgb = np.repeat(frame[..., None], 3, axis=2) * (band.sum(axis=2, keepdims=True) == 0) + band
    rgb = np.clip(rgb * (1 - alpha) + np.array([0, 200, 0]) * alpha + 0.5, 0, 255).astype(np.uint8)
    ds = make_dataset(PATIENT, UltrasoundImageStorage, rgb[None], "RGB", 6, 1)
    ds.Modality = "US"
    path = tmp_path_factory.mktemp("colour") / f"{PATIENT.patient_id}.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


@pytest.fixture(scope="module")
def letter_spaced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """An ultrasound capture whose name and ID are letter-spaced ("D    O    E"): each letter stands farther from
    the next than the stroke test joins characters. Returns the file and where the text's ink is."""
    rng = np.random.default_rng(7)
    frame = np.zeros((240, 320), np.uint8)
    frame[60:200, 60:260] = rng.integers(30, 90, (140, 200))
    family, given = PATIENT.name.split("^")
    spaced = "    ".join
    lines = [(6, 4, f"{spaced(family)}        {spaced(given)}"), (6, 26, spaced(PATIENT.patient_id))]
    ink = render_text(np.zeros_like(frame), lines, size=15) > 0
    rgb = np.repeat(np.where(ink, 255, frame).astype(np.uint8)[None, ..., None], 3, axis=3)
    ds = make_dataset(PATIENT, UltrasoundImageStorage, rgb, "RGB", 7, 1)
    ds.Modality = "US"
    path = tmp_path_factory.mktemp("spaced") / f"{PATIENT.patient_id}.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path, ink


def _planted(text: str) -> bool:
    upper = text.upper()
    return any(s in upper for s in ("DOE", "JANE", PATIENT.patient_id, "4471920"))


def test_pipeline_redacts_burned_in_phi_keeps_labels_and_scrubs_header(ultrasound: Path, tmp_path: Path) -> None:
    pipeline = build_pipeline(tmp_path / "out", scrub=SECRET, classify=NO_NER)
    record = process_file(ultrasound, pipeline)
    assert record.status == Status.OK, record.reason
    assert record.details["deid_verified"] and record.details["pixels_redacted"]
    assert any(r["is_phi"] for r in record.details["text_regions"])
    assert any(r["is_phi"] is False for r in record.details["text_regions"])  # the probe label stays
    output = pydicom.dcmread(record.output)
    assert output.PatientIdentityRemoved == "YES" and output.BurnedInAnnotation == "NO"
    header_text = " ".join(str(e.value) for e in output.iterall() if e.VR in ("PN", "LO", "SH", "LT", "ST", "DA"))
    assert not _planted(header_text) and PATIENT.study_date not in header_text
    # an independent re-read of the written pixels finds no planted PHI, and the clinical label still reads
    image = np.moveaxis(output.pixel_array, -1, 0)[:, None]
    readings = [r.text for r in DetectBurnedInText()(image, output)]
    assert not any(_planted(text) for text in readings)
    assert any("C5" in text for text in readings)


def test_text_the_classifier_was_told_to_keep_is_caught_and_quarantined(ultrasound: Path, tmp_path: Path) -> None:
    pipeline = build_pipeline(tmp_path / "out", scrub=SECRET, classify={**NO_NER, "policy": "none"})
    record = process_file(ultrasound, pipeline, quarantine_dir=tmp_path / "quarantine")
    assert record.status == Status.QUARANTINED and record.code == "verification_failed"
    assert "pixels:header:PatientName" in record.reason or "pixels:header:PatientID" in record.reason
    assert not _planted(record.reason)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.dcm"))
    assert len(list((tmp_path / "quarantine").iterdir())) == 1


def test_phi_shown_by_its_colour_alone_is_redacted_and_checked_by_the_verifier(
    colour_only: Path, tmp_path: Path
) -> None:
    pipeline = build_pipeline(tmp_path / "out", scrub=SECRET, classify=NO_NER)
    record = process_file(colour_only, pipeline)
    assert record.status == Status.OK, record.reason
    output = pydicom.dcmread(record.output)
    image = np.moveaxis(output.pixel_array, -1, 0)[:, None]
    assert not any(_planted(r.text) for r in DetectBurnedInText()(image, output))
    green = output.pixel_array[:28].astype(int)
    assert (green[..., 1] - green[..., 0] > 40).sum() == 0, "no green ink left in the header band"
    # Kept by the classifier, the same text is read again by the verifier, which quarantines the file.
    keep_all = build_pipeline(tmp_path / "kept", scrub=SECRET, classify={**NO_NER, "policy": "none"})
    record = process_file(colour_only, keep_all, quarantine_dir=tmp_path / "quarantine")
    assert record.status == Status.QUARANTINED and record.code == "verification_failed"
    assert "pixels:header:PatientName" in record.reason or "pixels:header:PatientID" in record.reason


def test_kept_phi_away_from_the_header_bands_is_caught_by_the_verifier(tmp_path: Path) -> None:
    # The name sits mid-image, far from the bands the verifier reads again: detection's own reading of it is what
    # the verifier checks when the classifier was told to keep all text.
    rng = np.random.default_rng(9)
    frame = np.zeros((240, 320), np.uint8)
    frame[60:200, 150:310] = rng.integers(30, 90, (140, 160))
    frame = render_text(frame, [(4, 110, PATIENT.name.replace("^", ", "))], size=15)
    ds = make_dataset(PATIENT, UltrasoundImageStorage, np.repeat(frame[None, ..., None], 3, axis=3), "RGB", 9, 1)
    ds.Modality = "US"
    path = tmp_path / "mid.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    pipeline = build_pipeline(tmp_path / "out", scrub=SECRET, classify={**NO_NER, "policy": "none"})
    record = process_file(path, pipeline, quarantine_dir=tmp_path / "quarantine")
    assert record.status == Status.QUARANTINED and "pixels:header:PatientName" in record.reason


@pytest.mark.parametrize("origin", [(8, 8), (20, 20)], ids=["on_the_padding", "onto_the_air"])
def test_phi_the_window_hides_is_redacted(origin: tuple[int, int], tmp_path: Path) -> None:
    # The name and birth date at -778 HU on a real CT's padding (-2000), both below its 40/100 window: black on black
    # in the view of the header's window, plain in a lung window. From (20, 20) the line runs on from the padding onto
    # the air of the field of view, where the detector confirms only part of it.
    ds = pydicom.dcmread(pydicom_data_file("693_UNCR.dcm"))
    ds.PatientName, ds.PatientBirthDate = PATIENT.name, PATIENT.birth_date
    pixels = ds.pixel_array
    born = PATIENT.birth_date
    line = f"{PATIENT.name.replace('^', ' ')} {born[6:]}/{born[4:6]}/{born[:4]}"
    ink = render_text(np.zeros(pixels.shape, np.uint8), [(*origin, line)], size=14) > 127
    hidden = round((-778 - float(ds.RescaleIntercept)) / float(ds.RescaleSlope))
    ds.PixelData = np.where(ink, hidden, pixels).astype(pixels.dtype).tobytes()
    path = tmp_path / "ct.dcm"
    ds.save_as(path)
    record = process_file(path, build_pipeline(tmp_path / "out", scrub=SECRET, classify=NO_NER))
    assert record.status == Status.OK, record.reason
    assert {r["reason"] for r in record.details["text_regions"]} & {"header:PatientName", "header:PatientBirthDate"}
    assert (pydicom.dcmread(record.output).pixel_array[ink] != hidden).all()  # every pixel of the line is redacted


def test_letter_spaced_phi_is_found_and_redacted(letter_spaced: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, ink = letter_spaced
    record = process_file(path, build_pipeline(tmp_path / "out", scrub=SECRET, classify=NO_NER))
    assert record.status == Status.OK, record.reason
    assert {r["reason"] for r in record.details["text_regions"]} >= {"header:PatientName", "header:PatientID"}
    written = pydicom.dcmread(record.output).pixel_array[..., 0]
    assert (written[ink] != 255).all()  # every pixel of the letters is redacted


def test_letter_spaced_phi_left_in_the_pixels_is_caught_by_the_verifier(
    letter_spaced: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, _ = letter_spaced
    pipeline = build_pipeline(tmp_path / "out", scrub=SECRET, classify={**NO_NER, "policy": "none"})
    record = process_file(path, pipeline, quarantine_dir=tmp_path / "quarantine")
    assert record.status == Status.QUARANTINED and "pixels:header:PatientName" in record.reason


def test_phi_turned_a_quarter_turn_is_found_and_redacted(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    frame = np.zeros((320, 240), np.uint8)
    frame[60:260, 60:200] = rng.integers(30, 90, (200, 140))
    line = f"{PATIENT.name.replace('^', ', ')}  {PATIENT.patient_id}"
    strip = render_text(np.zeros((24, 240), np.uint8), [(2, 2, line)])
    ink = np.zeros(frame.shape, bool)
    ink[20:260, 6:30] = np.rot90(strip > 0, 1)  # written bottom to top along the left edge
    rgb = np.repeat(np.where(ink, 255, frame).astype(np.uint8)[None, ..., None], 3, axis=3)
    ds = make_dataset(PATIENT, UltrasoundImageStorage, rgb, "RGB", 8, 1)
    ds.Modality = "US"
    path = tmp_path / "turned.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)

    record = process_file(path, build_pipeline(tmp_path / "out", scrub=SECRET, classify=NO_NER))

    assert record.status == Status.OK, record.reason
    written = pydicom.dcmread(record.output).pixel_array[..., 0]
    assert (written[ink] != 255).all()


def test_labels_stacked_on_two_lines_are_kept_beside_the_phi_around_them(tmp_path: Path) -> None:
    # The sample ultrasound's bottom band: "C5-1  Abd General" over "Sag Liver", and "MI 1.1  TIS 0.4" over a clock.
    # Each stack was also read whole, as garbage the classifier could not explain, and all three labels went with it.
    cine = next(p for p in write_sample_set(tmp_path) if p.name.endswith("_us_cine.dcm"))
    image, header, _ = LoadDicomWithMeta()(cine)

    regions = DetectBurnedInText()(image[:, :1], header)
    regions = ClassifyPHI(ner_model=None)(regions, header)

    redacted = [grown(r.box, image.shape[-2:], 3) for r in regions if r.is_phi is not False]  # RedactPixels' margin
    labels = {"C5-1  Abd General": (10, 344, 120, 353), "Sag Liver": (10, 362, 66, 374), "MI 1.1": (402, 345, 436, 353)}
    for label, box in labels.items():
        assert not any(boxes_overlap(box, r) for r in redacted), f"{label} was redacted"
    clock, name = (402, 362, 454, 372), (10, 28, 80, 39)
    assert all(any(union_cover(phi, [r]) == 1 for r in redacted) for phi in (clock, name))


def test_verifier_reads_with_the_detection_settings() -> None:
    transforms = build_deid_transforms(detect={"detector": "craft", "half": False}, scrub={"generate_secret": True})

    detect = next(t for t in transforms if isinstance(t, DetectBurnedInTextd)).detector.settings
    verifier = next(t for t in transforms if isinstance(t, VerifyDeidentifiedd)).verifier
    assert (detect.detector, detect.half) == ("craft", False)
    assert (verifier.detector, verifier.half) == ("craft", False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        # A quoted "false" is a non-empty string, which Python takes as true: every UID would be kept.
        ({"scrub": {"retain_uids": "false"}}, "scrub: retain_uids must be bool, not str"),
        ({"redact": {"margin": "wide"}}, "redact: margin must be int, not str"),
        ({"redact": {"margin": True}}, "redact: margin must be int, not bool"),
        ({"detect": "lines"}, "detect must be a mapping or None, not str"),
        ({"scan_pixels": "no"}, "scan_pixels must be bool, not str"),
        ({"classify": {"extra_allowlist": [3]}}, "extra_allowlist must be .* not a list of int"),
        ({"verify": {"band_fraction": "wide"}}, "verify: band_fraction must be float, not str"),
        ({"detect": {"keys": "pixels"}}, "detect: keys is set by the pipeline"),
    ],
)
def test_settings_of_the_wrong_type_are_refused_naming_the_setting(settings: dict, message: str) -> None:
    settings = {"scrub": {}, **settings}
    settings["scrub"] = {**settings["scrub"], **SECRET}

    with pytest.raises(TypeError, match=message):
        build_deid_transforms(**settings)


@pytest.mark.parametrize(
    "settings",
    [
        {"detect": {"min_contrast": 300}},  # no stroke on the 8-bit view could reach it: no text would be found
        {"detect": {"text_threshold": 1}},
        {"detect": {"batch_size": 0}},
        {"classify": {"ner_threshold": 2.0}},
        {"verify": {"band_fraction": 0.9}},
    ],
)
def test_settings_out_of_range_are_refused(settings: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(next(iter(settings.values()))))):
        build_deid_transforms(scrub=SECRET, **settings)


def test_a_fill_that_does_not_fit_the_samples_fails_the_file_saying_why(ultrasound: Path, tmp_path: Path) -> None:
    pipeline = build_pipeline(tmp_path / "out", scrub=SECRET, classify=NO_NER, redact={"fill": 999})

    record = process_file(ultrasound, pipeline)

    assert (record.status, record.code) == (Status.FAILED, "settings_mismatch")
    assert record.reason == "redact: a constant fill must be an integer in [0, 255] for these samples"


def test_settings_of_the_right_types_build_the_stages() -> None:
    settings = {
        "detect": {"text_threshold": 0.6, "batch_size": 8, "half": False},
        "classify": {"ner_model": None, "extra_allowlist": [], "ner_labels": {"HOSPITAL": None}},
        "redact": {"fill": np.array([0, 0, 0]), "margin": 2},
        "scrub": {"retain_uids": True, **SECRET},
        "verify": {"band_fraction": 0.2},
    }
    assert len(build_deid_transforms(**settings)) == 6


@pytest.mark.parametrize("half", [True, False])
def test_labels_that_stay_are_bit_exact_on_a_real_ultrasound_header(tmp_path: Path, half: bool) -> None:
    # pydicom-data's US1: lines 2 pixels apart. A redaction margin, or a doubt check's garbled reading of the few
    # rows of the PHI line above that its area showed, erased the top of the kept label "78DR78" below it. In
    # float32 (half=False, or a CPU without AMX) a doubt check joined "TIS<0.4" and "MI=0.8" into one garbled
    # reading, whose redaction erased the left of the kept "MI=0.8".
    pipeline = build_pipeline(tmp_path, scrub=SECRET, classify=NO_NER, detect={"half": half}, verify={"half": half})
    data = pipeline.transforms[0]({"image": str(pydicom_data_file("US1_UNCR.dcm"))})
    before = data["image"].as_tensor().clone()
    for transform in pipeline.transforms[1:]:
        data = transform(data)
    after, regions = data["image"].as_tensor(), data["image_text"]
    phi = [r.box for r in regions if r.is_phi is not False]
    kept = [r.box for r in regions if r.is_phi is False and not any(_inside(r.box, box) for box in phi)]
    assert len(kept) >= 10
    for x0, y0, x1, y1 in kept:
        assert torch.equal(after[..., y0:y1, x0:x1], before[..., y0:y1, x0:x1])


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return all(i >= o for i, o in zip(inner[:2], outer[:2], strict=True)) and all(
        i <= o for i, o in zip(inner[2:], outer[2:], strict=True)
    )
