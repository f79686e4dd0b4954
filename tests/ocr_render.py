"""Render known strings onto synthetic frames for the OCR tests (no randomness without a seed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype")
FONTS = {
    "sans": FONT_DIR / "dejavu/DejaVuSans.ttf",
    "mono": FONT_DIR / "dejavu/DejaVuSansMono.ttf",
    "serif": FONT_DIR / "dejavu/DejaVuSerif.ttf",
    "sans_bold": FONT_DIR / "dejavu/DejaVuSans-Bold.ttf",
    "droid": FONT_DIR / "droid/DroidSansFallbackFull.ttf",
    "noto_mono": FONT_DIR / "noto/NotoSansMono-Regular.ttf",
}

#: Strings of the kinds scanners burn in: names, dates, IDs, clinical labels.
STRINGS = [
    "SMITH^JOHN",
    "DOE, JANE A",
    "2023-04-17",
    "17/04/2023 14:32",
    "MRN 00412377",
    "ID: A1B2C3D4",
    "ST MARY HOSPITAL",
    "LIVER LT LOBE",
    "ACC 7781234",
    "DOB 03.11.1961",
    "GARCIA MARIA",
    "RT KIDNEY 4.2cm",
]


@dataclass(frozen=True)
class Rendered:
    """A string drawn on a frame, the box its ink covers (x0, y0, x1, y1, end-exclusive) and each word's box."""

    text: str
    box: tuple[int, int, int, int]
    words: tuple[tuple[int, int, int, int], ...] = ()


def background(h: int, w: int, kind: str, level: float, rng: np.random.Generator) -> np.ndarray:
    """A float background in [0, 1]: flat, gradient, speckle-like texture or smooth blobs."""
    if kind == "flat":
        return np.full((h, w), level, np.float32)
    if kind == "gradient":
        return np.tile(np.linspace(level * 0.6, min(1.0, level * 1.4 + 0.05), w, dtype=np.float32), (h, 1))
    if kind == "texture":
        # Grainy, spatially correlated texture (speckle-like), deviation ~0.06 of full scale.
        noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, (h, w)).astype(np.float32), (0, 0), 1.2)
        return np.clip(level + noise * (0.06 / max(float(noise.std()), 1e-6)), 0, 1)
    raise ValueError(kind)


def draw_strings(
    base: np.ndarray,
    strings: list[str],
    font: str,
    size: int,
    ink: float,
    origin: tuple[int, int] = (10, 10),
    spacing: float = 2.2,
) -> tuple[np.ndarray, list[Rendered]]:
    """Draw ``strings`` one per line on a float [0, 1] image with ink level ``ink``; return image and boxes."""
    h, w = base.shape
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    face = ImageFont.truetype(str(FONTS[font]), size)
    rendered = []
    x, y = origin
    for text in strings:
        left, top, right, bottom = draw.textbbox((x, y), text, font=face)
        draw.text((x, y), text, fill=255, font=face)
        words, cursor = [], x
        for word in text.split(" "):
            words.append(tuple(round(v) for v in draw.textbbox((cursor, y), word, font=face)))
            cursor += draw.textlength(word + " ", font=face)
        rendered.append(Rendered(text, (left, top, right, bottom), tuple(words)))
        y += int(size * spacing)
    alpha = np.asarray(canvas, np.float32) / 255.0
    return base * (1 - alpha) + ink * alpha, rendered


def _normalised(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def text_similarity(a: str, b: str) -> float:
    """Similarity of two readings, ignoring case, spaces and punctuation (0..1)."""
    from difflib import SequenceMatcher

    return SequenceMatcher(None, _normalised(a), _normalised(b)).ratio()


def is_found(regions, rendered: Rendered, frame: int, min_similarity: float = 0.7, min_cover: float = 0.9) -> bool:
    """Whether the regions on ``frame`` cover ``rendered``'s ink box and read as its text.

    The detector may split a line into words, so the regions overlapping the ink box are taken together: their union
    must cover ``min_cover`` of the words' ink boxes and their texts, left to right, must match the string tolerantly.
    """
    x0, y0, x1, y1 = rendered.box
    hits = [
        r for r in regions if frame in r.frames and r.box[0] < x1 and x0 < r.box[2] and r.box[1] < y1 and y0 < r.box[3]
    ]
    if not hits:
        return False
    if any(
        _cover([r], rendered) >= min_cover and text_similarity(r.text, rendered.text) >= min_similarity for r in hits
    ):
        return True
    text = " ".join(r.text for r in sorted(hits, key=lambda r: (r.box[0], r.box[1])))
    return _cover(hits, rendered) >= min_cover and text_similarity(text, rendered.text) >= min_similarity


def _cover(hits, rendered: Rendered) -> float:
    """Share of the words' ink-box pixels that lie inside a region box."""
    x0, y0, x1, y1 = rendered.box
    ink = np.zeros((y1 - y0, x1 - x0), bool)
    for wx0, wy0, wx1, wy1 in rendered.words or (rendered.box,):
        ink[max(0, wy0 - y0) : max(0, wy1 - y0), max(0, wx0 - x0) : max(0, wx1 - x0)] = True
    covered = np.zeros_like(ink)
    for r in hits:
        covered[max(0, r.box[1] - y0) : max(0, r.box[3] - y0), max(0, r.box[0] - x0) : max(0, r.box[2] - x0)] = True
    return float((covered & ink).sum() / max(1, ink.sum()))


def band_text(regions, band: tuple[int, int, int, int]) -> str:
    """Texts of the regions whose centre lies in ``band``, left to right (a line split into words reads whole)."""
    x0, y0, x1, y1 = band
    inside = [r for r in regions if x0 <= (r.box[0] + r.box[2]) / 2 < x1 and y0 <= (r.box[1] + r.box[3]) / 2 < y1]
    return " ".join(r.text for r in sorted(inside, key=lambda r: r.box[0]))
