"""Exhaustive OCR matrix (slow): fonts, sizes from 9 px, polarity, low contrast and texture, on every stored format,
single and multi-frame, plus the header bands of the real ultrasound files. At least 95% of strings must be found."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from monai_deid.io import LoadDicomWithMeta
from monai_deid.ocr import DetectBurnedInText
from tests.datafiles import pydicom_data_file
from tests.ocr_dicom import FORMATS, write_dicom
from tests.ocr_render import FONTS, STRINGS, background, band_text, draw_strings, is_found, text_similarity

pytestmark = pytest.mark.slow

#: (name, background kind, background level, ink level)
STYLES = [
    ("light_on_dark", "flat", 0.1, 0.95),
    ("dark_on_light", "flat", 0.9, 0.05),
    ("low_contrast", "gradient", 0.3, 0.5),
    ("textured", "texture", 0.35, 0.95),
    ("dark_on_texture", "texture", 0.7, 0.05),
]
SIZES = [9, 10, 12, 16, 22]


@pytest.fixture(scope="module")
def detector() -> DetectBurnedInText:
    return DetectBurnedInText(device="cpu")


def _cases():
    fonts = list(FONTS)
    combos = list(itertools.product(STYLES, SIZES))
    for index, fmt in enumerate(FORMATS):
        for j in range(5):
            style, size = combos[(index * 5 + j) % len(combos)]
            yield fmt, style, size, fonts[(index + j) % len(fonts)], index * 5 + j


def test_rendered_strings_every_format_font_size_style(tmp_path, detector):
    found, missed = 0, []
    for fmt, (style, kind, level, ink), size, font, seed in _cases():
        rng = np.random.default_rng(seed)
        strings = [STRINGS[(seed + k) % len(STRINGS)] for k in range(3)]
        grey, rendered = draw_strings(background(140, 300, kind, level, rng), strings, font, size, ink)
        image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / f"{seed}.dcm", grey[None], fmt))
        regions = detector(image, header)
        for r in rendered:
            if is_found(regions, r, 0):
                found += 1
            else:
                missed.append((fmt[0], style, size, font, r.text))
    total = found + len(missed)
    assert found / total >= 0.95, missed


def test_multi_frame_strings_found_on_their_frames(tmp_path, detector):
    found, missed = 0, []
    for index, fmt in enumerate(FORMATS):
        rng = np.random.default_rng(100 + index)
        base = background(120, 280, "flat", 0.1, rng)
        static, overlay = draw_strings(base, [STRINGS[index % len(STRINGS)]], "mono", 12, 0.95)
        frames, per_frame = [], []
        for f in range(4):
            label = STRINGS[(index + f + 3) % len(STRINGS)]
            img, rendered = draw_strings(static, [label], "sans", 11 + f, 0.95, origin=(20, 60))
            frames.append(img)
            per_frame.append(rendered[0])
        image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / f"mf{index}.dcm", np.stack(frames), fmt))
        regions = detector(image, header)
        checks = [(overlay[0], f) for f in range(4)] + [(per_frame[f], f) for f in range(4)]
        for rendered, f in checks:
            if is_found(regions, rendered, f):
                found += 1
            else:
                missed.append((fmt[0], f, rendered.text))
        # A frame's own label is not reported on the other frames.
        for f, rendered in enumerate(per_frame):
            same = [r for r in regions if text_similarity(r.text, rendered.text) >= 0.9]
            assert all(
                set(r.frames) <= {f} | {g for g, o in enumerate(per_frame) if o.text == rendered.text} for r in same
            )
    assert found / (found + len(missed)) >= 0.95, missed


def _best(regions, wanted: str, band: tuple[int, int, int, int]) -> float:
    return text_similarity(band_text(regions, band), wanted)


def test_real_ultrasound_institution_and_date_lines(detector):
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("OBXXXX1A.dcm"))
    regions = detector(image, header)
    assert _best(regions, "Philips Healthcare", (250, 30, 600, 56)) >= 0.8
    assert _best(regions, "5/25/2011", (600, 0, 800, 30)) >= 0.8
    assert _best(regions, "2:56:22 PM", (600, 30, 800, 56)) >= 0.7

    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("gdcm-US-ALOKA-16.dcm"))
    regions = detector(image, header)
    assert _best(regions, "*WESTWAY MEDICAL*", (40, 0, 300, 11)) >= 0.7
    assert _best(regions, "24-MAY-02", (500, 0, 640, 11)) >= 0.7
    assert _best(regions, "11:24:20", (500, 11, 640, 26)) >= 0.7


def _drop_header(item: dict) -> dict:
    # The header and raw texts are PHI and do not collate: keep the boxes only, as a training pipeline would.
    return {"boxes": [list(r.box) for r in item["image_text"]], "scanned": item["image"].meta["text_scanned"]}


def test_dataloader_spawn_worker_builds_its_own_reader(tmp_path):
    from monai.data import DataLoader, Dataset
    from monai.transforms import Compose, Lambda

    from monai_deid.io import LoadDicomWithMetad
    from monai_deid.ocr import DetectBurnedInTextd

    grey, rendered = draw_strings(
        background(100, 240, "flat", 0.1, np.random.default_rng(1)), ["MRN 00412377"], "sans", 14, 0.95
    )
    path = write_dicom(tmp_path / "a.dcm", grey[None], FORMATS[0])
    pipeline = Compose([LoadDicomWithMetad(keys="image"), DetectBurnedInTextd(keys="image"), Lambda(_drop_header)])
    loader = DataLoader(
        Dataset([{"image": str(path)}], pipeline), batch_size=None, num_workers=1, multiprocessing_context="spawn"
    )

    (item,) = list(loader)

    assert item["scanned"] is True
    x0, y0, x1, y1 = rendered[0].box
    assert any(b[0] <= x0 + 2 and b[1] <= y0 + 2 and b[2] >= x1 - 2 and b[3] >= y1 - 2 for b in item["boxes"])
