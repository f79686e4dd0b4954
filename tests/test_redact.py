"""RedactPixels / RedactPixelsd on synthetic images with text rendered at known boxes.

Every photometric interpretation, bit depth and frame count the loader produces: PHI strokes must all change, the
filled box must read as one background value per channel and frame, and every pixel outside the grown boxes (clinical
text included) must stay bit-exact.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import apply_color_lut, convert_color_space, get_decoder
from pydicom.uid import ExplicitVRLittleEndian

from monai_deid.io import LoadDicomWithMetad, SaveDicomd
from monai_deid.redact import RedactPixels, RedactPixelsd
from monai_deid.regions import TextRegion
from tests.datafiles import pydicom_data_file, pydicom_test_file

FONT = ImageFont.truetype(str(Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")), 14)
HEIGHT, WIDTH = 96, 200
MARGIN = 3


@dataclass
class Case:
    """How one kind of stored image looks: colour space, sample type, background and text values per channel."""

    pi: str
    dtype: torch.dtype
    bits_stored: int
    background: tuple[int, ...]
    text: tuple[int, ...]
    noise: int  # amplitude of the background noise, in stored units


CASES = {
    "mono2-8bit": Case("MONOCHROME2", torch.uint8, 8, (40,), (230,), 6),
    "mono1-12in16": Case("MONOCHROME1", torch.uint16, 12, (3500,), (200,), 40),
    "mono2-16bit": Case("MONOCHROME2", torch.uint16, 16, (1000,), (60000,), 300),
    # a background above int16's range: unsigned values are handled through a signed view of the same bits
    "mono2-16bit-bright": Case("MONOCHROME2", torch.uint16, 16, (50000,), (900,), 300),
    "mono2-int16": Case("MONOCHROME2", torch.int16, 16, (-1000,), (2000,), 50),
    "rgb-8bit": Case("RGB", torch.uint8, 8, (20, 30, 60), (255, 255, 0), 5),
    "ybr_full-8bit": Case("YBR_FULL", torch.uint8, 8, (60, 140, 120), (235, 128, 128), 4),
    "palette-8bit": Case("PALETTE COLOR", torch.uint8, 8, (3,), (200,), 0),
}


def text_mask(text: str, xy: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Binary stroke mask of ``text`` drawn at ``xy`` and its tight end-exclusive box."""
    canvas = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(canvas).text(xy, text, fill=255, font=FONT)
    mask = torch.from_numpy(np.asarray(canvas) >= 128)
    rows, cols = torch.nonzero(mask, as_tuple=True)
    return mask, (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)


def grown(
    box: tuple[int, int, int, int], margin: int = MARGIN, height: int = HEIGHT, width: int = WIDTH
) -> tuple[slice, slice]:
    """Row and column slices of a box plus margin, clipped to the image."""
    x0, y0, x1, y1 = box
    return slice(max(y0 - margin, 0), min(y1 + margin, height)), slice(max(x0 - margin, 0), min(x1 + margin, width))


def make_image(case: Case, frames: int, seed: int = 0) -> MetaTensor:
    """Background of the case with a per-frame offset and noise, as the loader's (C, F, H, W) MetaTensor."""
    gen = torch.Generator().manual_seed(seed)
    bg = torch.tensor(case.background, dtype=torch.long)[:, None, None, None]
    offset = torch.arange(frames, dtype=torch.long)[None, :, None, None] * (2 if case.pi == "PALETTE COLOR" else 7)
    noise = torch.randint(-case.noise, case.noise + 1, (len(case.background), frames, HEIGHT, WIDTH), generator=gen)
    pixels = (bg + offset + noise).to(case.dtype)
    if case.pi == "PALETTE COLOR":
        # the background index is the most frequent one but under half: the rest is spread over other indices
        speckle = torch.rand(pixels.shape, generator=gen) < 0.6
        pixels[speckle] = torch.randint(20, 30, pixels.shape, generator=gen, dtype=torch.uint8)[speckle]
    meta = {
        "photometric_interpretation": case.pi,
        "bits_stored": case.bits_stored,
        "bits_allocated": torch.iinfo(case.dtype).bits,
        "pixel_representation": int(torch.iinfo(case.dtype).min < 0),
        "samples_per_pixel": len(case.background),
        "frames": frames,
        "rows": HEIGHT,
        "columns": WIDTH,
    }
    return MetaTensor(pixels, meta=meta)


def burn(img: MetaTensor, mask: torch.Tensor, value: tuple[int, ...], frames: tuple[int, ...]) -> None:
    """Write text strokes into ``img`` on ``frames``, in place."""
    # torch has no masked writes for uint16: go through int64 and copy back
    pixels = img.as_tensor()
    strokes = pixels.long()
    for f in frames:
        strokes[:, f] = torch.where(mask, torch.tensor(value)[:, None, None], strokes[:, f])
    pixels.copy_(strokes.to(pixels.dtype))


def palette_header() -> Dataset:
    """A PALETTE COLOR header with real 16-bit LUTs: index i -> a distinct colour."""
    ds = Dataset()
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.SamplesPerPixel = 1
    ds.BitsAllocated = ds.BitsStored = 8
    ds.PixelRepresentation = 0
    index = np.arange(256, dtype=np.uint16)
    for name, lut in (("Red", index * 257), ("Green", (255 - index) * 257), ("Blue", (index * 7 % 256) * 257)):
        setattr(ds, f"{name}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{name}PaletteColorLookupTableData", lut.astype("<u2").tobytes())
    return ds


def to_rgb(values: np.ndarray, case: Case) -> np.ndarray:
    """(C, ...) stored values -> (..., 3) RGB colour, the way a viewer shows them."""
    if case.pi == "PALETTE COLOR":
        return apply_color_lut(values[0], palette_header())
    if case.pi.startswith("YBR"):
        return convert_color_space(np.moveaxis(values, 0, -1), case.pi, "RGB")
    return np.moveaxis(values, 0, -1)


def scene(case: Case, frames: int) -> tuple[MetaTensor, list[TextRegion], dict[str, torch.Tensor]]:
    """An image with a PHI name, an unclassified ID and clinical text, all on every frame."""
    img = make_image(case, frames)
    every = tuple(range(frames))
    masks, regions = {}, []
    for name, text, xy, is_phi in (
        ("phi", "DOE^JANE 1970-01-01", (6, 4), True),
        ("unclassified", "ID 8812345", (100, 40), None),
        ("clinical", "AXIAL T1 L", (6, 70), False),
    ):
        mask, box = text_mask(text, xy)
        burn(img, mask, case.text, every)
        masks[name] = mask
        regions.append(TextRegion(frames=every, box=box, text=text, confidence=0.99, is_phi=is_phi))
    return img, regions, masks


def redacted_area(regions: list[TextRegion]) -> torch.Tensor:
    """(H, W) mask of the grown boxes of the regions that must be redacted."""
    area = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    for region in regions:
        if region.is_phi is not False:
            area[grown(region.box)] = True
    return area


@pytest.mark.parametrize("frames", [1, 4])
@pytest.mark.parametrize("name", list(CASES))
def test_phi_boxes_become_uniform_background_and_the_rest_is_bit_exact(name: str, frames: int) -> None:
    case = CASES[name]
    img, regions, masks = scene(case, frames)
    original = img.clone()
    data = {"image": img, "image_text": regions}
    out = RedactPixelsd(keys="image", margin=MARGIN)(data)["image"]

    assert isinstance(out, MetaTensor)
    assert out.dtype == case.dtype and out.shape == original.shape
    assert out.meta["pixels_redacted"] is True
    assert out.meta["photometric_interpretation"] == case.pi
    assert torch.equal(img, original), "the input tensor must not be modified"
    before, after = original.as_tensor().long(), out.as_tensor().long()

    # every pixel outside the grown PHI / unclassified boxes is bit-exact, clinical text included
    area = redacted_area(regions)
    assert torch.equal(after[..., ~area], before[..., ~area])
    assert torch.equal(after[..., masks["clinical"]], before[..., masks["clinical"]])

    signed = torch.iinfo(case.dtype).min < 0
    low, high = (
        (-(2 ** (case.bits_stored - 1)), 2 ** (case.bits_stored - 1) - 1) if signed else (0, 2**case.bits_stored - 1)
    )
    for region, key in ((regions[0], "phi"), (regions[1], "unclassified")):
        rows, cols = grown(region.box)
        box = after[:, :, rows, cols].flatten(2)
        # every stroke pixel changed, on every frame
        assert (after[..., masks[key]] != before[..., masks[key]]).all()
        # one value per channel and frame: no trace of strokes
        assert (box == box[..., :1]).all()
        fill = box[..., 0]
        # that value is the local background: inside the range of the ring around the box, within the bit depth
        ring = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
        ring[grown(region.box, MARGIN + 3)] = True
        ring[rows, cols] = False
        ring &= ~masks["phi"] & ~masks["unclassified"] & ~masks["clinical"]
        around = before[..., ring]
        assert (fill >= around.min(-1).values).all() and (fill <= around.max(-1).values).all()
        assert low <= int(fill.min()) and int(fill.max()) <= high
        if case.pi == "PALETTE COLOR":
            # the index is the background's (the most frequent one), so the LUT shows the background colour
            background = 3 + 2 * torch.arange(frames)
            assert torch.equal(fill[0], background)
            shown, expected = to_rgb(box.numpy(), case), to_rgb(background.numpy()[None, :, None], case)
            assert (shown == expected).all()
        if case.pi == "YBR_FULL":
            # the colour a viewer shows is the background colour (within YBR->RGB rounding), not a bright block
            shown = to_rgb(fill.numpy().astype(np.uint8)[:, :, None], case)[:, 0]
            expected = to_rgb(
                (torch.tensor(case.background)[:, None] + 7 * torch.arange(frames)).numpy().astype(np.uint8)[..., None],
                case,
            )[:, 0]
            assert np.abs(shown.astype(int) - expected.astype(int)).max() <= 2 * case.noise + 2


def ring_median(frame: torch.Tensor, box: tuple[int, int, int, int], ring: int = 3) -> torch.Tensor:
    """Lower median per channel of the ``ring`` pixels around the grown ``box`` of one ``(C, H, W)`` frame."""
    around = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    around[grown(box, MARGIN + ring)] = True
    around[grown(box)] = False
    return frame[:, around].long().median(dim=-1).values


@pytest.mark.parametrize("frames", [(1, 3), (1, 2, 4), (0, 1, 2, 3, 4, 5)])
def test_text_on_some_frames_is_redacted_only_there(frames: tuple[int, ...]) -> None:
    case = CASES["mono2-16bit"]
    img = make_image(case, 6)
    mask, box = text_mask("SMITH^JOHN", (20, 30))
    burn(img, mask, case.text, frames)
    original = img.clone().as_tensor()
    out = RedactPixels(margin=MARGIN)(img, [TextRegion(frames=frames, box=box, text="x", confidence=0.9, is_phi=True)])
    out = out.as_tensor()

    rows, cols = grown(box)
    outside = torch.ones(HEIGHT, WIDTH, dtype=torch.bool)
    outside[rows, cols] = False
    for f in range(6):
        if f not in frames:
            assert torch.equal(out[:, f], original[:, f])
            continue
        filled = out[:, f, rows, cols]
        # this frame's own background, not another frame's
        assert (filled.long() == ring_median(original[:, f], box)[:, None, None]).all()
        assert (out[:, f][:, mask] != original[:, f][:, mask]).all()
        assert torch.equal(out[:, f][:, outside], original[:, f][:, outside])


def test_a_box_repeated_on_frames_is_one_box() -> None:
    # a clock redrawn on every other frame of a cine loop: one region per frame, same box, different text
    case = CASES["rgb-8bit"]
    img = make_image(case, 6)
    mask, box = text_mask("12:00:01", (120, 70))
    burn(img, mask, case.text, (0, 2, 4))
    clock = [TextRegion(frames=(f,), box=box, text=f"12:00:0{f}", confidence=0.9, is_phi=True) for f in (0, 2, 4)]
    out = RedactPixels(margin=MARGIN)(img, clock).as_tensor()
    rows, cols = grown(box)
    for f in range(6):
        if f % 2:
            assert torch.equal(out[:, f], img.as_tensor()[:, f])
        else:
            assert (out[:, f, rows, cols].long() == ring_median(img.as_tensor()[:, f], box)[:, None, None]).all()


def test_background_ignores_neighbouring_text() -> None:
    # a PHI box in a small gap between dense clinical text: most of its ring is bright strokes, the fill must not be
    case = CASES["mono2-8bit"]
    img = make_image(case, 1)
    clinical = [(10, 10, 60, 39), (10, 51, 60, 60), (10, 39, 29, 51), (41, 39, 60, 51)]
    for x0, y0, x1, y1 in clinical:
        img.as_tensor()[:, :, y0:y1, x0:x1] = 250
    regions = [TextRegion(frames=(0,), box=box, text="y", confidence=0.9, is_phi=False) for box in clinical]
    img.as_tensor()[:, :, 43:47, 33:37] = 250
    regions.append(TextRegion(frames=(0,), box=(33, 43, 37, 47), text="x", confidence=0.9, is_phi=True))
    out = RedactPixels(margin=1, ring=6)(img, regions).as_tensor()
    fill = out[0, 0, 42:48, 32:38]
    assert (fill == fill[0, 0]).all()
    assert abs(int(fill[0, 0]) - case.background[0]) <= case.noise
    outside = torch.ones(HEIGHT, WIDTH, dtype=torch.bool)
    outside[42:48, 32:38] = False
    assert torch.equal(out[..., outside], img.as_tensor()[..., outside])


def test_margins_stop_at_kept_text_and_phi_boxes_are_filled_whole() -> None:
    # Ultrasound header lines 2 pixels apart (pydicom-data's US1): a 3-pixel margin around the PHI line erased the
    # top row of the kept line below it, which then read back as garbage.
    case = CASES["mono2-8bit"]
    img = make_image(case, 1)
    phi, below, beside, under_core = (20, 20, 60, 34), (20, 36, 70, 50), (62, 20, 90, 34), (30, 30, 40, 40)
    for x0, y0, x1, y1 in (phi, below, beside):
        img.as_tensor()[:, :, y0:y1, x0:x1] = 250
    regions = [
        TextRegion(frames=(0,), box=phi, text="DOE", confidence=0.9, is_phi=True),
        TextRegion(frames=(0,), box=below, text="GEN", confidence=0.9, is_phi=False),
        TextRegion(frames=(0,), box=beside, text="2D", confidence=0.9, is_phi=False),
    ]
    out = RedactPixels(margin=MARGIN)(img, regions).as_tensor()
    source = img.as_tensor()
    for x0, y0, x1, y1 in (below, beside):
        assert torch.equal(out[..., y0:y1, x0:x1], source[..., y0:y1, x0:x1])  # kept lines bit-exact
    filled = out[0, 0, 17:36, 17:62]  # the PHI box, its margin up and left, up to the kept lines below and right
    assert (filled == filled[0, 0]).all() and int(filled[0, 0]) != 250

    # Kept text inside the PHI box does not shrink it.
    regions[1] = TextRegion(frames=(0,), box=under_core, text="GEN", confidence=0.9, is_phi=False)
    out = RedactPixels(margin=MARGIN)(img, regions).as_tensor()
    filled = out[0, 0, 17:37, 17:62]
    assert (filled == filled[0, 0]).all()


def test_constant_fill_per_channel_and_range_checks() -> None:
    case = CASES["ybr_full-8bit"]
    img, regions, _ = scene(case, 2)
    out = RedactPixels(fill=(16, 128, 128))(img, regions).as_tensor()
    rows, cols = grown(regions[0].box)
    assert (out[:, :, rows, cols] == torch.tensor([16, 128, 128], dtype=torch.uint8)[:, None, None, None]).all()

    grey = CASES["mono1-12in16"]
    img12, regions12, _ = scene(grey, 1)
    assert (RedactPixels(fill=4095)(img12, regions12).as_tensor()[:, :, rows, cols] == 4095).all()
    with pytest.raises(ValueError, match="integer in"):
        RedactPixels(fill=4096)(img12, regions12)
    with pytest.raises(ValueError, match="channels"):
        RedactPixels(fill=(0, 0))(img, regions)
    with pytest.raises(ValueError, match="fill must be"):
        RedactPixels(fill="black")


def test_signed_constant_fill_and_bad_regions() -> None:
    case = CASES["mono2-int16"]
    img, regions, _ = scene(case, 1)
    rows, cols = grown(regions[0].box)
    assert (RedactPixels(fill=-1024)(img, regions).as_tensor()[:, :, rows, cols] == -1024).all()
    with pytest.raises(ValueError, match="frame outside"):
        RedactPixels()(img, [TextRegion(frames=(1,), box=(0, 0, 5, 5), text="x", confidence=1.0, is_phi=True)])
    with pytest.raises(ValueError, match="end before"):
        RedactPixels()(img, [TextRegion(frames=(0,), box=(9, 0, 5, 5), text="x", confidence=1.0, is_phi=True)])


def test_empty_frames_means_every_frame_and_box_at_the_edge_is_clipped() -> None:
    case = CASES["rgb-8bit"]
    img = make_image(case, 3)
    region = TextRegion(frames=(), box=(WIDTH - 10, HEIGHT - 6, WIDTH + 20, HEIGHT + 5), text="x", confidence=1.0)
    out = RedactPixels(margin=MARGIN)(img, [region]).as_tensor()
    corner = out[:, :, HEIGHT - 9 :, WIDTH - 13 :]
    assert (corner == corner[..., :1, :1]).all()
    assert torch.equal(out[:, :, : HEIGHT - 9], img.as_tensor()[:, :, : HEIGHT - 9])


def test_fractional_boxes_round_outwards() -> None:
    img = torch.zeros(1, 1, HEIGHT, WIDTH, dtype=torch.uint8)
    img[0, 0, 20:26, 10:31] = 200  # text touching every edge of the box (10.6, 20.2) - (30.4, 25.9)
    region = TextRegion(frames=(0,), box=(10.6, 20.2, 30.4, 25.9), text="x", confidence=1.0, is_phi=True)
    out = RedactPixels(margin=0)(img, [region])
    assert int(out.count_nonzero()) == 0


def test_nothing_to_redact_keeps_the_input_and_flags_false() -> None:
    case = CASES["mono2-8bit"]
    img, regions, _ = scene(case, 1)
    clinical_only = [r for r in regions if r.is_phi is False]
    data = Compose([RedactPixelsd(keys="image")])({"image": img, "image_text": clinical_only})
    assert data["image"] is img
    assert data["image"].meta["pixels_redacted"] is False


def test_pixels_redacted_says_whether_a_pixel_changed() -> None:
    case = Case("MONOCHROME2", torch.uint16, 12, (500,), (4000,), 0)
    img = make_image(case, 2)  # uniform background: filling a box without text changes nothing
    blank = [TextRegion(frames=(0, 1), box=(10, 10, 40, 20), text="x", confidence=0.5, is_phi=True)]
    assert RedactPixelsd(keys="image")({"image": img, "image_text": blank})["image"].meta["pixels_redacted"] is False
    mask, box = text_mask("DOE", (60, 30))
    burn(img, mask, case.text, (1,))
    phi = [TextRegion(frames=(1,), box=box, text="DOE", confidence=0.9, is_phi=True)]
    once = RedactPixelsd(keys="image")({"image": img, "image_text": phi})["image"]
    assert once.meta["pixels_redacted"] is True
    # a second pass over the redacted image changes nothing but keeps the flag
    twice = RedactPixelsd(keys="image")({"image": once, "image_text": phi})["image"]
    assert torch.equal(twice, once) and twice.meta["pixels_redacted"] is True


def test_plain_tensors_of_any_dtype() -> None:
    mask, box = text_mask("DOE", (60, 30))
    region = TextRegion(frames=(), box=box, text="DOE", confidence=0.9, is_phi=True)
    for dtype in (torch.int8, torch.int32, torch.uint32, torch.float32):
        img = torch.where(mask, 100, 5).expand(1, 2, HEIGHT, WIDTH).to(dtype)
        out = RedactPixels()(img, [region], photometric_interpretation="MONOCHROME2")
        assert type(out) is torch.Tensor and out.dtype == dtype
        assert (out.double() == 5).all()


def test_dictionary_wrapper_requires_detection() -> None:
    img, _, _ = scene(CASES["mono2-8bit"], 1)
    with pytest.raises(KeyError, match="DetectBurnedInText"):
        RedactPixelsd(keys="image")({"image": img})
    with pytest.raises(TypeError, match="MetaTensor"):
        RedactPixelsd(keys="image")({"image": img.as_tensor(), "image_text": []})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mono2-16bit", "ybr_full-8bit"])
def test_redacted_text_is_unreadable_to_the_ocr(name: str) -> None:
    # the real stages before and after: EasyOCR finds the text, the header matcher labels it, and after redaction
    # the same OCR and classifier (what VerifyDeidentified runs) find no PHI while the clinical label still reads
    from monai_deid.ocr import DetectBurnedInText, DetectBurnedInTextd  # imported here: heavy, slow tests only
    from monai_deid.phi import ClassifyPHI, ClassifyPHId

    case = CASES[name]
    img = make_image(case, 2)
    for text, xy in (("HARTLEY MARGARET", (6, 6)), ("ID 4471829", (110, 40)), ("AXIAL T2", (6, 70))):
        burn(img, text_mask(text, xy)[0], case.text, (0, 1))
    header = Dataset()
    header.PatientName, header.PatientID = "Hartley^Margaret", "4471829"
    header.PhotometricInterpretation, header.BitsStored = case.pi, case.bits_stored
    stages = Compose([DetectBurnedInTextd(keys="image"), ClassifyPHId(keys="image", ner_model=None)])
    data = stages({"image": img, "image_dicom": header})
    assert sorted(r.reason for r in data["image_text"] if r.is_phi) == ["header:PatientID", "header:PatientName"]

    redacted = RedactPixelsd(keys="image")(data)["image"]
    again = ClassifyPHI(ner_model=None)(DetectBurnedInText()(redacted, header), header)
    assert [r for r in again if r.is_phi is not False] == []
    assert ["".join(r.text.split()) for r in again] == ["AXIALT2"]  # the label still reads (spaces aside)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(CASES))
def test_cuda_matches_cpu(name: str) -> None:
    img, regions, _ = scene(CASES[name], 4)
    regions.append(TextRegion(frames=(0, 2), box=(150, 60, 190, 80), text="x", confidence=1.0, is_phi=True))
    cpu = RedactPixels()(img, regions)
    gpu = RedactPixels()(img.to("cuda"), regions)
    assert gpu.device.type == "cuda" and gpu.dtype == cpu.dtype
    assert torch.equal(gpu.cpu().as_tensor(), cpu.as_tensor())


# --- redact, then save through SaveDicom: real files decoded by pydicom, DCMTK and GDCM ------------------------------

RLE, JPEG_LS, J2K = "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"
#: DCMTK's tools that decompress a transfer syntax to native (DCMTK has no JPEG 2000 codec: parse-only there)
DCMTK_DECOMPRESS = {
    RLE: "dcmdrle",
    JPEG_LS: "dcmdjpls",
    "1.2.840.10008.1.2.1": "dcmconv",
    "1.2.840.10008.1.2": "dcmconv",
}


@dataclass
class RealFile:
    path: Path
    phi: list[tuple[tuple[int, ...], tuple[int, int, int, int]]]  # (frames, box) of the PHI regions
    clinical: tuple[int, int, int, int]


REAL_FILES = {
    # YBR_RCT JPEG 2000 lossless: the codec returns RGB, which must go back as a YBR_RCT codestream
    "ybr-j2k": RealFile(pydicom_data_file("US1_J2KR.dcm"), [((), (10, 10, 200, 40))], (300, 400, 500, 440)),
    "jpeg-ls-12bit-10frames": RealFile(
        pydicom_data_file("emri_small_jpeg_ls_lossless.dcm"), [((2, 5), (4, 4, 30, 12))], (4, 50, 40, 60)
    ),
    "rle-palette": RealFile(pydicom_data_file("OBXXXX1A_rle.dcm"), [((0,), (20, 20, 300, 50))], (400, 500, 700, 540)),
    "palette": RealFile(pydicom_data_file("OT-PAL-8-face.dcm"), [((0,), (30, 30, 250, 60))], (300, 400, 600, 440)),
    "rgb-2frames": RealFile(pydicom_data_file("SC_rgb_2frame.dcm"), [((1,), (5, 5, 60, 20))], (5, 70, 60, 90)),
    "ybr-full": RealFile(pydicom_data_file("SC_ybr_full_uncompressed.dcm"), [((0,), (5, 5, 60, 20))], (5, 70, 60, 90)),
    "ybr-jpeg-baseline-30frames": RealFile(
        pydicom_test_file("examples_ybr_color.dcm"),
        [((), (10, 10, 150, 30)), ((3, 4), (200, 200, 300, 230))],
        (10, 100, 100, 120),
    ),
    "rgb-rle-2frames": RealFile(
        pydicom_test_file("SC_rgb_rle_2frame.dcm"),
        [((0, 1), (5, 5, 60, 20)), ((0,), (60, 40, 95, 55))],
        (5, 70, 60, 90),
    ),
}


def redact_and_save(real: RealFile, output_dir: Path) -> tuple[dict, MetaTensor]:
    """LoadDicomWithMetad -> RedactPixelsd -> SaveDicomd; returns the data dict and the pixels as loaded."""
    data = LoadDicomWithMetad(keys="image")({"image": real.path})
    original = data["image"].clone()
    data["image_text"] = [TextRegion(frames=f, box=b, text="x", confidence=0.9, is_phi=True) for f, b in real.phi]
    data["image_text"].append(TextRegion(frames=(), box=real.clinical, text="y", confidence=0.9, is_phi=False))
    data = Compose([RedactPixelsd(keys="image"), SaveDicomd(keys="image", output_dir=output_dir)])(data)
    return data, original


def as_frames(array: np.ndarray, frames: int, rows: int, columns: int, samples: int) -> np.ndarray:
    """Any decoder's output as ``(F, H, W, C)``."""
    return np.asarray(array).reshape(frames, rows, columns, samples)


def decode_raw(path: Path) -> tuple[np.ndarray, str]:
    """Stored values as the codec gives them (no YBR->RGB step of pydicom's own) and their colour space."""
    ds = pydicom.dcmread(path)
    array, info = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, raw=True)
    shape = (int(ds.get("NumberOfFrames") or 1), ds.Rows, ds.Columns, ds.SamplesPerPixel)
    return as_frames(array, *shape), str(info["photometric_interpretation"])


def rendered_rgb(values: np.ndarray, pi: str, header: Dataset) -> np.ndarray:
    """``(F, H, W, C)`` stored values -> the RGB a viewer shows (palette through the header's LUT)."""
    if pi == "PALETTE COLOR":
        return apply_color_lut(values[..., 0], header)
    if pi.startswith("YBR_FULL"):
        return convert_color_space(values, pi, "RGB")
    return values


def j2k_uses_mct(ds: Dataset) -> bool:
    """Whether the first frame's JPEG 2000 codestream applies the multiple component transform (COD marker)."""
    frame = next(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames") or 1)))
    cod = frame.index(b"\xff\x52")
    # COD: marker (2), Lcod (2), Scod (1), progression order (1), layers (2), then the MCT flag
    return frame[cod + 8] == 1


def run_tool(*args: str | Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{args[0]} failed: {result.stderr[-500:]}"
    return result


def read_pnm_frames(folder: Path, frames: int) -> np.ndarray:
    """dcm2pnm +Fa output (out.0.ppm, out.1.ppm, ...) as ``(F, H, W, C)``."""
    images = [np.asarray(Image.open(folder / f"out.{f}.ppm").convert("RGB")) for f in range(frames)]
    return np.stack(images)


@pytest.mark.parametrize("name", list(REAL_FILES))
def test_redact_then_save_decodes_everywhere(name: str, tmp_path: Path) -> None:
    real = REAL_FILES[name]
    data, original = redact_and_save(real, tmp_path / "out")
    redacted, header, output = data["image"], data["image_dicom"], data["image_output"]
    meta = redacted.meta
    pi = meta["photometric_interpretation"]
    samples, n_frames, rows, columns = redacted.shape
    expected = redacted.numpy().transpose(1, 2, 3, 0)
    source = pydicom.dcmread(real.path, force=True, stop_before_pixels=True)
    if source.PhotometricInterpretation == "YBR_FULL_422" and source.SOPClassUID.name.startswith("Ultrasound"):
        # the ultrasound IODs do not allow the decoded YBR_FULL: the file holds the same colours as RGB
        expected, pi = convert_color_space(expected, "YBR_FULL", "RGB"), "RGB"

    # the redaction: PHI boxes uniform on their frames, everything else bit-exact with the decoded input
    assert meta["pixels_redacted"] is True
    area = torch.zeros(n_frames, rows, columns, dtype=torch.bool)
    for frames, box in real.phi:
        rows_, cols_ = grown(box, MARGIN, rows, columns)
        for f in frames or range(n_frames):
            area[f, rows_, cols_] = True
            block = redacted.as_tensor()[:, f, rows_, cols_].flatten(1)
            assert (block == block[:, :1]).all()
    assert torch.equal(redacted.as_tensor()[:, ~area], original.as_tensor()[:, ~area])

    # the file: same colour model, bit depth and palette as the source, readable header
    written = pydicom.dcmread(output)
    for keyword in ("BitsAllocated", "BitsStored", "PixelRepresentation", "SamplesPerPixel", "Rows", "Columns"):
        assert written[keyword].value == source[keyword].value
    if pi == "PALETTE COLOR":
        assert written.RedPaletteColorLookupTableData == source.RedPaletteColorLookupTableData
    # lossless sources keep their transfer syntax; a lossy one goes native, its history kept
    if meta["lossy_source"]:
        assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert written.LossyImageCompression == "01"
    else:
        assert written.file_meta.TransferSyntaxUID == meta["transfer_syntax"]
    if written.file_meta.TransferSyntaxUID == J2K and samples == 3:
        # a YBR_RCT source stays YBR_RCT, and the label matches the codestream's reversible colour transform
        assert str(written.PhotometricInterpretation) == str(source.PhotometricInterpretation) == "YBR_RCT"
        assert j2k_uses_mct(written)
    else:
        assert str(written.PhotometricInterpretation) == pi

    # pydicom: stored values and rendered colour
    values, decoded_pi = decode_raw(output)
    assert decoded_pi == pi
    assert np.array_equal(values, expected)
    shown = as_frames(written.pixel_array, n_frames, rows, columns, -1)
    if pi == "PALETTE COLOR":
        shown = apply_color_lut(shown[..., 0], written)
    assert np.array_equal(shown, rendered_rgb(expected, pi, header))

    # DCMTK: the header parses; pixels decompressed by DCMTK equal ours; dcm2pnm shows the right colours
    run_tool("dcmdump", "-q", "-E", output)
    syntax = str(written.file_meta.TransferSyntaxUID)
    if syntax in DCMTK_DECOMPRESS:
        native = tmp_path / "dcmtk.dcm"
        run_tool(DCMTK_DECOMPRESS[syntax], output, native)
        assert np.array_equal(decode_raw(native)[0], expected)
        if samples == 3 or pi == "PALETTE COLOR":
            (tmp_path / "pnm").mkdir()
            run_tool("dcm2pnm", "+Fa", output, tmp_path / "pnm" / "out")
            reference = rendered_rgb(expected, pi, header)
            if reference.dtype == np.uint16:  # 16-bit palette entries: DCMTK shows their high byte
                reference = (reference >> 8).astype(np.uint8)
            difference = np.abs(read_pnm_frames(tmp_path / "pnm", n_frames).astype(int) - reference.astype(int))
            # DCMTK's integer YBR->RGB arithmetic lands up to 2 levels from pydicom's float one (a mislabelled colour
            # space is off by tens to hundreds); every other colour model must match exactly
            assert difference.max() <= (2 if pi.startswith("YBR") else 0)
    else:
        assert syntax == J2K  # the only syntax of these files that DCMTK cannot decode (no JPEG 2000 codec)

    # GDCM: decompressed by gdcmconv, read back
    gdcm_native = tmp_path / "gdcm.dcm"
    run_tool("gdcmconv", "--raw", output, gdcm_native)
    gdcm_values, gdcm_pi = decode_raw(gdcm_native)
    assert gdcm_pi == pi
    assert np.array_equal(gdcm_values, expected)
