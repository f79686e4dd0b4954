"""DetectBurnedInText: find the text burned into every frame of a DICOM image (array and dictionary transforms)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pydicom
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends

from monai_deid.ocr.boxes import Box, grown
from monai_deid.ocr.candidates import CandidateArea, stroke_pixels, upscale_for
from monai_deid.ocr.dedup import distinct_frames
from monai_deid.ocr.engine import EngineSettings, clear_reading_cache
from monai_deid.ocr.scan import FrameWork, plan_zones, read_frames, scan_frames
from monai_deid.ocr.view import OcrView, build_ocr_view
from monai_deid.regions import TextRegion

__all__ = [
    "DetectBurnedInText",
    "DetectBurnedInTextd",
    "ocr_view_frames",
    "read_text_in_areas",
    "read_text_in_bands",
    "read_text_in_frame_areas",
]


def _as_numpy(image: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        return image.detach().cpu().numpy()
    return np.asarray(image)


def _photometric(image: torch.Tensor | np.ndarray, header: pydicom.Dataset | None) -> str:
    meta = getattr(image, "meta", None) or {}
    if meta.get("photometric_interpretation"):
        return str(meta["photometric_interpretation"])
    if header is not None and "PhotometricInterpretation" in header:
        return str(header.PhotometricInterpretation)
    return "MONOCHROME2" if image.shape[0] == 1 else "RGB"


def _bits_stored(image: torch.Tensor | np.ndarray, header: pydicom.Dataset | None) -> int | None:
    meta = getattr(image, "meta", None) or {}
    if meta.get("bits_stored"):
        return int(meta["bits_stored"])
    return int(header.BitsStored) if header is not None and "BitsStored" in header else None


def ocr_view_frames(image: torch.Tensor | np.ndarray, header: pydicom.Dataset | None = None) -> np.ndarray:
    """The ``(F, H, W)`` uint8 OCR view of a ``(C, F, H, W)`` image (see :mod:`monai_deid.ocr.view`)."""
    return _views(image, header).frames


# The stroke test's default smallest contrast (``plan_frame``), for the area readers.
_MIN_CONTRAST = 16


def _views(image: torch.Tensor | np.ndarray, header: pydicom.Dataset | None) -> OcrView:
    return build_ocr_view(_as_numpy(image), _photometric(image, header), header, _bits_stored(image, header))


def _has_strokes(view: np.ndarray | None, min_contrast: int) -> bool:
    """Whether ``view`` can hold a stroke of ``min_contrast`` at all (a stroke's contrast is at most the view's
    largest value: a grey image's chroma view is 0 everywhere)."""
    return view is not None and int(view.max(initial=0)) >= min_contrast


def _colour_only(views: OcrView, min_contrast: int) -> np.ndarray:
    """The colour view where it has strokes that the grey view lacks, 0 elsewhere: text shown by its colour alone.

    Coloured text that is also brighter or darker than its background, and colour graphics, are strokes in the grey
    view as well, and are read there. Only the first frame of each group of identical colour frames is computed (the
    others are never read).
    """
    assert views.colour is not None
    only = np.zeros_like(views.colour)
    for index in distinct_frames(views.colour):
        colour = views.colour[index]
        keep = stroke_pixels(colour, min_contrast)
        if keep.any():
            keep &= ~stroke_pixels(views.frames[index], min_contrast)
            only[index][keep] = colour[keep]
    return only


def _readable_views(views: OcrView, min_contrast: int) -> OcrView:
    """``views`` with its colour view reduced to what only colour shows (:func:`_colour_only`), or to ``None``."""
    only = _colour_only(views, min_contrast) if _has_strokes(views.colour, min_contrast) else None
    return OcrView(views.frames, only, views.hidden)


def _scan_views(
    views: OcrView, settings: EngineSettings, min_contrast: int, within: np.ndarray | None = None
) -> list[TextRegion]:
    """The text on every frame of :func:`_readable_views` (touching ``within``, see ``scan_frames``): the grey view,
    then what only the colour view and the hidden view show."""
    regions = scan_frames(views.frames, settings, min_contrast, within=within)
    if views.colour is not None:
        # Text as bright as its background, shown by its colour alone; what the grey view read is not read again.
        regions += scan_frames(views.colour, settings, min_contrast, known=regions, within=within)
    if views.hidden is not None:
        # Text on padding in values the window hides, with the rest of its line: read what the grey view did not.
        regions += scan_frames(views.hidden, settings, min_contrast, known=regions, within=within)
    return regions


class DetectBurnedInText(Transform):
    """Find every piece of text burned into the pixels of every frame, with its box, reading and confidence.

    Frames are rendered to an 8-bit OCR view (MONOCHROME1 inverted, deep data windowed, palette through its lookup
    table, colour to luminance). A cheap stroke test finds where text can be. On CPU (``detector="lines"``) the text
    lines it finds are read by EasyOCR's recogniser directly, with greedy decoding, and EasyOCR's CRAFT detector runs
    only to confirm doubtful readings and to read large text; on CUDA (``detector="craft"``) CRAFT runs over every
    stroke area instead. Identical frames are read once and the other frames of a cine loop only where their pixels
    differ from the first frame. A colour image is also scanned in its chroma view, where it has strokes that the
    grey view lacks (text as bright as its background, shown by its colour alone).

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: where the networks run.
        half: run the networks in a 16-bit float where the hardware computes it fast (float16 on CUDA or on a
            CPU's AMX units, else bfloat16 on AMX; float32 on CPUs without AMX; see :class:`EngineSettings`).
        batch_size: images per detector forward and line crops per recogniser forward.
        min_contrast: smallest stroke contrast (grey levels of the OCR view) treated as possible text; lower finds
            fainter text and costs more detector time.
        text_threshold: CRAFT region score a blob must reach to be text.
        low_text: CRAFT region score that belongs to a blob.
        link_threshold: CRAFT affinity score that joins characters.
        detector: ``"lines"``: text lines found by the stroke test go to the recogniser directly, CRAFT checks
            doubtful readings and reads text taller than 40 px (up to an eighth of the rows; the stroke test also
            looks for it on the frame shrunk four times), and stroke areas that do not look like text
            (anatomy, speckle, lone marks) are not read; ``"craft"``: CRAFT reads every stroke area, text-like or
            not: exhaustive, 2 to 8 times the cost on CPU; ``"auto"`` (default): ``"lines"`` on CPU, ``"craft"`` on
            CUDA.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        device: str = "cpu",
        half: bool = True,
        batch_size: int = 16,
        min_contrast: int = 16,
        text_threshold: float = 0.7,
        low_text: float = 0.4,
        link_threshold: float = 0.4,
        detector: str = "auto",
    ) -> None:
        if not 1 <= min_contrast <= 255:
            raise ValueError(f"min_contrast must be from 1 to 255 (grey levels of the 8-bit view), got {min_contrast}")
        self.settings = EngineSettings(device, half, batch_size, text_threshold, low_text, link_threshold, detector)
        self.min_contrast = min_contrast

    def __call__(self, image: torch.Tensor | np.ndarray, header: pydicom.Dataset | None = None) -> list[TextRegion]:
        """
        Args:
            image: ``(C, F, H, W)`` stored pixel values (a MetaTensor from LoadDicomWithMeta or any array).
            header: the DICOM header (palette lookup tables, window); needed for PALETTE COLOR.

        Returns:
            one region per distinct text and place, with every frame it is on, boxes in stored-image pixels.
        """
        clear_reading_cache()  # readings are reused within one image only (see engine)
        views = _readable_views(_views(image, header), self.min_contrast)
        return _scan_views(views, self.settings, self.min_contrast)


class DetectBurnedInTextd(MapTransform):
    """Dictionary wrapper of :class:`DetectBurnedInText`.

    For each key, reads ``data[key]`` and the header ``data[f"{key}_dicom"]`` (if present), writes the regions to
    ``data[f"{key}_text"]`` and sets ``meta["text_scanned"] = True`` on the image.

    Args:
        keys: keys of the images to scan.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        half: 16-bit float networks where the hardware computes them natively (see :class:`DetectBurnedInText`).
        batch_size: images per detector forward and line crops per recogniser forward.
        min_contrast: smallest stroke contrast (grey levels) treated as possible text.
        text_threshold: CRAFT region score a blob must reach to be text.
        low_text: CRAFT region score that belongs to a blob.
        link_threshold: CRAFT affinity score that joins characters.
        detector: ``"auto"``, ``"lines"`` or ``"craft"`` (see :class:`DetectBurnedInText`).
        allow_missing_keys: don't raise if a key is missing.
    """

    backend = DetectBurnedInText.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        device: str = "cpu",
        half: bool = True,
        batch_size: int = 16,
        min_contrast: int = 16,
        text_threshold: float = 0.7,
        low_text: float = 0.4,
        link_threshold: float = 0.4,
        detector: str = "auto",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.detector = DetectBurnedInText(
            device, half, batch_size, min_contrast, text_threshold, low_text, link_threshold, detector
        )

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[f"{key}_text"] = self.detector(d[key], d.get(f"{key}_dicom"))
            if isinstance(d[key], MetaTensor):
                d[key].meta["text_scanned"] = True
        return d


def read_text_in_areas(
    image: torch.Tensor | np.ndarray,
    frame: int,
    boxes: Sequence[Box],
    header: pydicom.Dataset | None = None,
    device: str = "cpu",
    margin: int = 8,
    detector: str = "auto",
    half: bool = True,
) -> list[TextRegion]:
    """OCR only the given areas of one frame: :func:`read_text_in_frame_areas` with ``{frame: boxes}``.

    Args:
        frame: index of the frame to read.
        boxes: ``(x0, y0, x1, y1)`` end-exclusive areas in stored-image pixels.
        image, header, device, margin, detector, half: as in :func:`read_text_in_frame_areas`.

    Returns:
        the text lines found in those areas on that frame, boxes in stored-image pixels.
    """
    return read_text_in_frame_areas(image, {frame: boxes}, header, device, margin, detector, half)


def read_text_in_frame_areas(
    image: torch.Tensor | np.ndarray,
    areas: Mapping[int, Sequence[Box]],
    header: pydicom.Dataset | None = None,
    device: str = "cpu",
    margin: int = 8,
    detector: str = "auto",
    half: bool = True,
) -> list[TextRegion]:
    """OCR only the given areas of the given frames (e.g. the header bands, to check nothing identifying is left).

    With ``detector="craft"`` every area is read by the detector whatever the stroke test says, upscaled when it is
    small; with ``"lines"`` the stroke test's lines touching the areas are read as :class:`DetectBurnedInText` does.
    Every frame's areas go through the networks in one batched pass (a pass per frame would pay the networks' fixed
    cost on every frame of a multi-frame file).

    Args:
        image: ``(C, F, H, W)`` stored pixel values.
        areas: for each frame index to read, its ``(x0, y0, x1, y1)`` end-exclusive areas in stored-image pixels.
        header: the DICOM header (needed for PALETTE COLOR).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        margin: context pixels added around each area.
        detector: ``"auto"``, ``"lines"`` or ``"craft"`` (see :class:`DetectBurnedInText`).
        half: 16-bit float networks where the hardware computes them natively (see :class:`DetectBurnedInText`).

    Returns:
        the text lines found in those areas, each on its one frame, boxes in stored-image pixels.
    """
    settings = EngineSettings(device=device, half=half, detector=detector)
    frames, jobs = [], []
    for frame, boxes in sorted(areas.items()):
        if not boxes:
            continue
        # The grey view, then the colour view's strokes that the grey view lacks and the text the window hides, as
        # DetectBurnedInText reads them.
        views = _readable_views(_views(image[:, frame : frame + 1], header), _MIN_CONTRAST)
        for view in (views.frames, views.colour, views.hidden):
            if view is not None:
                frames.append(frame)
                jobs.append(_area_work(view[0], boxes, settings, margin))
    return [
        TextRegion((frame,), r.box, r.text, r.confidence)
        for frame, readings in zip(frames, read_frames(jobs, settings) if jobs else [], strict=True)
        for r in readings
    ]


def read_text_in_bands(
    image: torch.Tensor | np.ndarray,
    bands: Mapping[tuple[int, int], Sequence[int]],
    header: pydicom.Dataset | None = None,
    device: str = "cpu",
    detector: str = "auto",
    half: bool = True,
) -> list[TextRegion]:
    """OCR bands of whole rows (the header bands) on some frames, as :class:`DetectBurnedInText` reads frames: a band
    is read in full on its first frame, and on each other frame only where its pixels differ from the first's (a
    band that is the same on every frame is read once).

    Args:
        image: ``(C, F, H, W)`` stored pixel values.
        bands: for each band ``(y0, y1)`` of rows, end-exclusive, the frames to read it on.
        header: the DICOM header (needed for PALETTE COLOR).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        detector: ``"auto"``, ``"lines"`` or ``"craft"`` (see :class:`DetectBurnedInText`).
        half: 16-bit float networks where the hardware computes them natively (see :class:`DetectBurnedInText`).

    Returns:
        the text lines found in the bands, each listing the frames it was read on, boxes in stored-image pixels.
    """
    settings = EngineSettings(device=device, half=half, detector=detector)
    needed = sorted({frame for frames in bands.values() for frame in frames})
    if not needed:
        return []
    pixels = _as_numpy(image)
    if len(needed) < pixels.shape[1]:
        pixels = pixels[:, needed]
    views = _readable_views(
        build_ocr_view(pixels, _photometric(image, header), header, _bits_stored(image, header)), _MIN_CONTRAST
    )
    position = {frame: k for k, frame in enumerate(needed)}
    # Bands read on the same frames are read together: one zone each, in one pass through the networks.
    together: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for rows, frames in bands.items():
        together.setdefault(tuple(frames), []).append(rows)
    regions: list[TextRegion] = []
    for frames, band_rows in together.items():
        # The strokes that touch a band, as an area read takes them: a line that crosses its edge is read whole.
        within = np.zeros(views.frames.shape[1:], np.uint8)
        for zone, (y0, y1) in enumerate(band_rows, start=1):
            within[y0:y1] = zone
        band = _frames_of(views, [position[frame] for frame in frames])
        for r in _scan_views(band, settings, _MIN_CONTRAST, within):
            regions.append(TextRegion(tuple(frames[k] for k in r.frames), r.box, r.text, r.confidence))
    return regions


def _frames_of(views: OcrView, frames: list[int]) -> OcrView:
    """The given frames of ``views``."""
    if frames == list(range(len(views.frames))):
        return views

    def some(view: np.ndarray | None) -> np.ndarray | None:
        return None if view is None else np.ascontiguousarray(view[frames])

    return OcrView(some(views.frames), some(views.colour), some(views.hidden))


def _area_work(grey: np.ndarray, boxes: Sequence[Box], settings: EngineSettings, margin: int) -> FrameWork:
    """What to read in ``boxes`` (grown by ``margin``) of one frame's OCR view."""
    if settings.detector == "craft":
        return FrameWork(grey, [CandidateArea(grown(b, grey.shape, margin), upscale_for(b[3] - b[1])) for b in boxes])
    zones: list[np.ndarray | None] = []
    for x0, y0, x1, y1 in (grown(b, grey.shape, margin) for b in boxes):
        zone = np.zeros(grey.shape, dtype=np.uint8)
        zone[y0:y1, x0:x1] = 1
        zones.append(zone)
    return plan_zones(grey, settings, _MIN_CONTRAST, zones)
