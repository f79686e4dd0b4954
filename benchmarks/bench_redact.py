"""Throughput of RedactPixels: all frames in one call (vectorised) against the same transform frame by frame.

Usage: PYTHONPATH=. python benchmarks/bench_redact.py [--device cpu|cuda] [--repeats 5]

The baseline is what a per-frame pipeline does: one call per frame. Both give identical pixels (checked).
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from monai_deid.redact import RedactPixels
from monai_deid.regions import TextRegion


def cine(channels: int, frames: int, rows: int, columns: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """Noisy background with bright text-like bars in a header band."""
    gen = torch.Generator().manual_seed(0)
    high = 256 if dtype == torch.uint8 else 4096
    pixels = torch.randint(0, high // 8, (channels, frames, rows, columns), generator=gen)
    pixels[:, :, 8:40:12, 10:300:3] = high - 1
    return pixels.to(dtype).to(device)


def regions(frames: int, clock: bool) -> list[TextRegion]:
    """Eight header lines on every frame, four labels on every other frame; with ``clock``, one region per frame."""
    every = tuple(range(frames))
    ticks = [TextRegion((f,), (520, 440, 630, 470), "", 1.0, True) for f in range(frames)] if clock else []
    lines = [
        TextRegion(every, (10 + 70 * (i % 4), 6 + 14 * (i // 4), 70 + 70 * (i % 4), 18 + 14 * (i // 4)), "", 1.0, True)
        for i in range(8)
    ]
    labels = [TextRegion(every[::2], (300 + 40 * i, 400, 330 + 40 * i, 412), "", 1.0, True) for i in range(4)]
    return lines + labels + ticks


def timed(fn, repeats: int, device: str) -> float:
    """Median wall time in milliseconds."""
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def per_frame(redactor: RedactPixels, img: torch.Tensor, found: list[TextRegion]) -> torch.Tensor:
    """Baseline: one call per frame with the regions that are on it."""
    out = []
    for f in range(img.shape[1]):
        on_frame = [TextRegion((0,), r.box, r.text, r.confidence, r.is_phi) for r in found if f in r.frames]
        out.append(redactor(img[:, f : f + 1], on_frame))
    return torch.cat(out, dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    print(f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()}")
    print("| image | fill | all frames (ms) | per frame (ms) | speed-up |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, shape, dtype, clock in (
        ("US cine RGB 3x200x480x640 uint8", (3, 200, 480, 640), torch.uint8, False),
        ("same + a clock region per frame (212 regions)", (3, 200, 480, 640), torch.uint8, True),
        ("MR 1x100x512x512 uint16 (12 bit)", (1, 100, 512, 512), torch.uint16, False),
    ):
        img = cine(*shape, dtype, args.device)
        found = regions(shape[1], clock)
        for fill in ("background", 0):
            redactor = RedactPixels(fill=fill)
            assert torch.equal(redactor(img, found).cpu(), per_frame(redactor, img, found).cpu())
            batched = timed(partial(redactor, img, found), args.repeats, args.device)
            looped = timed(partial(per_frame, redactor, img, found), args.repeats, args.device)
            print(f"| {label} | {fill} | {batched:.1f} | {looped:.1f} | {looped / batched:.1f}x |")


if __name__ == "__main__":
    main()
