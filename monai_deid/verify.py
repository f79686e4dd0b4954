"""VerifyDeidentified: an independent check, after redaction and scrubbing, that nothing identifying is left.

Before scrubbing, :class:`CapturePHIInventoryd` keeps the file's own PHI values and UIDs (in memory only). After
scrubbing, the verifier re-walks the whole header (every depth, file meta, binary values) for any of them. In the
pixels, a redacted box holding one value per channel holds no text; any other redacted box is re-read with OCR on
every distinct frame, and the header bands, where scanners burn patient details, are re-read on the frames where a
redacted box lies next to them, as detection reads a cine: in full on the first such frame, on the others where their
pixels differ from it. The text that detection read and the classifier kept, on pixels that redaction left alone, is
checked again by the verifier's own matcher. A file that fails raises :class:`VerificationError` and is quarantined;
one that passes gets ``meta["deid_verified"] = True``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Hashable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID_dictionary

from monai_deid.errors import VerificationError
from monai_deid.io import LoadDicomWithMeta
from monai_deid.ocr import DetectBurnedInText, read_text_in_bands, read_text_in_frame_areas
from monai_deid.ocr.boxes import boxes_overlap, union_cover
from monai_deid.ocr.dedup import distinct_frames
from monai_deid.phi import Allowlist, ClassifyPHI, HeaderMatcher, HeaderValue, collect_header_values, find_patterns
from monai_deid.phi.allowlist import load_placeholders
from monai_deid.phi.line_terms import pieces_of_line_terms
from monai_deid.phi.policy import DOUBT_REASON
from monai_deid.phi.text_norm import closed_up, tokenize
from monai_deid.profile import ProfileOptions, action_map
from monai_deid.profile.clean_text import fold_accents, name_renderings
from monai_deid.regions import TextRegion

__all__ = [
    "CapturePHIInventoryd",
    "PhiInventory",
    "VerifyDeidentified",
    "VerifyDeidentifiedd",
    "capture_inventory",
    "check_output_file",
    "review_output_file",
]

#: Kinds of header values looked for in the scrubbed header. Times alone identify nobody and survive date shifting.
_HEADER_CHECKED_KINDS = {"name", "text", "date", "datetime"}
#: Shortest value searched for: shorter ones ("1", "F") would match everywhere.
_MIN_NEEDLE = 3
#: Pattern categories that prove a leak when read back from the pixels (identifiers, not generic numbers).
_LEAK_PATTERNS = {"date", "datetime", "time", "phone", "email", "ssn", "label", "name_title", "url"}
#: De-identification Method code of the Retain Safe Private option: safe private attributes may stay.
_RETAIN_SAFE_PRIVATE = "113111"
_BINARY_VRS = {"OB", "OW", "UN", "OD", "OF", "OL", "OV"}
#: Share of a doubtful box that the detector's second reading, none of it PHI, must cover to clear the doubt.
_SECOND_OPINION_COVER = 0.8
#: Context pixels read around each redacted box and header band.
_MARGIN = 2


@dataclass(frozen=True)
class PhiInventory:
    """The original header's PHI, kept in memory between loading and verification; never written anywhere.

    Args:
        values: the header's PHI values (see :func:`monai_deid.phi.collect_header_values`).
        uids: the header's UIDs that are not well-known (SOP classes, transfer syntaxes, ... are excluded).
    """

    values: tuple[HeaderValue, ...]
    uids: frozenset[str]


def _elements(ds: Dataset) -> Iterator[Any]:
    yield from ds.file_meta if hasattr(ds, "file_meta") else ()
    yield from ds.iterall()


def capture_inventory(header: Dataset) -> PhiInventory:
    """The PHI values and replaced UIDs of ``header``, for :class:`VerifyDeidentified`.

    UIDs are those of the attributes the profile replaces (action U: instance, series, study, frame of reference,
    ...); UIDs the standard keeps, such as a creator's software version, identify nobody.
    """
    replaced = _uid_tags()
    uids = {
        str(v)
        for elem in header.iterall()
        if elem.VR == "UI" and elem.tag in replaced
        for v in (elem.value if isinstance(elem.value, list | tuple) else [elem.value])
        if v and str(v) not in UID_dictionary
    }
    return PhiInventory(tuple(collect_header_values(header)), frozenset(uids))


@cache
def _uid_tags() -> frozenset[int]:
    return frozenset(tag for tag, action in action_map(ProfileOptions()).by_tag.items() if action == "U")


def _strings(elem: Any) -> Iterator[str]:
    value = elem.value
    if value is None or elem.VR == "SQ":
        return
    if elem.VR in _BINARY_VRS and isinstance(value, bytes):
        yield value.decode("latin-1")
        return
    for item in value if isinstance(value, list | tuple | MultiValue) else [value]:
        yield str(item)


@dataclass(frozen=True)
class _Needle:
    """An original value looked for in the scrubbed header: a whole value, or one component of a name."""

    keyword: str
    pattern: re.Pattern[str]
    component: bool


def _needles(inventory: PhiInventory, retained_keywords: Collection[str]) -> list[_Needle]:
    """Whole values and name components to search for, case-insensitive.

    Dates are found anywhere (inside date-times too); names and identifiers only as whole words, so the institution
    "TOSHIBA" is not found in the kept manufacturer "TOSHIBA_MEC" while "DOE" is found in "Follow-up for Doe".
    Placeholders (a patient named "Anonymized", as the scrubber's own dummy values read) identify nobody and are not
    looked for, as in the burned-in text.
    """
    placeholders = load_placeholders()
    needles = []
    for value in inventory.values:
        if value.kind not in _HEADER_CHECKED_KINDS or value.keyword in retained_keywords:
            continue
        whole = fold_accents(value.value)
        components = name_renderings(whole) if value.kind == "name" else set()
        for part in {p.strip() for p in [whole, *components] if len(p.strip()) >= _MIN_NEEDLE}:
            if all(token.skel in placeholders for token in tokenize(part)):
                continue
            text = re.escape(part)
            pattern = text if value.kind in ("date", "datetime") else rf"(?<![A-Za-z0-9_]){text}(?![A-Za-z0-9_])"
            needles.append(_Needle(value.keyword, re.compile(pattern, re.IGNORECASE), part != whole))
    return needles


def header_leaks(
    header: Dataset, inventory: PhiInventory, retained_keywords: Collection[str] = (), check_uids: bool = True
) -> list[str]:
    """Reason codes (``header:<Keyword>``, ``header:uid``) for original PHI found anywhere in a scrubbed header.

    A name's single component is not looked for in code strings (CS): their values are defined terms, and a patient
    named "Perfusion^MCA Stroke" is not found in the image type "DERIVED\\PRIMARY\\PERFUSION". Whole values are.

    Args:
        header: the scrubbed header, file meta included.
        inventory: the original header's PHI.
        retained_keywords: attributes the user chose to keep (Retain options): their values are not leaks.
        check_uids: look for original UIDs (off when UIDs are retained).
    """
    needles = _needles(inventory, retained_keywords)
    found: set[str] = set()
    for elem in _elements(header):
        searched = [n for n in needles if not (n.component and elem.VR == "CS")]
        for text in _strings(elem):
            folded = fold_accents(text)  # "García" is found as "GARCIA" is
            found |= {f"header:{n.keyword}" for n in searched if n.pattern.search(folded)}
            if check_uids and elem.VR == "UI" and text in inventory.uids:
                found.add("header:uid")
    return sorted(found)


def _distinct_crops(image: np.ndarray, region: TextRegion) -> list[int]:
    """The frames of ``region`` whose pixels inside the box differ from every other listed frame's."""
    x0, y0, x1, y1 = region.box
    crops = np.moveaxis(image[:, list(region.frames), y0:y1, x0:x1], 1, 0)
    return [region.frames[k] for k in distinct_frames(crops)]


class VerifyDeidentified(Transform):
    """Check a redacted image and a scrubbed header against the original PHI; raise if anything is left.

    Args:
        device: where OCR runs (``"cpu"``, ``"cuda"``, ``"cuda:N"``).
        band_fraction: height of the top and bottom header bands re-read on each frame whose bands differ, as a
            fraction of the rows (scanners burn patient details there).
        retained_keywords: attributes the user chose to keep (their values are not leaks).
        check_uids: look for original UIDs in the header (off when Retain UIDs is on).
        detector: how the bands are read: ``"auto"``, ``"lines"`` or ``"craft"`` (see ``DetectBurnedInText``).
        half: 16-bit float networks where the hardware computes them fast (see ``DetectBurnedInText``).
        bands: which frames' header bands are read again: ``"redacted"`` (default), those where a redacted box lies
            within a line's height of a band (letters a box missed lie next to it), in full on the first of them and
            on the others where they differ from it; on the other frames, redaction left the bands as detection read
            them, the same reader would read the same text again, and detection's own readings are checked instead.
            ``"all"``: every distinct frame's bands in full, for a second reading with another ``detector`` than
            detection's.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        device: str = "cpu",
        band_fraction: float = 0.12,
        retained_keywords: Collection[str] = (),
        check_uids: bool = True,
        detector: str = "auto",
        half: bool = True,
        bands: str = "redacted",
    ) -> None:
        if bands not in ("redacted", "all"):
            raise ValueError(f"bands must be 'redacted' or 'all', not {bands!r}")
        if not 0 < band_fraction <= 0.5:
            raise ValueError(f"band_fraction must be above 0 and at most 0.5, got {band_fraction}")
        self.device = device
        self.bands = bands
        self.detector = detector
        self.half = half
        self.band_fraction = band_fraction
        self.retained_keywords = frozenset(retained_keywords)
        self.check_uids = check_uids
        self._allowlist: Allowlist | None = None

    def _matcher(self, inventory: PhiInventory) -> HeaderMatcher:
        if self._allowlist is None:
            self._allowlist = Allowlist()
        return HeaderMatcher(inventory.values, self._allowlist.is_term, load_placeholders())

    def pixel_leaks(
        self, image: torch.Tensor, header: Dataset, regions: list[TextRegion], inventory: PhiInventory
    ) -> list[str]:
        """Reason codes for PHI read back from the redacted areas and the header bands of the image, or left in the
        text that detection read and the classifier kept.

        A redacted box that holds one value per channel on a frame holds no text there (RedactPixels fills boxes
        that way); any other redacted box is read again, whatever the stroke test says.
        """
        pixels = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        redacted = [r for r in regions if r.is_phi is not False]
        areas: dict[int, list[tuple[int, int, int, int]]] = {}
        for region in redacted:
            for frame in _distinct_crops(pixels, region):
                if not _uniform(pixels[:, frame], region.box):
                    areas.setdefault(frame, []).append(region.box)
        read = {"header": header, "device": self.device, "half": self.half}
        readings = read_text_in_frame_areas(image, areas, detector="craft", margin=_MARGIN, **read)
        if self.bands == "all":
            readings += read_text_in_frame_areas(
                image, self._band_areas(pixels), detector=self.detector, margin=_MARGIN, **read
            )
        else:
            readings += read_text_in_bands(image, self._bands_near(pixels, redacted), detector=self.detector, **read)
        kept = [r for r in regions if r.is_phi is False]  # checked as detection read them
        if not readings and not kept:
            return []
        matcher = self._matcher(inventory)
        return sorted(self._leaks(readings, matcher) | self._leaks(kept, matcher))

    def _band_rows(self, rows: int) -> list[tuple[int, int]]:
        """The top and bottom header bands, ``(y0, y1)`` end-exclusive, of frames of ``rows`` rows."""
        height = max(1, int(rows * self.band_fraction))
        return [(0, height), (rows - height, rows)]

    def _band_areas(self, pixels: np.ndarray) -> dict[int, list[tuple[int, int, int, int]]]:
        """Both header bands of one frame of each group of frames whose bands are identical (``bands="all"``)."""
        rows, columns = pixels.shape[2:]
        bands = self._band_rows(rows)
        band_rows = pixels[:, :, [r for y0, y1 in bands for r in range(y0, y1)]]
        return {
            first: [(0, y0, columns, y1) for y0, y1 in bands] for first in distinct_frames(np.moveaxis(band_rows, 1, 0))
        }

    def _bands_near(self, pixels: np.ndarray, redacted: list[TextRegion]) -> dict[tuple[int, int], list[int]]:
        """Each header band, with the context margin, and the frames where a redacted box lies within a line's height
        of it (a region without frames is on every frame): one frame of each group whose band pixels are identical."""
        rows, columns = pixels.shape[2:]
        wanted: dict[tuple[int, int], set[int]] = {}
        for y0, y1 in self._band_rows(rows):
            frames = {
                f for r in redacted if _near(r.box, (0, y0, columns, y1)) for f in r.frames or range(pixels.shape[1])
            }
            if frames:
                wanted.setdefault((max(0, y0 - _MARGIN), min(rows, y1 + _MARGIN)), set()).update(frames)
        near = {}
        for (top, bottom), frames in wanted.items():
            ordered = sorted(frames)
            groups = distinct_frames(np.moveaxis(pixels[:, ordered, top:bottom], 1, 0))
            near[(top, bottom)] = [ordered[first] for first in groups]
        return near

    def _leaks(self, readings: list[TextRegion], matcher: HeaderMatcher) -> set[str]:
        """Reason codes for the header values and identifying patterns in ``readings`` (the text of one image)."""
        # As in ClassifyPHI: in a piece of a multi-word clinical term split over a line ("Gen" "OB"), a header value
        # made only of vocabulary words (a patient named "OB") is the term, not the value.
        term_pieces = set(pieces_of_line_terms(readings, self._allowlist))
        found: set[str] = set()
        for i, reading in enumerate(readings):
            text = closed_up(reading.text)  # "J O H N" is read as the word, as ClassifyPHI reads it
            matches = [m for m in matcher.find(text) if i not in term_pieces or not m.vocabulary_only]
            found |= {f"pixels:header:{m.keyword}" for m in matches}
            found |= {f"pixels:pattern:{p.category}" for p in find_patterns(text) if p.category in _LEAK_PATTERNS}
        return found

    def __call__(
        self, image: torch.Tensor, header: Dataset, regions: list[TextRegion] | None, inventory: PhiInventory
    ) -> None:
        """
        Raises:
            VerificationError: with the PHI-free reason codes of everything found.
        """
        leaks = header_leaks(header, inventory, self.retained_keywords, self.check_uids)
        if regions is not None:
            leaks += self.pixel_leaks(image, header, regions, inventory)
        if leaks:
            raise VerificationError(None, "identifying content left after de-identification: " + ", ".join(leaks))


def _near(box: tuple[int, int, int, int], band: tuple[int, int, int, int]) -> bool:
    """Whether ``box`` lies within its own height of ``band``."""
    return boxes_overlap(box, band, gap=box[3] - box[1])


def _uniform(frame: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether every channel of ``frame`` (``(C, H, W)``) holds a single value inside ``box``."""
    x0, y0, x1, y1 = box
    crop = frame[:, y0:y1, x0:x1].reshape(frame.shape[0], -1)
    return crop.size == 0 or bool((crop == crop[:, :1]).all())


class CapturePHIInventoryd(MapTransform):
    """Keep the original header's PHI under ``data[f"{key}_phi"]`` for :class:`VerifyDeidentifiedd`.

    Place it before ScrubMetadatad. The inventory is PHI: drop it before collation (``DropIdentifyingd`` does).

    Args:
        keys: image keys whose header (``data[f"{key}_dicom"]``) is read.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(self, keys: KeysCollection = "image", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[f"{key}_phi"] = capture_inventory(d[f"{key}_dicom"])
        return d


class VerifyDeidentifiedd(MapTransform):
    """Dictionary wrapper of :class:`VerifyDeidentified`.

    Reads ``data[key]``, ``data[f"{key}_dicom"]`` (scrubbed), ``data[f"{key}_text"]`` (when the pixel stages ran)
    and ``data[f"{key}_phi"]``. On success sets ``meta["deid_verified"] = True``; on failure raises, so the file is
    quarantined (ScrubMetadatad has already set Burned In Annotation = NO only if every frame was scanned).

    Args:
        keys: image keys to verify.
        device: where OCR runs.
        band_fraction: height of the re-read header bands as a fraction of the rows.
        retained_keywords: attributes the user chose to keep.
        check_uids: look for original UIDs in the header.
        detector: how the bands are read: ``"auto"``, ``"lines"`` or ``"craft"``.
        half: 16-bit float networks where the hardware computes them fast.
        bands: which frames' header bands are read again: ``"redacted"`` or ``"all"`` (see VerifyDeidentified).
        allow_missing_keys: don't raise if a key is missing.
    """

    backend = VerifyDeidentified.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        device: str = "cpu",
        band_fraction: float = 0.12,
        retained_keywords: Collection[str] = (),
        check_uids: bool = True,
        detector: str = "auto",
        half: bool = True,
        bands: str = "redacted",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.verifier = VerifyDeidentified(device, band_fraction, retained_keywords, check_uids, detector, half, bands)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            self.verifier(image, d[f"{key}_dicom"], d.get(f"{key}_text"), d[f"{key}_phi"])
            if isinstance(image, MetaTensor):
                image.meta["deid_verified"] = True
        return d


def check_output_file(path: str | Path, device: str = "cpu", classify: dict[str, Any] | None = None) -> list[str]:
    """Re-check a file that was already de-identified, without its original: reason codes of what is wrong.

    The header must carry the de-identification markers and no private attributes beyond the safe ones it declares;
    the pixels are scanned again and any text the sensitive policy calls PHI is reported (text it cannot explain
    after a second reading by the detector, see :func:`_second_opinion_on_doubts`).
    """
    return review_output_file(path, device, classify)[0]


def review_output_file(
    path: str | Path, device: str = "cpu", classify: dict[str, Any] | None = None
) -> tuple[list[str], list[TextRegion]]:
    """:func:`check_output_file`'s reason codes, and the regions of burned-in text behind its pixel codes, so that a
    reviewer can find them (their ``text`` is PHI; their frames and boxes are not)."""
    image, header, _ = LoadDicomWithMeta()(path)
    problems = []
    if header.get("PatientIdentityRemoved") != "YES" or "DeidentificationMethodCodeSequence" not in header:
        problems.append("header:not_marked_deidentified")
    codes = {item.get("CodeValue") for item in header.get("DeidentificationMethodCodeSequence", [])}
    if _RETAIN_SAFE_PRIVATE not in codes and any(elem.tag.is_private for elem in header.iterall()):
        problems.append("header:private_attributes")
    classifier = ClassifyPHI(**{"device": device, "ner_model": None, **(classify or {})})
    regions = classifier(DetectBurnedInText(device)(image, header), header)
    regions = _second_opinion_on_doubts(image, header, regions, classifier, device)
    flagged = [r for r in regions if r.is_phi]
    return problems + sorted({f"pixels:{r.reason}" for r in flagged}), flagged


def _second_opinion_on_doubts(
    image: torch.Tensor, header: Dataset, regions: list[TextRegion], classifier: ClassifyPHI, device: str
) -> list[TextRegion]:
    """``regions`` with each doubtful one (text the policy cannot explain) read again by the CRAFT detector, as the
    run reads a doubtful line: a garbled reading of a label (``?8DR?8`` for ``78DR78``) is cleared when what the
    detector reads there is not PHI and covers most of the box. A doubt stays when the detector reads less, or PHI."""
    doubts = [r for r in regions if r.is_phi and r.reason == DOUBT_REASON]
    if not doubts:
        return regions
    areas: dict[int, list[tuple[int, int, int, int]]] = {}
    for region in doubts:
        areas.setdefault(region.frames[0] if region.frames else 0, []).append(region.box)
    second = classifier(read_text_in_frame_areas(image, areas, header, device, detector="craft"), header)
    cleared = [
        doubt
        for doubt in doubts
        if union_cover(doubt.box, [r.box for r in second if not r.is_phi]) >= _SECOND_OPINION_COVER
        and not any(r.is_phi and union_cover(doubt.box, [r.box]) > 0 for r in second)
    ]
    return [r for r in regions if not any(r is doubt for doubt in cleared)]
