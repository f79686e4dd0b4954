"""Frames per second for 1024x768 ultrasound frames on a GPU: per stage, end to end, and against the CPU.

Writes its own set (no pydicom-data needed, so it runs on a bare GPU machine):

- ``single/``: ``--files`` single-frame grey 1024x768 files, each a speckle sector with its own synthetic patient's
  text burned in (institution, name, ID, birth date, study date, referrer, phone: PHI; probe, preset and indices:
  clinical labels), plus one warm-up file per worker (``000_warmup_*``, left out of every figure);
- ``cine/``: one ``--frames``-frame 1024x768 cine whose speckle moves under a static PHI overlay, and a warm-up.

Then, on ``--device``:

1. stages: ``build_pipeline``'s transforms one by one in this process, synchronised after each
   (``bench_stages``): milliseconds per file and per frame, each stage's share, frames/s;
2. end to end: ``monai-deid run --workers N`` for each N of ``--workers``, whole command in a subprocess; the figure
   is steady frames/s after the warm-ups (``bench_end_to_end.RunTiming.steady``), and the CPU with ``--workers auto``
   on the same files as the baseline of the same run (``--no-cpu`` skips it); "cores busy" is the command's processor
   seconds (its workers' included) over its wall time, start-up included: near the core count, the host is the limit;
3. PHI: every planted string of the single-frame files is read back from each run's outputs with EasyOCR on the CPU
   (``planted_phi.score_tool``): PHI removed, labels destroyed; ``--phi first`` reads back only each device's first
   run (the same code per file, whatever the worker count), ``--phi none`` none.

``--config FILE`` passes a pipeline configuration to every end-to-end run (``detect: {detector: lines}`` with
``verify: {detector: lines}`` measures the CPU's line reading on the GPU); the per-stage table always runs the
default pipeline.

Usage:
    PYTHONPATH=$PWD python -m benchmarks.bench_cuda [--workdir /tmp/monai-deid-cuda] [--device cuda]
        [--files 64] [--frames 30] [--workers 1 auto] [--no-cpu] [--no-stages] [--phi every|first|none]
        [--config FILE] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import torch
from PIL import Image, ImageDraw, ImageFont
from pydicom.uid import UltrasoundImageStorage, UltrasoundMultiFrameImageStorage

from benchmarks.bench_end_to_end import RunTiming, run_monai_cli
from benchmarks.bench_stages import stage_table, time_stages
from benchmarks.corpus import PlantedText, is_warmup
from benchmarks.planted_phi import InputCache, make_reader, outputs_from_audit, score_tool, summarize
from monai_deid.runner import auto_workers
from monai_deid.samples import SamplePatient, make_dataset

HEIGHT, WIDTH = 768, 1024
_FIRST = ("MARGARET", "KENJI", "ANNE", "CHIDI", "SOFIA", "ERIK", "PRIYA", "TOMASZ", "LEILA", "OWEN", "INES", "RAFAEL")
_LAST = ("HARTLEY", "NAKAMURA", "FITZGERALD", "OKAFOR", "MORALES", "LINDQVIST", "RAMANATHAN", "KOWALSKI", "HADDAD")
_TOWNS = ("RIVERSIDE", "NORTHGATE", "LAKESHORE", "WESTBROOK", "HIGHFIELD", "ASHFORD", "MILLBANK", "STONEBRIDGE")
_KINDS = ("GENERAL HOSP", "MEDICAL CENTER", "INFIRMARY", "CLINIC")


def _font_dir() -> Path:
    """DejaVu from Debian's fonts, else the copy matplotlib ships (GPU machines have no Debian fonts)."""
    debian = Path("/usr/share/fonts/truetype/dejavu")
    if debian.is_dir():
        return debian
    import matplotlib

    return Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"


def _patient(rng: np.random.Generator, index: int) -> SamplePatient:
    first, last = _FIRST[index % len(_FIRST)], _LAST[(index * 5 + 1) % len(_LAST)]
    town, kind = _TOWNS[index % len(_TOWNS)], _KINDS[index % len(_KINDS)]
    referrer = f"{_LAST[(index * 7 + 3) % len(_LAST)]}^{_FIRST[(index * 3 + 5) % len(_FIRST)]}"
    digits = "".join(str(d) for d in rng.integers(0, 10, 8))
    birth = f"19{rng.integers(30, 99)}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
    study = f"2024{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
    return SamplePatient(f"{last}^{first}", digits, birth, f"A{digits[::-1]}", study, f"{town} {kind}", referrer)


def _sector(rng: np.random.Generator) -> np.ndarray:
    """A 1024x768 sector scan: Rayleigh speckle inside a fan, black outside."""
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    apex = WIDTH // 2
    fan = (np.hypot(yy - 60, xx - apex) < HEIGHT * 0.9) & (np.abs(xx - apex) < (yy - 60) * 0.8)
    speckle = rng.rayleigh(38, (HEIGHT, WIDTH)) * (1 - yy / (HEIGHT * 1.6))
    return np.where(fan, speckle, 0).clip(0, 255).astype(np.uint8)


def _overlay(p: SamplePatient, phone: str) -> tuple[Image.Image, list[PlantedText]]:
    """The scanner's text on a black 1024x768 canvas, and the answer key of what it holds."""
    image, planted = Image.new("L", (WIDTH, HEIGHT)), []
    draw, fonts = ImageDraw.Draw(image), _font_dir()

    def put(x: int, y: int, text: str, kind: str, size: int, phi: bool = True, prefix: str = "") -> None:
        face = ImageFont.truetype(str(fonts / "DejaVuSans.ttf"), size)
        if prefix:
            draw.text((x, y), prefix, fill=255, font=face)
            x += int(draw.textlength(prefix + " ", font=face))
        draw.text((x, y), text, fill=240, font=face)
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=face)
        box = (max(0, x0 - 2), max(0, y0 - 2), min(WIDTH, x1 + 2), min(HEIGHT, y1 + 2))
        planted.append(PlantedText(text, box, [0], phi, kind, kind != "phone"))

    last, first = p.name.split("^")
    put(14, 10, p.institution, "institution", 20)
    put(14, 38, f"{last}, {first}", "name", 22)
    put(14, 68, p.patient_id, "id", 20, prefix="ID:")
    put(14, 96, f"{p.birth_date[4:6]}/{p.birth_date[6:]}/{p.birth_date[:4]}", "date", 18, prefix="DOB")
    put(800, 10, f"{p.study_date[4:6]}/{p.study_date[6:]}/{p.study_date[:4]}", "date", 20)
    put(800, 38, "C5-1  ABD", "label", 20, phi=False)
    put(800, 66, "MI 1.1  TIS 0.4", "label", 18, phi=False)
    last, first = p.physician.split("^")
    put(14, 700, f"{last}, {first}", "physician", 18, prefix="Ref:")
    put(14, 728, phone, "phone", 18)
    put(780, 728, "GAIN 52  DR 60", "label", 18, phi=False)
    return image, planted


def _dataset(patient: SamplePatient, pixels: np.ndarray, instance: int) -> pydicom.Dataset:
    multi = pixels.shape[0] > 1
    sop = UltrasoundMultiFrameImageStorage if multi else UltrasoundImageStorage
    ds = make_dataset(patient, sop, pixels, "MONOCHROME2", 1, instance)
    ds.Modality, ds.BurnedInAnnotation = "US", "YES"
    if multi:
        ds.FrameTime, ds.CineRate, ds.FrameIncrementPointer = 33.3, 30, 0x00181063
    return ds


def _frame(rng: np.random.Generator, overlay: Image.Image) -> np.ndarray:
    text = np.asarray(overlay)
    return np.where(text > 0, text, _sector(rng))


def build_set(workdir: Path, files: int, frames: int, warmups: int) -> dict[str, list[PlantedText]]:
    """Write ``single/`` and ``cine/`` under ``workdir`` (replaced) and return the answer key of ``single/``."""
    rng = np.random.default_rng(1024)
    for folder in ("single", "cine"):
        shutil.rmtree(workdir / folder, ignore_errors=True)
        (workdir / folder).mkdir(parents=True)
    key = {}
    names = [f"000_warmup_{i:02d}.dcm" for i in range(warmups)] + [f"us1024_{i:03d}.dcm" for i in range(files)]
    for index, name in enumerate(names):
        patient = _patient(rng, index)
        overlay, planted = _overlay(patient, f"TEL 617-555-{1000 + index:04d}")
        pydicom.dcmwrite(
            workdir / "single" / name,
            _dataset(patient, _frame(rng, overlay)[None], index + 1),
            enforce_file_format=True,
        )
        key[name] = planted
    for name, count in (("000_warmup_00.dcm", 2), (f"cine{frames}.dcm", frames)):
        patient = _patient(rng, 1000 + count)
        overlay, _ = _overlay(patient, "TEL 212-555-0199")
        stack = np.stack([_frame(rng, overlay) for _ in range(count)])
        pydicom.dcmwrite(workdir / "cine" / name, _dataset(patient, stack, 1), enforce_file_format=True)
    return key


def _stage_rows(name: str, files: list[Path], workdir: Path, device: str) -> list[str]:
    warm = [p for p in files if is_warmup(p)]
    measured = [p for p in files if not is_warmup(p)]
    time_stages(warm, workdir / "stages_out" / name, device)
    passes: Counter = Counter()
    seconds, frames = time_stages(measured, workdir / "stages_out" / name, device, passes=passes)
    rate = f"{frames / sum(seconds.values()):.1f} frames/s in one process"
    return [*stage_table(name, seconds, len(measured), frames, passes), rate, ""]


def _run(folder: Path, out: Path, workers: int | str, device: str, config: Path | None) -> RunTiming:
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = ["--device", device, *(["--config", str(config)] if config else [])]
    return run_monai_cli(folder, out, workers, out.with_suffix(".log"), extra=extra)


def _rate_row(timing: RunTiming, baseline: float | None) -> str:
    files, frames, seconds = timing.steady()
    rate = frames / seconds if seconds else 0.0
    ratio = f"{rate / baseline:.2f}x" if baseline else "baseline"
    busy = timing.cpu_s / timing.wall_s if timing.wall_s else 0.0
    cells = f"{files} | {frames} | {seconds:.2f} | {rate:.1f} | {ratio} | {busy:.1f}"
    return f"| {timing.tool} | {timing.corpus_set} | {cells} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/monai-deid-cuda"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--workers", nargs="+", default=["1", "auto"], help="worker counts to run, or auto")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU baseline")
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage table")
    parser.add_argument(
        "--phi", choices=("every", "first", "none"), default="every", help="which runs to read back for PHI"
    )
    parser.add_argument("--config", type=Path, help="monai-deid run --config for every end-to-end run")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    counts = [auto_workers(args.files, args.device) if n == "auto" else int(n) for n in args.workers]
    key = build_set(workdir, args.files, args.frames, max(counts))
    name = torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda" else platform.processor()
    lines = [f"machine: {name}, {torch.__version__}, {torch.get_num_threads()} threads; device {args.device}", ""]
    if not args.no_stages:
        for folder in ("single", "cine"):
            lines += _stage_rows(folder, sorted((workdir / folder).glob("*.dcm")), workdir, args.device)
        if torch.device(args.device).type == "cuda":
            reserved = torch.cuda.max_memory_reserved(args.device) / 2**20
            lines += [f"GPU memory reserved by one process's pipeline, at most: {reserved:.0f} MiB", ""]
        print("\n".join(lines), flush=True)
    runs = [(f"{args.device} --workers {n}", n, args.device) for n in args.workers]
    lines += [f"--workers auto on {args.device}: {auto_workers(args.files, args.device)}", ""]
    if not args.no_cpu:
        runs.append(("cpu --workers auto", "auto", "cpu"))
    lines += [
        "| run | set | files | frames | seconds | frames/s | vs first | cores busy |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    reader, phi = make_reader(), {}
    inputs = InputCache(workdir / "single", reader)
    baselines: dict[str, float] = {}
    for run_index, (label, workers, device) in enumerate(runs):
        # The cine is one file: only the first GPU run and the CPU run read it.
        for folder in ("single", "cine") if run_index == 0 or device == "cpu" else ("single",):
            out = workdir / "runs" / f"{label.replace(' ', '_')}_{folder}"
            timing = _run(workdir / folder, out, workers, device, args.config)
            timing.tool = label
            lines.append(_rate_row(timing, baselines.get(folder)))
            print(lines[-1], flush=True)
            _, frames, seconds = timing.steady()
            baselines.setdefault(folder, frames / seconds if seconds else 0.0)
            first = not any(k.startswith(device) for k in phi)
            if folder == "single" and (args.phi == "every" or (args.phi == "first" and first)):
                audit = out.with_name(out.name + ".audit.jsonl")
                phi[label] = summarize(score_tool(key, outputs_from_audit(workdir / "single", audit), inputs))
    lines += ["", "| run | PHI planted | removed | kept | labels destroyed |", "| --- | ---: | ---: | ---: | ---: |"]
    for label, s in phi.items():
        cells = (s["phi_planted"], s["phi_removed"], s["phi_kept"], s["labels_destroyed"])
        lines.append(f"| {label} | " + " | ".join(str(n) for n in cells) + " |")
    report = "\n".join(lines)
    print(report)
    (workdir / "report.json").write_text(json.dumps(phi, indent=1))
    if args.markdown:
        args.markdown.write_text(report + "\n")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"bench_cuda: {time.perf_counter() - start:.0f} s")
