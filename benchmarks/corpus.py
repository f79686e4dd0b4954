"""The fixed benchmark corpus: generated ultrasound with planted burned-in PHI, real pydicom-data files, a cine.

``build_corpus(root)`` writes ``root/corpus/<set>/*.dcm`` and the answer key ``root/answer_key.json`` (outside the
corpus, so no tool under test can read it). Everything is deterministic: fixed seeds, fixed synthetic patients,
UIDs derived from fixed strings. The sets:

- ``us_single``: single-frame ultrasound. Six generated files render names, IDs, dates, institutions, physicians and
  phone numbers (PHI) plus clinical labels (not PHI) with DejaVu fonts onto real ultrasound pixels (pydicom-data's
  ``US1_UNCR.dcm`` RGB and ``OBXXXX1A.dcm`` palette turned grey) or synthetic speckle, and record each string with its
  box. Two real pydicom-data ultrasound files (RGB, palette colour) come beside them.
- ``cine``: a 30-frame RGB ultrasound cine with a static PHI overlay and one PHI label on a single frame, and a
  single-frame file of its first frame.
- ``notext``: CT and MR without burned-in text (pydicom's ``CT_small.dcm`` / ``MR_small.dcm`` as copies with their
  own UIDs, pydicom-data's 512x512 CT and 1024x1024 MR).
- ``compressed``: RLE, JPEG 2000, JPEG-LS and JPEG lossless files from pydicom-data, without burned-in text.

Every set starts with warm-up files (``000_warmup_*.dcm``: two in ``us_single``, where two workers each load their
own models, one elsewhere; mirrored copies of a generated file), excluded from every figure, so per-file timings
never include model loading.

Run ``python -m benchmarks.corpus FOLDER`` to write the corpus alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
from PIL import Image, ImageDraw, ImageFont
from pydicom.pixels import apply_color_lut
from pydicom.uid import (
    RLELossless,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from monai_deid.samples import SamplePatient, make_dataset

__all__ = ["CORPUS_SETS", "PlantedText", "build_corpus", "is_warmup", "load_answer_key", "pydicom_data_folder"]

PYDICOM_TESTS = Path(pydicom.data.__file__).parent / "test_files"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
CORPUS_SETS = ("us_single", "cine", "notext", "compressed")
KEY_VERSION = 1

#: Real single-frame ultrasound from pydicom-data: RGB with the scanner's own text, and palette colour (which
#: Presidio cannot handle). Kept few: on this 2-core machine each ultrasound file costs seconds of OCR per tool.
REAL_US = ("US1_UNCR.dcm", "OBXXXX1A.dcm")
#: Compressed files without burned-in text: RLE, JPEG 2000 lossless, JPEG-LS lossless (10-frame MR), JPEG 2000 CT,
#: JPEG lossless NM.
REAL_COMPRESSED = (
    "emri_small_RLE.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "emri_small_jpeg_ls_lossless.dcm",
    "693_J2KR.dcm",
    "JPEG-LL.dcm",
)
NOTEXT_COPIES = 3

PATIENTS = (
    SamplePatient(
        "HARTLEY^MARGARET", "20481937", "19560314", "A7734120", "20240219", "RIVERSIDE GENERAL HOSP", "OKAFOR^CHIDI"
    ),
    SamplePatient(
        "NAKAMURA^KENJI", "55092214", "19710802", "A1190457", "20240307", "NORTHGATE MEDICAL CENTER", "LINDQVIST^ERIK"
    ),
    SamplePatient(
        "FITZGERALD^ANNE", "31877605", "19880126", "A6621983", "20231130", "ST BRIGID'S INFIRMARY", "MORALES^SOFIA"
    ),
)
PHONES = ("TEL 617-555-0142", "TEL 212-555-0199", "TEL 415-555-0173")


@dataclass
class PlantedText:
    """One string rendered into a file, as the answer key records it.

    Args:
        text: the rendered string (PHI for ``phi=True``).
        box: ``(x0, y0, x1, y1)``, end-exclusive, in stored-image pixels, padded 2 px around the glyphs.
        frames: the frames the string is on.
        phi: whether a de-identifier must remove it.
        kind: what it is (``name``, ``id``, ``date``, ``institution``, ``physician``, ``phone``, ``label``).
        in_header: whether the same value is also in the file's header (a header-matching tool can find it there).
    """

    text: str
    box: tuple[int, int, int, int]
    frames: list[int]
    phi: bool
    kind: str
    in_header: bool = True


@dataclass
class _Canvas:
    """A PIL image to draw on, and the strings planted in it."""

    image: Image.Image
    planted: list[PlantedText] = field(default_factory=list)

    def put(
        self,
        x: int,
        y: int,
        text: str,
        kind: str,
        *,
        prefix: str = "",
        phi: bool = True,
        size: int = 16,
        font: str = "DejaVuSans.ttf",
        fill: int | tuple[int, int, int] = 255,
        in_header: bool = True,
    ) -> None:
        """Draw ``prefix`` (not keyed, e.g. ``"ID:"``) then ``text`` at ``(x, y)`` and key ``text`` with its box."""
        draw = ImageDraw.Draw(self.image)
        face = ImageFont.truetype(str(FONT_DIR / font), size)
        if prefix:
            draw.text((x, y), prefix, fill=fill, font=face)
            x += int(draw.textlength(prefix + " ", font=face))
        draw.text((x, y), text, fill=fill, font=face)
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=face)
        width, height = self.image.size
        box = (max(0, x0 - 2), max(0, y0 - 2), min(width, x1 + 2), min(height, y1 + 2))
        self.planted.append(PlantedText(text, box, [0], phi, kind, in_header))


def pydicom_data_folder() -> Path:
    """pydicom-data's folder of real files (imported here: scripts that write their own files run without it)."""
    import data_store

    return Path(data_store.__file__).parent / "data"


def _display_name(name: str) -> str:
    last, first = name.split("^")
    return f"{last}, {first}"


def _slash_date(da: str) -> str:
    return f"{da[4:6]}/{da[6:]}/{da[:4]}"


def _us1_rgb() -> np.ndarray:
    """US1_UNCR's RGB pixels with its own text bands blanked, so only planted text is in them."""
    pixels = pydicom.dcmread(pydicom_data_folder() / "US1_UNCR.dcm").pixel_array.copy()
    pixels[:105] = 0
    pixels[440:, 380:] = 0
    return pixels


def _ob_grey() -> np.ndarray:
    """OBXXXX1A's palette pixels as 8-bit grey, with its top band cleared to a flat band colour."""
    ds = pydicom.dcmread(pydicom_data_folder() / "OBXXXX1A.dcm")
    rgb = apply_color_lut(ds.pixel_array, ds).astype(np.float32) / 257.0
    grey = (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).round().clip(0, 255).astype(np.uint8)
    grey[:60] = 45
    return grey


def _speckle(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """A synthetic sector scan: Rayleigh speckle inside a fan, black outside."""
    yy, xx = np.mgrid[:size, :size]
    apex = size // 2
    fan = (np.hypot(yy - 40, xx - apex) < size * 0.82) & (np.abs(xx - apex) < (yy - 40) * 0.75)
    speckle = rng.rayleigh(38, (size, size)) * (1 - yy / (size * 1.6))
    return np.where(fan, speckle, 0).clip(0, 255).astype(np.uint8)


def _plant_us1(canvas: _Canvas, p: SamplePatient, phone: str, variant: int) -> None:
    """The layout of a GE-like RGB scanner: patient block top left, date top right, referrer and phone below."""
    yellow, white, cyan = (255, 230, 0), (255, 255, 255), (120, 230, 255)
    colour = white if variant == 0 else yellow
    font = "DejaVuSans.ttf" if variant == 0 else "DejaVuSansMono.ttf"
    canvas.put(18, 8, p.institution, "institution", size=15, font=font, fill=colour)
    canvas.put(18, 30, _display_name(p.name), "name", size=17, font=font, fill=colour)
    canvas.put(18, 54, p.patient_id, "id", prefix="ID:", size=15, font=font, fill=colour)
    canvas.put(18, 76, _slash_date(p.birth_date), "date", prefix="DOB", size=14, font=font, fill=colour)
    canvas.put(440, 8, _slash_date(p.study_date), "date", size=15, font=font, fill=white)
    canvas.put(440, 30, "MSK 12L", "label", phi=False, size=15, font=font, fill=white)
    canvas.put(440, 54, "CINE 0118", "label", phi=False, size=15, font=font, fill=white)
    canvas.put(20, 392, _display_name(p.physician), "physician", prefix="Ref:", size=14, fill=cyan)
    canvas.put(20, 414, phone, "phone", size=14, fill=cyan, in_header=False)
    canvas.put(400, 452, "TIS 0.4  MI 0.8", "label", phi=False, size=14, fill=white)


def _plant_ob(canvas: _Canvas, p: SamplePatient, phone: str) -> None:
    """The layout of a Philips-like grey scanner: a header band, accession and referrer in the left column."""
    canvas.put(10, 8, _display_name(p.name), "name", size=18, font="DejaVuSans-Bold.ttf", fill=255)
    canvas.put(10, 34, p.patient_id, "id", prefix="MRN", size=16, fill=230)
    canvas.put(330, 8, p.institution, "institution", size=16, fill=255)
    canvas.put(600, 34, _slash_date(p.study_date), "date", size=16, fill=230)
    canvas.put(10, 300, p.accession, "id", prefix="Acc#", size=15, fill=210)
    canvas.put(10, 324, _display_name(p.physician), "physician", prefix="Dr", size=15, fill=210)
    canvas.put(10, 348, phone, "phone", size=15, fill=210, in_header=False)
    canvas.put(560, 560, "OB 2D  GEN", "label", phi=False, size=16, fill=220)


def _plant_speckle(canvas: _Canvas, p: SamplePatient, phone: str) -> None:
    """Corner text on a synthetic sector scan, smaller fonts than the scanners above."""
    canvas.put(6, 6, p.institution, "institution", size=13, fill=240)
    canvas.put(6, 24, _display_name(p.name), "name", size=14, fill=240)
    canvas.put(360, 6, _slash_date(p.study_date), "date", size=13, fill=240)
    canvas.put(360, 24, p.patient_id, "id", prefix="ID", size=13, fill=240)
    canvas.put(6, 470, phone, "phone", size=13, fill=220, in_header=False)
    canvas.put(6, 490, _display_name(p.physician), "physician", size=13, fill=220)
    canvas.put(380, 490, "L12-5  THYROID", "label", phi=False, size=13, fill=220)


def _us_dataset(patient: SamplePatient, pixels: np.ndarray, photometric: str, instance: int, frames: bool = False):
    sop = UltrasoundMultiFrameImageStorage if frames else UltrasoundImageStorage
    ds = make_dataset(patient, sop, pixels, photometric, 1 if not frames else 2, instance)
    ds.Modality, ds.BurnedInAnnotation = "US", "YES"
    if frames:
        ds.FrameTime, ds.CineRate, ds.FrameIncrementPointer = 33.3, 30, 0x00181063
    return ds


def _write(ds: pydicom.Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)


def _generated_us(folder: Path) -> dict[str, list[PlantedText]]:
    """The six generated single-frame files with planted PHI; one of them RLE-compressed."""
    rng = np.random.default_rng(20241121)
    key: dict[str, list[PlantedText]] = {}
    jobs = []
    for variant in (0, 1):
        canvas = _Canvas(Image.fromarray(_us1_rgb()))
        _plant_us1(canvas, PATIENTS[variant], PHONES[variant], variant)
        jobs.append((f"gen_us1_rgb_{variant}.dcm", PATIENTS[variant], canvas, "RGB", variant == 1))
    for index in (0, 1):
        canvas = _Canvas(Image.fromarray(_ob_grey()))
        _plant_ob(canvas, PATIENTS[2 - index], PHONES[2 - index])
        jobs.append((f"gen_ob_grey_{index}.dcm", PATIENTS[2 - index], canvas, "MONOCHROME2", False))
    for index in (0, 1):
        canvas = _Canvas(Image.fromarray(_speckle(rng)))
        _plant_speckle(canvas, PATIENTS[index + 1], PHONES[index + 1])
        jobs.append((f"gen_speckle_{index}.dcm", PATIENTS[index + 1], canvas, "MONOCHROME2", False))
    for instance, (name, patient, canvas, photometric, rle) in enumerate(jobs, start=1):
        ds = _us_dataset(patient, np.asarray(canvas.image)[None], photometric, instance)
        if rle:
            ds.compress(RLELossless, generate_instance_uid=False)
            name = name.replace(".dcm", "_rle.dcm")
        _write(ds, folder / name)
        key[name] = canvas.planted
    return key


def _cine(folder: Path, frames: int = 30, label_frame: int = 17) -> dict[str, list[PlantedText]]:
    """A 30-frame RGB cine: moving tissue, a static PHI overlay on every frame, one PHI label on one frame only."""
    patient = PATIENTS[1]
    rng = np.random.default_rng(30)
    overlay = _Canvas(Image.new("RGB", (640, 480)))
    _plant_us1(overlay, patient, PHONES[1], 0)
    mask = np.asarray(overlay.image).any(axis=2)
    base = _us1_rgb()
    stack = []
    for index in range(frames):
        frame = base.copy()
        # Only the tissue moves; scanner graphics (colour bars, caption, ruler) stay where they are, as on a scanner.
        tissue = np.roll(base[105:340, 60:580], shift=3 * index, axis=1).astype(np.int16)
        frame[105:340, 60:580] = (tissue + rng.integers(-12, 13, tissue.shape)).clip(0, 255).astype(np.uint8)
        frame[mask] = np.asarray(overlay.image)[mask]
        if index == label_frame:
            single = _Canvas(Image.fromarray(frame))
            single.put(250, 392, _display_name(patient.name), "name", prefix="PT", size=16, fill=(255, 255, 255))
            frame = np.asarray(single.image)
            label = single.planted[0]
        stack.append(frame)
    cine_key = [PlantedText(**{**asdict(p), "frames": list(range(frames))}) for p in overlay.planted]
    cine_key.append(PlantedText(**{**asdict(label), "frames": [label_frame]}))
    _write(_us_dataset(patient, np.stack(stack), "RGB", 1, frames=True), folder / "cine30.dcm")
    _write(_us_dataset(patient, np.stack(stack[:1]), "RGB", 2), folder / "cine30_frame0.dcm")
    return {"cine30.dcm": cine_key, "cine30_frame0.dcm": overlay.planted}


def _copy_with_uid(source: Path, target: Path, tag: str) -> None:
    """Copy a file with a new SOP Instance UID, so outputs named by UID never collide; pixel bytes untouched."""
    ds = pydicom.dcmread(source)
    uid = generate_uid(entropy_srcs=["monai-deid-bench", tag])
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)


def _warmups(folder: Path, warmup_source: Path, count: int) -> None:
    """Warm-up files: the source mirrored left to right, so no line crop of a measured file is read during warm-up
    (monai-deid keeps the readings of crops it has seen; a copy would make the first measured file free)."""
    for letter in "ab"[:count]:
        name = f"000_warmup_{letter}.dcm"
        _copy_with_uid(warmup_source, folder / name, f"{folder.name}/{name}")
        ds = pydicom.dcmread(folder / name)
        ds.PixelData = np.ascontiguousarray(ds.pixel_array[..., ::-1]).tobytes()
        ds.save_as(folder / name, enforce_file_format=True)


def build_corpus(root: str | Path) -> dict:
    """Write the corpus under ``root/corpus`` and the answer key to ``root/answer_key.json``; return the key.

    Args:
        root: a folder; ``corpus/`` inside it is replaced.
    """
    root = Path(root)
    corpus = root / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    planted: dict[str, list[PlantedText]] = {}
    for name, items in _generated_us(corpus / "us_single").items():
        planted[f"us_single/{name}"] = items
    for name in REAL_US:
        shutil.copyfile(pydicom_data_folder() / name, corpus / "us_single" / f"real_{name}")
    for name, items in _cine(corpus / "cine").items():
        planted[f"cine/{name}"] = items
    for index in range(NOTEXT_COPIES):
        for name in ("CT_small.dcm", "MR_small.dcm"):
            stem = name.split("_")[0].lower()
            _copy_with_uid(PYDICOM_TESTS / name, corpus / "notext" / f"{stem}_small_{index}.dcm", f"{name}/{index}")
    shutil.copyfile(pydicom_data_folder() / "693_UNCR.dcm", corpus / "notext" / "ct_693_512.dcm")
    shutil.copyfile(pydicom_data_folder() / "MR2_UNCR.dcm", corpus / "notext" / "mr2_1024.dcm")
    for name in REAL_COMPRESSED:
        (corpus / "compressed").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pydicom_data_folder() / name, corpus / "compressed" / name)
    warmup = corpus / "us_single" / "gen_speckle_0.dcm"
    for name in CORPUS_SETS:
        # Two workers each load their models on a warm-up file; the sets run with one worker need one.
        _warmups(corpus / name, warmup, 2 if name == "us_single" else 1)
    key = {
        "version": KEY_VERSION,
        "files": {name: [asdict(p) for p in items] for name, items in sorted(planted.items())},
    }
    (root / "answer_key.json").write_text(json.dumps(key, indent=1))
    return key


def load_answer_key(root: str | Path) -> dict[str, list[PlantedText]]:
    """The answer key written by :func:`build_corpus`: corpus-relative path -> planted strings."""
    key = json.loads((Path(root) / "answer_key.json").read_text())
    return {name: [PlantedText(**{**p, "box": tuple(p["box"])}) for p in items] for name, items in key["files"].items()}


def is_warmup(path: str | Path) -> bool:
    """Whether a corpus file is a warm-up file, excluded from every figure."""
    return Path(path).name.startswith("000_warmup")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where corpus/ and answer_key.json go")
    args = parser.parse_args()
    key = build_corpus(args.folder)
    count = sum(len(v) for v in key["files"].values())
    print(f"corpus in {args.folder / 'corpus'}; {count} planted strings in {args.folder / 'answer_key.json'}")


if __name__ == "__main__":
    main()
