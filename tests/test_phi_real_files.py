"""ClassifyPHI on real ultrasound captures from pydicom-data, read through the real detection stage.

Each file is loaded with ``LoadDicomWithMeta`` and its first frame read by ``DetectBurnedInText`` (EasyOCR on CPU,
offline weights; the zones below are drawn on frame 0), then labelled by ``ClassifyPHI`` without NER.

Ground truth is what a person reads on each image: zones ``(x0, y0, x1, y1)`` that hold PHI (institution, patient
name or ID, date, time) or clinical text (probe, preset, parameters, safety indices, anatomy, vendor logo). Every
zone must be found by detection, and every region whose centre lies in a zone must get the zone's label.
"""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from monai_deid.io import LoadDicomWithMeta
from monai_deid.ocr import DetectBurnedInText
from monai_deid.phi import ClassifyPHI
from monai_deid.regions import TextRegion
from tests.datafiles import pydicom_data_file

PHI, KEEP = True, False
ZONES = {
    "US1_UNCR.dcm": [
        ("institution", PHI, (10, 15, 180, 36)),
        ("time", PHI, (270, 36, 368, 60)),
        ("probe", KEEP, (490, 15, 630, 40)),
        ("parameter 630P630", KEEP, (10, 40, 100, 56)),
        ("preset MSCSKEL", KEEP, (540, 40, 630, 56)),
        ("cine counter", KEEP, (520, 56, 630, 72)),
        ("anatomy LYMPH NODE", KEEP, (240, 350, 370, 380)),
        ("safety indices", KEEP, (390, 448, 630, 476)),
    ],
    "OBXXXX1A.dcm": [
        ("patient name", PHI, (85, 2, 125, 28)),
        ("patient ID", PHI, (88, 30, 272, 56)),
        ("institution", PHI, (320, 30, 518, 56)),
        ("date", PHI, (660, 0, 780, 30)),
        ("time", PHI, (660, 30, 790, 56)),
        ("vendor logo", KEEP, (3, 2, 82, 28)),
        ("safety index MI", KEEP, (565, 2, 642, 28)),
        ("safety index TIB", KEEP, (565, 30, 655, 56)),
        ("preset", KEEP, (0, 60, 80, 84)),
        ("probe", KEEP, (0, 84, 52, 100)),
        ("frame rate", KEEP, (0, 100, 58, 120)),
        ("depth", KEEP, (0, 120, 58, 142)),
        ("measurement", KEEP, (235, 80, 310, 106)),
        ("parameters", KEEP, (3, 178, 72, 240)),
    ],
    "gdcm-US-ALOKA-16.dcm": [
        ("institution", PHI, (70, 0, 260, 30)),
        ("time", PHI, (550, 0, 640, 30)),
        ("frame counter", KEEP, (240, 30, 340, 66)),
        ("probe", KEEP, (35, 428, 88, 450)),
        ("parameter", KEEP, (435, 428, 475, 450)),
        ("anatomy", KEEP, (15, 452, 108, 474)),
        ("parameter DVA", KEEP, (545, 452, 640, 474)),
    ],
}


@pytest.fixture(scope="module")
def detected_regions() -> dict[str, tuple[Dataset, list[TextRegion]]]:
    """Each file's header and the text regions ``DetectBurnedInText`` finds on its first frame."""
    pytest.importorskip("easyocr")
    detect = DetectBurnedInText()
    out = {}
    for name in ZONES:
        image, header, _ = LoadDicomWithMeta()(pydicom_data_file(name))
        out[name] = (header, detect(image[:, :1], header))
    return out


def _centre_in(region: TextRegion, zone: tuple[int, int, int, int]) -> bool:
    cx, cy = (region.box[0] + region.box[2]) / 2, (region.box[1] + region.box[3]) / 2
    return zone[0] <= cx < zone[2] and zone[1] <= cy < zone[3]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ZONES))
def test_real_burned_in_text(name, detected_regions):
    ds, regions = detected_regions[name]
    labelled = ClassifyPHI(ner_model=None)(regions, ds)
    for what, is_phi, zone in ZONES[name]:
        inside = [r for r in labelled if _centre_in(r, zone)]
        assert inside, f"{name}: detection found nothing in the {what} zone"
        # the messages name the zone and the reason codes, never the text
        assert all(r.is_phi == is_phi for r in inside), (name, what, [r.reason for r in inside])
