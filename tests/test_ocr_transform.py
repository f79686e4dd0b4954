"""DetectBurnedInText on rendered strings in every stored format, real ultrasound files and a cine loop.

Real EasyOCR inference on real DICOM files written by pydicom and read by LoadDicomWithMeta; nothing is mocked.
"""

from __future__ import annotations

import os
import pickle
import signal
import zlib

import cv2
import numpy as np
import pydicom
import pytest
import torch
from monai.transforms import Compose
from pydicom.pixels import apply_color_lut, convert_color_space

from monai_deid.io import LoadDicomWithMeta, LoadDicomWithMetad
from monai_deid.ocr import (
    DetectBurnedInText,
    DetectBurnedInTextd,
    EngineSettings,
    engine,
    ocr_view_frames,
    read_text_in_areas,
    read_text_in_bands,
    read_text_in_frame_areas,
    scan,
)
from monai_deid.ocr.boxes import iou
from monai_deid.ocr.candidates import (
    _labelled,
    _median_of_small_integers,
    mask_components,
    stroke_components,
    stroke_responses,
    tallest_annotation,
)
from monai_deid.ocr.dedup import distinct_frames
from monai_deid.ocr.engine import cpu_dtype, cpu_has_amx, cpu_has_native_bfloat16, cpu_has_native_half, networks
from monai_deid.ocr.lines import doubtful, line_boxes
from monai_deid.ocr.scan import Reading, scan_frames
from monai_deid.ocr.view import build_ocr_view
from monai_deid.regions import TextRegion
from tests.datafiles import pydicom_data_file
from tests.ocr_dicom import FORMATS, write_dicom
from tests.ocr_render import STRINGS, background, band_text, draw_strings, is_found, text_similarity


@pytest.fixture(scope="module")
def detector() -> DetectBurnedInText:
    return DetectBurnedInText(device="cpu")


def _render(seed: int, strings: list[str], font: str, size: int, light_on_dark: bool, kind: str = "flat"):
    rng = np.random.default_rng(seed)
    bg_level, ink = (0.12, 0.92) if light_on_dark else (0.85, 0.1)
    base = background(120, 260, kind, bg_level, rng)
    return draw_strings(base, strings, font, size, ink)


# One of each family; the slow matrix (test_ocr_matrix.py) runs every format with every font, size and style.
FAST_FORMATS = [f for f in FORMATS if f[0] in ("mono1_8", "mono2_12", "mono2_16_signed", "ybr_full_8", "palette_8")]


@pytest.mark.parametrize("fmt", FAST_FORMATS, ids=[f[0] for f in FAST_FORMATS])
def test_stored_formats(tmp_path, detector, fmt):
    index = FORMATS.index(fmt)
    strings = [STRINGS[index % len(STRINGS)], STRINGS[(index + 5) % len(STRINGS)]]
    grey, rendered = _render(index, strings, ["sans", "mono", "serif"][index % 3], 11 + index % 4, index % 2 == 0)
    image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / "img.dcm", grey[None], fmt))

    regions = detector(image, header)

    assert all(isinstance(r, TextRegion) for r in regions)
    assert [r.text for r in rendered if not is_found(regions, r, 0)] == []


def test_exhaustive_craft_detector_finds_the_same_strings(tmp_path):
    # the CUDA default (and --detector craft on CPU): CRAFT over every stroke area instead of direct line reading
    grey, rendered = _render(3, ["SMITH JOHN", "LT KIDNEY 4.2cm"], "sans", 12, True, kind="texture")
    image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / "img.dcm", grey[None], FORMATS[0]))

    regions = DetectBurnedInText(device="cpu", detector="craft")(image, header)

    assert [r.text for r in rendered if not is_found(regions, r, 0)] == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_finds_every_string_in_every_stored_format(tmp_path):
    # The GPU path (float16 channels-last CRAFT over every stroke area, one LSTM pass per read, pinned staging
    # copies) on the formats of test_stored_formats and on a cine whose label is on one frame only.
    on_gpu = DetectBurnedInText(device="cuda")
    for index, fmt in enumerate(FAST_FORMATS):
        strings = [STRINGS[index % len(STRINGS)], STRINGS[(index + 5) % len(STRINGS)]]
        grey, rendered = _render(index, strings, ["sans", "mono", "serif"][index % 3], 11 + index % 4, index % 2 == 0)
        image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / f"{fmt[0]}.dcm", grey[None], fmt))
        regions = on_gpu(image, header)
        assert [r.text for r in rendered if not is_found(regions, r, 0)] == [], fmt[0]
    grey, overlay = _render(3, ["SMITH^JOHN", "2023-04-17"], "sans", 12, True)
    frames = np.repeat(grey[None], 20, axis=0)
    frames[7], labels = draw_strings(grey, ["LT KIDNEY"], "mono", 12, 0.92, origin=(140, 80))
    image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / "cine.dcm", frames, FORMATS[0]))
    regions = on_gpu(image, header)
    assert all(is_found(regions, r, f) for r in overlay for f in range(20))
    assert is_found(regions, labels[0], 7) and not is_found(regions, labels[0], 6)


def test_detector_mode_follows_the_device():
    assert EngineSettings(device="cpu").detector == "lines"
    assert EngineSettings(device="cuda:1").detector == "craft"  # only resolved here: no GPU needed
    assert EngineSettings(device="cpu", detector="craft").detector == "craft"
    with pytest.raises(ValueError, match="detector"):
        EngineSettings(detector="tesseract")


def test_cpu_networks_are_16_bit_only_where_amx_computes_them(monkeypatch):
    # The probe reads the hardware: AMX tiles listed by the kernel are tiles this process may use (Linux 5.16+).
    with open("/proc/cpuinfo") as cpuinfo:
        listed = "amx_tile" in cpuinfo.read().split()
    assert cpu_has_amx() == listed
    monkeypatch.setattr(engine, "cpu_has_amx", lambda: False)
    assert cpu_dtype(True) == cpu_dtype(False) == torch.float32
    monkeypatch.setattr(engine, "cpu_has_amx", lambda: True)
    sixteen_bit = torch.bfloat16 if cpu_has_native_bfloat16() else torch.float32
    assert cpu_dtype(True) == (torch.float16 if cpu_has_native_half() else sixteen_bit)
    assert cpu_dtype(False) == torch.float32


@pytest.mark.skipif(not cpu_has_native_half(), reason="oneDNN does not compute float16 on this CPU")
def test_float16_networks_read_real_text_as_float32_does(monkeypatch):
    # With AMX the networks run in float16: the speed must not cost readings. Forced here wherever oneDNN computes
    # float16, AMX or not, so that the float16 path is checked on every such machine.
    monkeypatch.setattr(engine, "cpu_has_amx", lambda: True)
    _assert_half_reads_as_float32_does(monkeypatch)
    halved = networks(EngineSettings(half=True)).recognizer.SequenceModeling
    assert next(halved.parameters()).dtype == torch.float16


@pytest.mark.skipif(not cpu_has_native_bfloat16(), reason="oneDNN does not compute bfloat16 on this CPU")
def test_bfloat16_networks_read_real_text_as_float32_does(monkeypatch):
    # AMX where oneDNN computes bfloat16 but not float16: the convolutions run in bfloat16, the LSTMs in float32.
    monkeypatch.setattr(engine, "cpu_has_amx", lambda: True)
    monkeypatch.setattr(engine, "cpu_has_native_half", lambda: False)
    _assert_half_reads_as_float32_does(monkeypatch)
    built = networks(EngineSettings(half=True)).recognizer
    assert next(built.FeatureExtraction.parameters()).dtype == torch.bfloat16
    assert next(built.SequenceModeling.parameters()).dtype == torch.float32


def _assert_half_reads_as_float32_does(monkeypatch: pytest.MonkeyPatch) -> None:
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("US1_UNCR.dcm"))
    # Both read with the 16-bit path's batches: float32 cuts them where the width changes, and the padding a crop
    # gets changes a few readings of short labels by itself (checked by the OCR matrix).
    plan = engine._reading_plan
    monkeypatch.setattr(engine, "_reading_plan", lambda *args: plan(*args[:3], torch.float16))

    regions = {half: DetectBurnedInText(half=half)(image, header) for half in (True, False)}

    sure = {half: [r for r in found if r.confidence >= 0.5] for half, found in regions.items()}
    assert len(sure[True]) >= 15 and len(sure[False]) >= 15
    # The same text at the same place (a line read directly on one path may go through the detector on the other,
    # which draws its box a few pixels apart).
    unmatched = [
        r for half in (True, False) for r in sure[half] if not any(_same_reading(r, o) for o in regions[not half])
    ]
    assert len(unmatched) <= 2


def _same_reading(a: TextRegion, b: TextRegion) -> bool:
    return a.text == b.text and iou(a.box, b.box) >= 0.5


def test_only_unsure_readings_of_text_go_to_the_detector():
    assert doubtful("SMITH JOHN", 0.09)  # text too poor to read directly
    assert not doubtful("SMITH JOHN", 0.6)  # sure
    assert not doubtful("S", 0.09)  # one character identifies nobody
    assert not doubtful("Men", 0.01)  # the recogniser's reading of anatomy


def _best(regions, wanted: str) -> float:
    return max((text_similarity(r.text, wanted) for r in regions), default=0.0)


def test_real_ultrasound_header_lines(detector):
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("US1_UNCR.dcm"))

    regions = detector(image, header)

    # Institution line of the top-left header band, and the label under the image.
    assert text_similarity(band_text(regions, (0, 20, 200, 42)), "BAPTIST MED CTR") >= 0.8
    assert _best(regions, "LYMPH") >= 0.8
    assert all(r.frames == (0,) for r in regions)
    assert all(0 <= r.box[0] < r.box[2] <= 640 and 0 <= r.box[1] < r.box[3] <= 480 for r in regions)


def test_cine_static_overlay_with_label_on_one_frame(tmp_path, detector):
    grey, overlay = _render(3, ["SMITH^JOHN", "2023-04-17"], "sans", 12, True)
    frames = np.repeat(grey[None], 30, axis=0)
    label, rendered_label = draw_strings(grey, ["LT KIDNEY"], "mono", 12, 0.92, origin=(140, 80))
    frames[17] = label
    image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / "cine.dcm", frames, FORMATS[0]))

    regions = detector(image, header)

    for rendered in overlay:
        assert all(is_found(regions, rendered, f) for f in range(30)), rendered.text
    label_regions = [r for r in regions if text_similarity(r.text, "LT KIDNEY") >= 0.7]
    assert label_regions and all(r.frames == (17,) for r in label_regions)
    assert is_found(regions, rendered_label[0], 17)


@pytest.mark.parametrize("size", [60, 100])
def test_large_text_is_read_by_the_cpu_detector(tmp_path, detector, size):
    # Characters of 43 and 73 pixels (an eighth of the 600 rows at most): at full size their letters stand too far
    # apart to join into a line, so the stroke test looks for them again on the frame shrunk four times.
    base = background(600, 1024, "texture", 0.1, np.random.default_rng(size))
    grey, rendered = draw_strings(base, ["SMITH JOHN", "DOB 1961"], "sans", size, 0.9)
    image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / "big.dcm", grey[None], FORMATS[0]))

    regions = detector(image, header)

    for line in rendered:
        assert is_found(regions, line, 0), line.text


@pytest.mark.parametrize("size", [12, 30, 48])
@pytest.mark.parametrize("word", ["LI", "JI"])
def test_a_lone_word_of_two_narrow_letters_is_read(detector, word, size):
    # A surname such as LI, alone or set apart from the given name by a gap wider than the stroke test's join, is
    # narrower than two character heights: the stroke test did not take it for a line, and it was never read.
    base = background(240, 320, "texture", 0.1, np.random.default_rng(size))
    grey, (rendered,) = draw_strings(base, [word], "sans", size, 0.95, origin=(100, 100))
    image = torch.as_tensor((grey * 255).astype(np.uint8))[None, None]

    regions = detector(image)

    assert any(text_similarity(r.text, word) == 1 and iou(r.box, rendered.box) > 0.3 for r in regions), regions


def test_bold_text_between_the_two_searches_is_read(detector):
    # Bold letters of 58 pixels over a real CT: strokes as wide as the stroke kernel, so the full-size search misses
    # them, and 40 pixels tall as the shrunk search measures them (in steps of 4), exactly its threshold.
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("693_UNCR.dcm"))
    pixels = image[0, 0].numpy()
    ink = draw_strings(np.zeros(pixels.shape, np.float32), ["DOE JOHN"], "sans_bold", 80, 1.0, origin=(10, 150))
    (rendered,) = ink[1]
    frame = np.where(ink[0] > 0.5, pixels.max(), pixels)

    regions = detector(torch.as_tensor(frame)[None, None], header)

    assert is_found(regions, rendered, 0), [r.text for r in regions]


@pytest.mark.parametrize("hounsfield", [-1500, -778])
def test_text_the_window_hides_on_the_padding_is_read(detector, hounsfield):
    # A real CT under its 40/100 window: a line drawn at a value below the window, on the padding outside the field
    # of view (-2000), renders black on black; a viewer shows it as soon as the window changes.
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("693_UNCR.dcm"))
    pixels = image[0, 0].numpy()
    ink, (rendered,) = draw_strings(np.zeros(pixels.shape, np.float32), ["DOE JOHN"], "sans", 14, 1.0, origin=(8, 8))
    stored = (hounsfield - float(header.RescaleIntercept)) / float(header.RescaleSlope)
    frame = np.where(ink > 0.5, stored, pixels).astype(pixels.dtype)
    assert (ocr_view_frames(torch.as_tensor(frame)[None, None], header)[0][ink > 0.5] == 0).all()

    regions = detector(torch.as_tensor(frame)[None, None], header)

    assert is_found(regions, rendered, 0), [r.text for r in regions]


@pytest.mark.parametrize("turns", [1, 3])
def test_text_turned_a_quarter_turn_is_read(detector, turns):
    # An image stored on its side: the burned-in line runs bottom to top (1 turn) or top to bottom (3 turns).
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("693_UNCR.dcm"))
    pixels = image[0, 0].numpy()
    strip, (rendered,) = draw_strings(np.zeros((30, 260), np.float32), ["DOE JOHN 12/03/1961"], "sans", 14, 1.0)
    ink = np.zeros(pixels.shape, bool)
    ink[60:320, 20:50] = np.rot90(strip > 0.5, turns)
    frame = np.where(ink, pixels.max(), pixels)

    regions = detector(torch.as_tensor(frame)[None, None], header)

    rows, cols = np.nonzero(ink)
    turned = [r for r in regions if r.box[0] <= cols.min() and r.box[2] > cols.max()]
    assert any(text_similarity(r.text, rendered.text) >= 0.8 for r in turned), [r.text for r in regions]
    assert any(r.box[1] <= rows.min() and r.box[3] > rows.max() for r in turned)


def _colour_file(path, rgb: np.ndarray, photometric: str):
    ds = pydicom.dcmread(write_dicom(path, np.zeros((1, *rgb.shape[:2])), FORMATS[0]))
    pixels = rgb if photometric == "RGB" else convert_color_space(rgb, "RGB", photometric)
    ds.set_pixel_data(pixels, photometric, 8)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
@pytest.mark.parametrize(
    "ink, paper", [((0, 200, 0), 128), ((230, 0, 0), 69)], ids=["green-on-grey", "red-on-as-bright-grey"]
)
def test_text_shown_by_its_colour_alone_is_read(tmp_path, detector, photometric, ink, paper):
    _check_colour_alone_is_read(tmp_path, detector, photometric, ink, paper)


def test_text_shown_by_its_colour_alone_is_read_by_the_craft_detector(tmp_path):
    _check_colour_alone_is_read(tmp_path, DetectBurnedInText(detector="craft"), "RGB", (0, 200, 0), 128)


def _check_colour_alone_is_read(tmp_path, detector, photometric, ink, paper):
    alpha, rendered = draw_strings(background(120, 320, "flat", 0.0, None), ["SMITH JOHN", "DOB 1961"], "sans", 14, 1.0)
    rgb = paper * (1 - alpha[..., None]) + np.array(ink) * alpha[..., None]
    path = _colour_file(tmp_path / "colour.dcm", np.clip(rgb + 0.5, 0, 255).astype(np.uint8), photometric)
    image, header, _ = LoadDicomWithMeta()(path)
    grey = ocr_view_frames(image, header)
    assert not scan_frames(grey, detector.settings), "the luminance alone shows no text"

    regions = detector(image, header)

    for line in rendered:
        assert is_found(regions, line, 0), line.text


def test_dictionary_transform_pickles_and_marks_scanned(tmp_path):
    grey, rendered = _render(5, ["MRN 00412377"], "sans", 14, False)
    path = write_dicom(tmp_path / "img.dcm", grey[None], FORMATS[0])
    pipeline = Compose([LoadDicomWithMetad(keys="image"), DetectBurnedInTextd(keys="image", device="cpu")])
    pipeline = pickle.loads(pickle.dumps(pipeline))

    out = pipeline({"image": str(path)})

    assert out["image"].meta["text_scanned"] is True
    assert is_found(out["image_text"], rendered[0], 0)


def test_read_text_in_areas_reads_only_the_given_area(tmp_path):
    grey, rendered = _render(6, ["DOE, JANE A", "ACC 7781234"], "serif", 13, True)
    image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / "img.dcm", grey[None], FORMATS[2]))

    regions = read_text_in_areas(image, 0, [rendered[1].box], header)

    assert regions and all(r.frames == (0,) for r in regions)
    assert is_found(regions, rendered[1], 0)
    assert not any(text_similarity(r.text, "DOE, JANE A") >= 0.7 for r in regions)


@pytest.mark.parametrize("detector_name", ["lines", "craft"])
def test_areas_of_several_frames_are_read_in_one_pass_each_on_its_frame(tmp_path, detector_name):
    first, rendered_first = _render(7, ["SMITH, JOHN"], "sans", 13, True)
    second, rendered_second = _render(8, ["MRN 5512093"], "sans", 13, True)
    image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / "two.dcm", np.stack([first, second]), FORMATS[2]))
    areas = {0: [rendered_first[0].box], 1: [rendered_second[0].box]}

    regions = read_text_in_frame_areas(image, areas, header, detector=detector_name)

    assert is_found(regions, rendered_first[0], 0) and is_found(regions, rendered_second[0], 1)
    assert all(len(r.frames) == 1 for r in regions)
    assert not is_found([r for r in regions if r.frames == (1,)], rendered_first[0], 1)


def test_a_band_the_frames_share_is_read_once_and_a_changed_band_where_it_changed(tmp_path):
    only_name, _ = _render(9, ["SMITH, JOHN"], "sans", 13, True)
    both, rendered = _render(9, ["SMITH, JOHN", "MRN 5512093"], "sans", 13, True)
    frames = np.stack([only_name, only_name, both, only_name])
    image, header, _ = LoadDicomWithMeta()(write_dicom(tmp_path / "four.dcm", frames, FORMATS[2]))
    band = (0, frames.shape[1])

    regions = read_text_in_bands(image, {band: [0, 1, 2, 3]}, header)

    name = [r for r in regions if text_similarity(r.text, "SMITH, JOHN") >= 0.7]
    assert is_found(regions, rendered[0], 0) and is_found(regions, rendered[1], 2)
    assert len(name) == 1 and name[0].frames == (0, 1, 2, 3)  # read on the first frame, the same pixels on the others
    assert not is_found([r for r in regions if 2 not in r.frames], rendered[1], 0)


@pytest.mark.parametrize("name", ["OBXXXX1A.dcm", "gdcm-US-ALOKA-16.dcm"])
def test_palette_view_is_the_luminance_of_each_pixels_colour(name):
    # The view maps each index through a grey table built once; it must equal the colour image's luminance.
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file(name))
    rgb = apply_color_lut(image.numpy()[0], header)[..., :3].astype(np.float64)
    top = 255.0 if rgb.max() <= 255 else 65535.0
    luminance = (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114) * (255.0 / top)

    view = ocr_view_frames(image, header)

    assert view.shape == image.shape[1:] and view.dtype == np.uint8
    assert np.abs(view.astype(np.float64) - luminance).max() <= 0.51


def test_palette_view_follows_the_palette_of_each_file():
    # Views of palettes are kept by their lookup tables: a file with other tables and the same indices is seen anew.
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("OBXXXX1A.dcm"))
    first = ocr_view_frames(image, header)
    header.RedPaletteColorLookupTableData, header.BluePaletteColorLookupTableData = (
        header.BluePaletteColorLookupTableData,
        header.RedPaletteColorLookupTableData,
    )
    header.GreenPaletteColorLookupTableData = bytes(len(header.GreenPaletteColorLookupTableData))

    second = ocr_view_frames(image, header)

    rgb = apply_color_lut(image.numpy()[0], header)[..., :3].astype(np.float64)
    top = 255.0 if rgb.max() <= 255 else 65535.0
    assert not rgb[..., 1].any() and not np.array_equal(first, second)
    assert np.abs(second - (rgb[..., 0] * 0.299 + rgb[..., 2] * 0.114) * (255.0 / top)).max() <= 0.51


def test_colour_view_of_ybr_frames_is_the_chroma_of_their_rgb_colours():
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("color3d_jpeg_baseline.dcm"))
    frames = image[:, :3]
    rgb = convert_color_space(np.moveaxis(frames.numpy(), 0, -1), "YBR_FULL", "RGB").astype(np.int16)

    colour = build_ocr_view(frames.numpy(), "YBR_FULL", header).colour

    assert colour is not None and colour.shape == frames.shape[1:]
    assert np.abs(colour - (rgb.max(axis=-1) - rgb.min(axis=-1))).max() <= 1


def test_grey_view_of_8_bit_rgb_is_the_rounded_bt601_luma_of_every_colour():
    # All 2**24 colours, as one 4096 x 4096 frame: the view's lookup tables must give the float32 luma's rounding.
    code = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([code >> 16, code >> 8 & 255, code & 255]).astype(np.uint8).reshape(3, 1, 4096, 4096)
    red, green, blue = (rgb[c].astype(np.float32) for c in range(3))
    luma = red * np.float32(0.299) + green * np.float32(0.587) + blue * np.float32(0.114)
    expected = np.clip(luma + np.float32(0.5), 0, 255).astype(np.uint8)

    assert np.array_equal(build_ocr_view(rgb, "RGB").frames, expected)


def _crc32_collision() -> tuple[np.ndarray, np.ndarray]:
    """Two different 8-byte rows with the same CRC-32 (a birthday search over seeded random rows)."""
    seen: dict[int, np.ndarray] = {}
    for row in np.random.default_rng(0).integers(0, 256, (300_000, 8), dtype=np.uint8):
        first = seen.setdefault(zlib.crc32(row), row)
        if not np.array_equal(first, row):
            return first, row
    raise AssertionError("no CRC-32 collision among 300,000 rows")


def test_identical_frames_are_grouped_and_frames_of_one_checksum_are_told_apart():
    a, b = _crc32_collision()
    c = a.copy()
    c[3] ^= 1
    frames = np.stack([a, b, a, c, b])[:, None, :]  # (F, 1, 8)

    assert distinct_frames(frames) == {0: [0, 2], 1: [1, 4], 3: [3]}


@pytest.mark.parametrize("shape", [(1, 1), (7, 9), (64, 64), (33, 480)])
def test_noise_level_median_is_numpys_median(shape):
    values = np.random.default_rng(shape[1]).integers(0, 1021, size=shape)
    # A skewed sample as well: most values equal, as on clean synthetic frames.
    skewed = np.where(values > 900, values, 0)
    for sample in (values, skewed):
        assert _median_of_small_integers(sample) == float(np.median(sample))


def test_components_are_labelled_past_what_16_bit_labels_hold():
    # A dot every other row and column: 512 x 512 = 262144 components, more than 16-bit labels hold.
    mask = np.zeros((1024, 1024), dtype=np.uint8)
    mask[::2, ::2] = 1
    count, labels, _ = _labelled(mask)
    assert count == 512 * 512 + 1
    assert labels.max() == 512 * 512
    small = mask[:64, :64]
    count, labels, stats = _labelled(small)
    assert labels.dtype == np.uint16 and count == 32 * 32 + 1
    assert (stats[1:, cv2.CC_STAT_AREA] == 1).all()


def test_components_too_tall_for_annotation_lines_are_not_counted_and_the_lines_read_are_unchanged():
    # The 1024 x 1024 MR: at the lowest stroke contrast its anatomy is one joined component taller than four lines
    # of the tallest annotation characters; its characters are not counted, which changes no line read.
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("MR2_UNCR.dcm"))
    grey = ocr_view_frames(image, header)[0]
    tallest = 4 * tallest_annotation(grey.shape[0])
    for response in stroke_responses(grey):
        mask = (response >= 16).view(np.uint8)
        limited, counted = mask_components(mask, tallest=tallest), mask_components(mask)
        too_tall = [c for c in limited if c.box[3] - c.box[1] > tallest]
        assert too_tall and not any(c.line_like for c in too_tall)
        assert line_boxes(limited, grey.shape) == line_boxes(counted, grey.shape)
        assert [c for c in limited if c not in too_tall] == [c for c in counted if c.box[3] - c.box[1] <= tallest]
    # Characters taller than those read directly (44 px) are still counted, and go to the detector.
    flat = background(1024, 1024, "flat", 0.1, None)
    canvas, _ = draw_strings(flat, ["AB 12", "CD 34"], "sans", 60, 0.9, spacing=1.1)
    big = (canvas * 255).astype(np.uint8)
    mask = (stroke_responses(big)[0] >= 16).view(np.uint8)
    lines, areas, turned = line_boxes(mask_components(mask, tallest=tallest), big.shape)
    assert areas and (lines, areas, turned) == line_boxes(mask_components(mask), big.shape)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forking is POSIX only")
def test_stroke_components_on_several_threads_are_those_of_one_thread():
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("US1_UNCR.dcm"))
    grey = ocr_view_frames(image, header)[0]
    assert grey.size >= 1 << 17, "large enough to be labelled on several threads"
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        alone = stroke_components(grey)
        cv2.setNumThreads(2)
        side_by_side = stroke_components(grey)
        # A forked child (a DataLoader worker) must not use the parent's pool, whose threads do not exist there: it
        # would wait for them forever (the alarm ends the child then).
        pid = os.fork()
        if pid == 0:
            signal.alarm(60)
            os._exit(0 if stroke_components(grey) == alone else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        cv2.setNumThreads(threads)
    assert len(alone) > 20 and side_by_side == alone
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_detector_reads_the_same_pixels_once_per_image(monkeypatch):
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("US1_UNCR.dcm"))
    grey = ocr_view_frames(image, header)[0]
    header_band, label = grey[0:60, 0:220], grey[400:480, 0:320]
    settings = EngineSettings(device="cpu")
    read = []
    fresh = engine._read_lines_fresh
    monkeypatch.setattr(engine, "_read_lines_fresh", lambda images, s: read.append(len(images)) or fresh(images, s))
    engine.clear_reading_cache()

    first = engine.read_lines([header_band], settings)
    again = engine.read_lines([label, header_band.copy()], settings)
    engine.clear_reading_cache()
    after_clear = engine.read_lines([header_band], settings)

    assert first[0], "the header band holds text lines"
    assert again[1] == first[0] == after_clear[0]
    # The second call ran the detector on the new image only; a new image (cleared cache) reads everything again.
    assert read == [1, 1, 1]


def test_a_doubtful_line_made_of_labels_read_or_checked_on_their_own_is_not_checked_again():
    # US1's bottom line in float32: the stroke test's line joins three labels; two are read surely, one doubtfully.
    joined = Reading((404, 457, 619, 471), "TIS<0. 4 MIEO. 8 A0=1007", 0.19)
    mi = Reading((479, 457, 539, 471), "MI=0. 8", 0.36)
    sure = [(399, 457, 454, 471), (549, 457, 619, 471)]
    grey = np.zeros((480, 640), np.uint8)

    assert scan._unexplained_doubts([joined, mi], sure, grey) == [mi]
    # Without the doubtful part inside it, the joined line is not explained; a doubt never explains an equal one.
    assert scan._unexplained_doubts([joined], sure, grey) == [joined]
    assert scan._unexplained_doubts([mi, mi], [], grey) == [mi, mi]


def test_float32_detector_canvases_are_cut_to_multiples_of_32(monkeypatch):
    # A doubt check of a 33 x 39 line area is a 65 x 71 canvas with its borders: 96 x 96 in float32, where CRAFT
    # costs per pixel (128 x 128 took 1.6x to 2x as long), a power of two where shapes must repeat (16-bit on AMX).
    canvases = []
    score_maps = engine._score_maps
    monkeypatch.setattr(
        engine, "_score_maps", lambda images, s: canvases.extend(i.shape for i in images) or score_maps(images, s)
    )
    engine.clear_reading_cache()
    engine.read_lines([np.full((39, 33), 40, np.uint8)], EngineSettings(half=False))
    assert canvases == [(96, 96)]
    assert [engine._craft_side(size, tight=False) for size in (65, 71, 300)] == [128, 128, 320]
    assert [engine._craft_side(size, tight=True) for size in (65, 71, 300)] == [96, 96, 320]


def test_narrow_tail_batches_share_the_lstm_pass_of_the_widest_crops():
    # 30 crops sorted by padded width, cut into batches of 16, 8, 4 and 2 as the recogniser reads them.
    widths = [192] * 16 + [384] * 8 + [640] * 4 + [768] * 2
    batches = engine._batches(list(range(len(widths))), 16)

    groups = engine._reading_groups(batches, widths, engine._RECOGNIZER_COSTS_US[torch.float16])

    # Padding 4 crops from 640 to 768 columns costs less than the LSTM pass it saves; padding 8 crops
    # from 384 (or 16 from 192) would cost more.
    assert [[len(b) for b in group] for group in groups] == [[16], [8], [4, 2]]
    assert [k for group in groups for batch in group for k in batch] == list(range(len(widths)))
    assert engine._reading_groups([], [], engine._RECOGNIZER_COSTS_US[torch.float16]) == []


def test_float32_batches_hold_crops_of_one_width():
    # In float32 (CPUs without AMX) a padded column costs 7x what it costs in float16 on AMX: a batch is cut where
    # the width changes, where in float16 a batch of 8 spans three widths.
    widths = [192] * 5 + [384] * 2 + [448] * 3
    for dtype, widths_per_batch in ((torch.float32, {1}), (torch.float16, {3, 1})):
        plan = engine._reading_plan(widths, 16, torch.device("cpu"), dtype)
        assert [k for group in plan for batch in group for k in batch] == list(range(len(widths)))
        assert {len({widths[k] for k in batch}) for group in plan for batch in group} == widths_per_batch


def test_on_a_gpu_all_crops_are_one_pass_padded_with_blank_crops_that_change_no_reading():
    # The CUDA plan (one LSTM pass over every crop, the batch padded to a power of two so that cuDNN sees shapes it
    # has planned for) is decided on the host: checked here on the CPU networks.
    widths = [192] * 5 + [384] * 2
    assert engine._reading_plan(widths, 16, torch.device("cuda"), torch.float32) == [[list(range(7))]]
    assert engine._reading_plan([], 16, torch.device("cuda"), torch.float32) == []

    strings = ["SMITH JOHN", "2023-04-17", "LT KIDNEY"]
    grey, _ = _render(5, strings, "sans", 14, True)
    lines = [(grey[8 + 31 * k : 8 + 31 * k + 22] * 255).astype(np.uint8) for k in range(3)]
    readings = engine.recognize_crops(lines, EngineSettings())
    assert all(text_similarity(t, s) >= 0.8 for (t, _), s in zip(readings, strings, strict=True))  # text lines
    resized = [engine._resized(line) for line in lines]
    batch = engine._padded_batch(resized, engine._bucket(max(r.shape[1] for r in resized)))
    padded = engine._padded_to_power_of_two(batch)
    assert padded.shape == (4, *batch.shape[1:]) and np.array_equal(padded[:3], batch) and not padded[3].any()

    model = networks(EngineSettings()).recognizer
    with torch.inference_mode():
        alone = engine._logits(model, [torch.from_numpy(batch).unsqueeze(1)])
        with_blank = engine._logits(model, [torch.from_numpy(padded).unsqueeze(1)])[:3]
    assert torch.equal(alone.argmax(2), with_blank.argmax(2))
    assert torch.allclose(alone, with_blank, atol=1e-2)


def test_a_stack_dropped_for_a_doubtful_line_is_kept_when_nothing_reads_that_line():
    # The stack's reading is dropped because its lines were read on their own, one of them doubtfully. If the
    # detector then finds no text on that line, the stack's reading is the only one of its pixels: it stays.
    stack, top = Reading((0, 0, 100, 40), "Sag Livbd General", 0.46), Reading((0, 0, 100, 18), "C5-1", 0.9)
    dropped = [(stack, 1.0, [(0, 22, 90, 40)])]

    assert scan._unconfirmed_stacks(dropped, [(top, 1.0)]) == [(stack, 1.0)]
    clock = Reading((0, 22, 90, 40), "10:15:00", 0.9)
    assert scan._unconfirmed_stacks(dropped, [(top, 1.0), (clock, 1.0)]) == []


def test_deep_data_with_a_voi_lut_and_no_window_is_viewed_through_the_lut_range():
    # a CR/DX-style header: the display range comes from a VOI LUT, not from Window Center and Width
    pixels = np.full((1, 1, 64, 64), 40, np.int16)
    pixels[..., :8, :] = -1000  # air and metal widen the percentile range the view would fall back to
    pixels[..., -8:, :] = 3000
    pixels[..., 30:40, 10:50] = 100  # text 60 units above its background
    header = pydicom.Dataset()
    header.PixelRepresentation = 1
    item = pydicom.Dataset()
    item.LUTDescriptor = [401, (-160) & 0xFFFF, 16]  # inputs -160 to 240, as a 40/400 window
    header.VOILUTSequence = [item]
    view = build_ocr_view(pixels, "MONOCHROME2", header, 16).frames[0]
    assert int(view[35, 30]) - int(view[20, 30]) >= 30
