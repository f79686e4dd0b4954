"""RedactPixels: fill the boxes of PHI text on every frame it appears on, in the stored-value domain.

The image stays what the loader gave: same dtype, bit depth, photometric interpretation and (for PALETTE COLOR)
palette; only the pixels inside each PHI box and its margin change, every other pixel stays bit-exact. The fill is a
stored value: a palette index for PALETTE COLOR, a YBR triplet for YBR images, a raw (not rescaled) value for
greyscale, so what SaveDicom writes back is consistent with the unchanged header.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from itertools import groupby
from numbers import Real
from typing import ClassVar

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends

from monai_deid.errors import SettingsMismatchError
from monai_deid.regions import TextRegion

__all__ = ["RedactPixels", "RedactPixelsd"]

Fill = str | float | Sequence[float]

# torch supports unsigned types wider than 8 bits only in part (no index_put, kernels missing on some devices):
# writes and comparisons go through a same-width signed view, which holds the same bits.
_SIGNED_VIEW = {torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}


def _signed_view(tensor: torch.Tensor) -> torch.Tensor:
    """The plain tensor, unsigned types reinterpreted as the signed type of the same width (same bits)."""
    plain = tensor.as_tensor() if isinstance(tensor, MetaTensor) else tensor
    return plain.view(_SIGNED_VIEW.get(plain.dtype, plain.dtype))


def _frame_runs(frames: frozenset[int], n_frames: int) -> list[tuple[slice, int]]:
    """Runs of consecutive ``frames`` (empty: every frame) as slices, each with its position among the frames."""
    if not frames:
        return [(slice(0, n_frames), 0)]
    runs = []
    for _, group in groupby(enumerate(sorted(frames)), key=lambda pair: pair[1] - pair[0]):
        run = list(group)
        runs.append((slice(run[0][1], run[-1][1] + 1), run[0][0]))
    return runs


def _outward(box: Sequence[float]) -> tuple[int, int, int, int]:
    """A box with fractional coordinates rounded outwards."""
    return math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3])


def _margin_clear_of(
    grown: tuple[int, int, int, int],
    core: tuple[int, int, int, int],
    frames: frozenset[int],
    kept: Sequence[TextRegion],
) -> tuple[int, int, int, int]:
    """``grown`` (``core`` plus margin) with each side's margin stopped at the box of kept text beyond that side of
    ``core``, on a shared frame (empty ``frames``: every frame). Kept text overlapping ``core`` changes nothing."""
    x0, y0, x1, y1 = grown
    cx0, cy0, cx1, cy1 = core
    for region in kept:
        if frames and region.frames and not frames.intersection(region.frames):
            continue
        kx0, ky0, kx1, ky1 = _outward(region.box)
        if kx0 >= x1 or kx1 <= x0 or ky0 >= y1 or ky1 <= y0:
            continue
        if ky1 <= cy0:
            y0 = max(y0, ky1)
        elif ky0 >= cy1:
            y1 = min(y1, ky0)
        elif kx1 <= cx0:
            x0 = max(x0, kx1)
        elif kx0 >= cx1:
            x1 = min(x1, kx0)
    return x0, y0, x1, y1


def _needs_redaction(region: TextRegion) -> bool:
    """Fail closed: text that was never classified (``is_phi is None``) is redacted like PHI."""
    return region.is_phi is not False


class RedactPixels(Transform):
    """Fill PHI text boxes of a ``(C, F, H, W)`` image on the frames they appear on.

    Regions with ``is_phi`` True or None (unclassified) are filled; regions with ``is_phi`` False are kept. A box is
    grown by ``margin`` pixels on every side and clipped to the image; a margin stops at the box of kept text on a
    shared frame (lines 2 pixels apart: the margin would erase the top of the next line), while the PHI box itself
    is always filled whole. A region with empty ``frames`` is filled on every frame. Where grown boxes overlap, the
    later region's fill wins.

    The background fill of a box is computed per channel and frame from a ring of ``ring`` pixels just outside it,
    other text boxes excluded so that neighbouring strokes do not leak in: the median for continuous images (an
    actual stored value, so valid for every bit depth and colour space, YBR included), the most frequent index for
    PALETTE COLOR. All fills are computed from the input before any box is written, so they do not depend on region
    order.

    Args:
        margin: pixels added on each side of every box before filling.
        fill: ``"background"`` (default) for the local background, or a constant stored value: one number for all
            channels or one per channel (a palette index for PALETTE COLOR, a YBR triplet for YBR images).
        ring: width in pixels of the ring outside the grown box that the background is measured on.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH]

    def __init__(self, margin: int = 3, fill: Fill = "background", ring: int = 3) -> None:
        if margin < 0 or ring < 1:
            raise ValueError("margin must be >= 0 and ring >= 1")
        if isinstance(fill, str) and fill != "background":
            raise ValueError('fill must be "background", a number or a sequence of numbers (one per channel)')
        self.margin = int(margin)
        self.fill = fill
        self.ring = int(ring)

    def __call__(
        self,
        img: torch.Tensor,
        regions: Sequence[TextRegion],
        photometric_interpretation: str | None = None,
        bits_stored: int | None = None,
    ) -> torch.Tensor:
        """Return a redacted copy of ``img``; the input is not modified, and is returned as is when nothing is filled.

        Args:
            img: stored pixel values, shape ``(C, F, H, W)``, any integer or float dtype, on any device. A
                ``MetaTensor`` keeps its meta, which supplies the two arguments below when they are not given, and
                gets ``meta["pixels_redacted"]``: whether any pixel changed (or had changed in an earlier pass).
            regions: the text regions found in ``img``.
            photometric_interpretation: colour space of the values in ``img``; PALETTE COLOR switches the
                background from the median to the most frequent index.
            bits_stored: bits stored per sample; a constant fill must fit in it.

        Raises:
            ValueError: a box or frame index does not fit the image.
            SettingsMismatchError: a constant fill does not fit the samples (a ``ValueError`` too).
        """
        if img.ndim != 4:
            raise ValueError(f"expected a (C, F, H, W) image, got {img.ndim} dimensions")
        meta = img.meta if isinstance(img, MetaTensor) else {}
        pi = str(photometric_interpretation or meta.get("photometric_interpretation") or "").upper()
        pixels = img.as_tensor() if isinstance(img, MetaTensor) else img
        channels, n_frames, height, width = pixels.shape
        text = self._boxes(regions, n_frames, height, width)
        kept = [r for r in regions if not _needs_redaction(r)]
        jobs = self._boxes([r for r in regions if _needs_redaction(r)], n_frames, height, width, kept)
        if not jobs:
            return img
        if self.fill == "background":
            fills = [self._background(pixels, box, frames, text, pi == "PALETTE COLOR") for box, frames in jobs.items()]
        else:
            fills = [self._constant(pixels, channels, bits_stored or meta.get("bits_stored"))] * len(jobs)

        out = img.clone()
        raw, source = _signed_view(out), _signed_view(img)
        for ((x0, y0, x1, y1), frames), fill in zip(jobs.items(), fills, strict=True):
            # an int64 fill cast to the signed view keeps its low bits: the unsigned value's bits
            value = fill.to(raw.dtype)[:, :, None, None]
            # plain slices over runs of frames: advanced indexing into a large tensor is slow, and torch lacks it
            # for some dtypes
            for run, offset in _frame_runs(frames, n_frames):
                raw[:, run, y0:y1, x0:x1] = (
                    value[:, offset : offset + run.stop - run.start] if value.shape[1] > 1 else value
                )
        if isinstance(out, MetaTensor):
            # compared box by box after all writes: exact where boxes overlap, and no full-image pass
            changed = [
                (raw[:, run, y0:y1, x0:x1] != source[:, run, y0:y1, x0:x1]).any()
                for (x0, y0, x1, y1), frames in jobs.items()
                for run, _ in _frame_runs(frames, n_frames)
            ]
            out.meta["pixels_redacted"] = bool(meta.get("pixels_redacted", False)) or bool(torch.stack(changed).any())
        return out

    def _boxes(
        self,
        regions: Sequence[TextRegion],
        n_frames: int,
        height: int,
        width: int,
        kept: Sequence[TextRegion] = (),
    ) -> dict[tuple[int, int, int, int], frozenset[int]]:
        """Non-empty grown boxes and the frames each is on (empty: every frame); regions with the same box merge.

        A clock or counter redrawn on every frame of a cine loop thus becomes one box, filled in one pass. Margins
        stop at the boxes of the ``kept`` regions (see :func:`_margin_clear_of`).
        """
        boxes: dict[tuple[int, int, int, int], frozenset[int]] = {}
        for region in regions:
            frames = frozenset(int(f) for f in region.frames)
            if any(not 0 <= f < n_frames for f in frames):
                raise ValueError(f"a text region names a frame outside 0..{n_frames - 1}")
            box = self._grown_box(region.box, height, width)
            if kept:
                box = _margin_clear_of(box, _outward(region.box), frames, kept)
            if box[0] >= box[2] or box[1] >= box[3]:
                continue
            if box in boxes:
                frames = frozenset() if not frames or not boxes[box] else frames | boxes[box]
            boxes[box] = frozenset() if len(frames) == n_frames else frames
        return boxes

    def _grown_box(self, box: Sequence[float], height: int, width: int) -> tuple[int, int, int, int]:
        """The box plus margin, clipped to the image; may be empty. Fractional coordinates round outwards."""
        x0, y0, x1, y1 = _outward(box)
        if x1 < x0 or y1 < y0:
            raise ValueError("a text box has its end before its start")
        m = self.margin
        return max(x0 - m, 0), max(y0 - m, 0), min(max(x1 + m, 0), width), min(max(y1 + m, 0), height)

    def _background(
        self,
        pixels: torch.Tensor,
        box: tuple[int, int, int, int],
        frames: frozenset[int],
        text: dict[tuple[int, int, int, int], frozenset[int]],
        categorical: bool,
    ) -> torch.Tensor:
        """Per-channel, per-frame background value, shape ``(C, frames)``, from the ring around ``box``."""
        x0, y0, x1, y1 = box
        _, n_frames, height, width = pixels.shape
        wx0, wy0 = max(x0 - self.ring, 0), max(y0 - self.ring, 0)
        wx1, wy1 = min(x1 + self.ring, width), min(y1 + self.ring, height)
        ring = torch.ones(wy1 - wy0, wx1 - wx0, dtype=torch.bool)
        ring[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0] = False
        # other text on a shared frame must not bias the background
        clean = ring.clone()
        for (bx0, by0, bx1, by1), other in text.items():
            if not other or not frames or other & frames:
                clean[max(by0 - wy0, 0) : max(by1 - wy0, 0), max(bx0 - wx0, 0) : max(bx1 - wx0, 0)] = False
        # fall back to the plain ring, then (for a box covering the whole image) to the box itself
        mask = clean if clean.any() else ring if ring.any() else ~ring
        mask = mask.to(pixels.device)
        # gathered through the signed view: CUDA has no masked indexing of wide unsigned types
        signed = _signed_view(pixels)
        pieces = [signed[:, run, wy0:wy1, wx0:wx1][..., mask] for run, _ in _frame_runs(frames, n_frames)]
        samples = torch.cat(pieces, dim=1) if len(pieces) > 1 else pieces[0]
        if pixels.dtype in _SIGNED_VIEW:  # back to the unsigned values, as int64 (no median/mode kernels for them)
            bits = torch.iinfo(signed.dtype).bits
            samples = samples.long() & ((1 << bits) - 1) if bits < 64 else samples.long()
        # the lower median and the mode are values that occur in the ring, so they are valid stored values
        return samples.mode(dim=-1).values if categorical else samples.median(dim=-1).values

    def _constant(self, pixels: torch.Tensor, channels: int, bits: int | None) -> torch.Tensor:
        """The constant fill as a ``(C, 1)`` tensor, checked against the sample range."""
        values = [self.fill] * channels if isinstance(self.fill, Real) else list(self.fill)
        if len(values) != channels:
            raise SettingsMismatchError(
                None, f"redact: fill has {len(values)} values for an image with {channels} channels"
            )
        if not pixels.is_floating_point():
            info = torch.iinfo(pixels.dtype)
            low, high = info.min, info.max
            if bits:
                low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if info.min < 0 else (0, 2**bits - 1)
            if any(v != int(v) or not low <= v <= high for v in values):
                raise SettingsMismatchError(
                    None, f"redact: a constant fill must be an integer in [{low}, {high}] for these samples"
                )
        dtype = torch.float64 if pixels.is_floating_point() else torch.long
        return torch.tensor(values, dtype=dtype, device=pixels.device)[:, None]


class RedactPixelsd(MapTransform):
    """Dictionary wrapper of :py:class:`RedactPixels`.

    Reads the image from ``data[key]`` and its text regions from ``data[f"{key}_text"]`` (written by
    DetectBurnedInText, labelled by ClassifyPHI), redacts regions whose ``is_phi`` is True or None, and sets
    ``meta["pixels_redacted"]`` to whether any pixel changed (kept True if an earlier pass already redacted).

    Args:
        keys: keys of the images to redact.
        margin: pixels added on each side of every box before filling.
        fill: ``"background"`` (default) or a constant stored value (one number or one per channel).
        ring: width in pixels of the ring the background is measured on.
        allow_missing_keys: don't raise if a key is missing.

    Raises:
        KeyError: ``data[f"{key}_text"]`` is missing: text detection has not run, so redaction cannot be trusted.
        TypeError: ``data[key]`` is not a ``MetaTensor``.
    """

    backend = RedactPixels.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        margin: int = 3,
        fill: Fill = "background",
        ring: int = 3,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.redactor = RedactPixels(margin=margin, fill=fill, ring=ring)

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            img = d[key]
            if not isinstance(img, MetaTensor):
                raise TypeError(f"{key!r} must be a MetaTensor with the loader's meta")
            text_key = f"{key}_text"
            if text_key not in d:
                raise KeyError(f"{text_key!r} is missing: run DetectBurnedInText (and ClassifyPHI) before redaction")
            d[key] = self.redactor(img, d[text_key])
            # with nothing to fill the input comes back as it was, without the flag
            d[key].meta.setdefault("pixels_redacted", False)
        return d
