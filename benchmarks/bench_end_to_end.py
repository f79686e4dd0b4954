"""End-to-end throughput of monai-deid against Presidio's DICOM image redactor and header-only floors, in one run.

What it does, in one invocation:

1. builds the fixed corpus (:mod:`benchmarks.corpus`) and its answer key under ``--workdir``;
2. runs Presidio's ``DicomImageRedactorEngine`` on the single-frame ultrasound set (and, to record what happens, on
   the cine) in its own venv (:mod:`benchmarks.run_presidio`, created by ``benchmarks/presidio_env.sh``);
3. runs monai-deid's real command line (``python -m monai_deid.cli run``: whatever stages ``build_pipeline`` has in
   the checked-out code) on the same ultrasound files with ``--workers 1`` and ``--workers 2``, and with one worker on
   the CT/MR set without text, the compressed set and the cine set;
4. runs the header-only floors on every set: the same command line with ``scan_pixels: false`` (no OCR,
   classification or redaction) and a bare pydicom read + write (:mod:`benchmarks.header_only`);
5. scores the planted PHI strings in each tool's outputs with EasyOCR (:mod:`benchmarks.planted_phi`);
6. prints a Markdown report (machine, command, date, tables) and writes every raw figure to ``results.json``.

Every tool runs as its own process, started cold; a file's time is the gap between its completion and the previous
one's (monai-deid's completions are read from its audit log as the runner appends it). Each set starts with
warm-up files that are left out of every figure, so steady-state rates exclude model loading (with two workers, each
worker loads its models on one of them); the wall-clock column includes everything.

    PYTHONPATH=$PWD /work/main/.venv/bin/python -m benchmarks.bench_end_to_end [--workdir DIR] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pydicom

from benchmarks.corpus import CORPUS_SETS, build_corpus, is_warmup, load_answer_key
from benchmarks.planted_phi import (
    InputCache,
    make_reader,
    outputs_from_audit,
    outputs_from_mirror,
    score_tool,
    summarize,
)

__all__ = ["RunTiming", "machine_description", "main", "run_monai_cli"]

#: The corpus is synthetic; a fixed secret keeps runs comparable when MONAI_DEID_SECRET is not set.
BENCH_SECRET = "monai-deid-benchmark-secret"
REPO = Path(__file__).resolve().parents[1]
PRESIDIO_PYTHON = Path("/work/anchors/presidio/bin/python")
_POLL_S = 0.02


@dataclass
class RunTiming:
    """One tool's run over one corpus set.

    Args:
        tool: the row label.
        corpus_set: the corpus folder it ran on.
        wall_s: the whole process, start-up included.
        files: per input file (corpus-set relative), in completion order: ``(name, status, done_s)``.
        frames: frames of each input file.
        cpu_s: processor seconds (user and system) of the command and its workers, start-up included.
        note: anything the reader must know (failures, missing tools).
    """

    tool: str
    corpus_set: str
    wall_s: float = 0.0
    files: list[tuple[str, str, float]] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    note: str = ""

    def per_file_seconds(self) -> dict[str, float]:
        """Each file's own time: the gap since the previous completion (exact for one sequential process)."""
        seconds, previous = {}, None
        for name, _, done in self.files:
            if previous is not None:
                seconds[name] = done - previous
            previous = done
        return seconds

    def measured(self) -> list[tuple[str, str, float]]:
        return [f for f in self.files if not is_warmup(f[0])]

    def steady(self) -> tuple[int, int, float]:
        """Files, frames and seconds after as many completions as there are warm-up files (models loaded)."""
        warm = sum(is_warmup(name) for name, _, _ in self.files)
        if warm == 0 or len(self.files) <= warm:
            return 0, 0, 0.0
        window = self.files[warm:]
        seconds = window[-1][2] - self.files[warm - 1][2]
        return len(window), sum(self.frames.get(name, 1) for name, _, _ in window), seconds

    def written(self) -> int:
        return sum(status == "ok" for _, status, _ in self.measured())


def _frames(folder: Path) -> dict[str, int]:
    counts = {}
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        counts[str(path.relative_to(folder))] = int(getattr(ds, "NumberOfFrames", 1) or 1)
    return counts


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("MONAI_DEID_SECRET", BENCH_SECRET)
    return env


def _children_cpu_s() -> float:
    """Processor seconds of this process's children that have ended and been waited for, their own children
    included (a command's workers count once the command has waited for them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_monai_cli(
    corpus_set: Path,
    output: Path,
    workers: int,
    log: Path,
    header_only: bool = False,
    env: dict[str, str] | None = None,
    extra: list[str] | None = None,
) -> RunTiming:
    """Run ``python -m monai_deid.cli run`` on a folder; completion times come from its audit log as it grows.

    Args:
        corpus_set: the input folder.
        output: the output folder (emptied first); the audit log goes beside it.
        workers: ``--workers``.
        log: where the command's own output goes.
        header_only: run with ``scan_pixels: false`` in the config (no OCR, classification or redaction).
        env: extra environment variables for the command.
        extra: more command-line arguments (``["--device", "cuda"]``).
    """
    shutil.rmtree(output, ignore_errors=True)
    audit = output.with_name(output.name + ".audit.jsonl")
    audit.unlink(missing_ok=True)
    command = [sys.executable, "-m", "monai_deid.cli", "run", str(corpus_set), str(output), "--audit", str(audit)]
    command += ["--workers", str(workers), "--no-progress", *(extra or [])]
    label = f"monai-deid --workers {workers}"
    if header_only:
        config = output.with_name("header_only.yaml")
        config.write_text("scan_pixels: false\n")
        command += ["--config", str(config)]
        label = "header-only monai-deid"
    timing = RunTiming(label, corpus_set.name, frames=_frames(corpus_set))
    start, cpu_before = time.perf_counter(), _children_cpu_s()
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_env() | (env or {}), cwd=REPO)
        seen = 0
        while True:
            finished = process.poll() is not None
            text = audit.read_text() if audit.exists() else ""
            # a line still being written (no newline yet) is read on the next poll
            lines = text.splitlines() if finished else text.splitlines()[: text.count("\n")]
            now = time.perf_counter() - start
            for line in lines[seen:]:
                if line.strip():
                    record = json.loads(line)
                    name = str(Path(record["source"]).resolve().relative_to(corpus_set.resolve()))
                    timing.files.append((name, record["status"], now))
            seen = len(lines)
            if finished:
                break
            time.sleep(_POLL_S)
    timing.wall_s = time.perf_counter() - start
    timing.cpu_s = _children_cpu_s() - cpu_before
    if process.returncode not in (0, 1):  # 1 means "some files not written", which the table shows
        timing.note = f"exit status {process.returncode}, see {log}"
    return timing


def _run_json_tool(tool: str, command: list[str], result: Path, corpus_set: Path, log: Path) -> RunTiming:
    timing = RunTiming(tool, corpus_set.name, frames=_frames(corpus_set))
    start = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT, env=_env(), cwd=REPO)
    timing.wall_s = time.perf_counter() - start
    if code != 0 or not result.exists():
        timing.note = f"failed with exit status {code}, see {log}"
        return timing
    data = json.loads(result.read_text())
    timing.files = [(f["file"], f["status"], f["done_s"]) for f in data["files"]]
    failures = [f for f in data["files"] if f["status"] != "ok" and not is_warmup(f["file"])]
    if failures:
        errors = sorted({f.get("error") or "" for f in failures})
        timing.note = f"{len(failures)} failed: " + "; ".join(errors)
    return timing


def run_presidio(workdir: Path, corpus_set: Path) -> RunTiming:
    """Presidio's redactor on every file of a set, in its own venv."""
    if not PRESIDIO_PYTHON.exists():
        return RunTiming("Presidio", corpus_set.name, note="no Presidio venv: run bash benchmarks/presidio_env.sh")
    corpus = corpus_set.parent
    names = [str(p.relative_to(corpus)) for p in sorted(corpus_set.glob("*.dcm"))]
    result = workdir / f"presidio_{corpus_set.name}.json"
    command = [str(PRESIDIO_PYTHON), str(REPO / "benchmarks" / "run_presidio.py"), "--root", str(corpus)]
    command += ["--output", str(workdir / "out" / "presidio"), "--json", str(result), *names]
    timing = _run_json_tool("Presidio", command, result, corpus_set, workdir / f"presidio_{corpus_set.name}.log")
    timing.files = [(str(Path(n).relative_to(corpus_set.name)), s, d) for n, s, d in timing.files]
    return timing


def run_pydicom_floor(workdir: Path, corpus_set: Path) -> RunTiming:
    """The bare floor: pydicom read + write of every file (:mod:`benchmarks.header_only`)."""
    output = workdir / "out" / f"pydicom_{corpus_set.name}"
    result = workdir / f"pydicom_{corpus_set.name}.json"
    command = [sys.executable, "-m", "benchmarks.header_only", str(corpus_set), str(output), "--json", str(result)]
    log = workdir / f"pydicom_{corpus_set.name}.log"
    return _run_json_tool("pydicom read+write", command, result, corpus_set, log)


def _pipeline_stages(probe_dir: Path) -> str:
    """The stages of the checked-out ``build_pipeline``, to say what was measured."""
    code = (
        "import sys; from monai_deid.pipeline import build_pipeline as b; "
        "print(' -> '.join(type(t).__name__ for t in b(sys.argv[1]).transforms))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(probe_dir)], capture_output=True, text=True, env=_env(), cwd=REPO
    )
    return done.stdout.strip() or f"(could not list: {done.stderr.strip().splitlines()[-1:]})"


def _git_head() -> str:
    done = subprocess.run(["git", "log", "-1", "--format=%h %s"], capture_output=True, text=True, cwd=REPO)
    return done.stdout.strip()


def _rate(timing: RunTiming) -> tuple[float, float]:
    files, frames, seconds = timing.steady()
    return (files / seconds, frames / seconds) if seconds > 0 else (0.0, 0.0)


def _throughput_table(rows: list[RunTiming], reference: RunTiming | None) -> list[str]:
    lines = [
        "| set | tool | files (written) | frames | wall s | steady s | files/s | frames/s | vs Presidio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ref_rate = _rate(reference)[0] if reference else 0.0
    for t in rows:
        files, frames, seconds = t.steady()
        fps, frps = _rate(t)
        ratio = f"{fps / ref_rate:.2f}x" if ref_rate and t.corpus_set == reference.corpus_set else ""
        lines.append(
            f"| {t.corpus_set} | {t.tool} | {files} ({t.written()}) | {frames} | {t.wall_s:.1f} | {seconds:.1f} | "
            f"{fps:.3f} | {frps:.3f} | {ratio} |"
        )
    return lines


def _common_ratio(presidio: RunTiming, monai: RunTiming) -> tuple[int, float, float]:
    """Seconds of each tool over the measured files Presidio wrote (the fairest like-for-like speed ratio)."""
    ok = {name for name, status, _ in presidio.measured() if status == "ok"}
    p_sec, m_sec = presidio.per_file_seconds(), monai.per_file_seconds()
    common = [n for n in ok if n in m_sec]
    return len(common), sum(p_sec[n] for n in common), sum(m_sec[n] for n in common)


def _phi_table(summaries: dict[str, dict]) -> list[str]:
    lines = [
        "| tool | PHI planted | readable in input | removed | still readable | not written | "
        "removed (not in header) | PHI box pixels changed | labels destroyed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tool, s in summaries.items():
        lines.append(
            f"| {tool} | {s['phi_planted']} | {s['phi_readable_in_input']} | {s['phi_removed']} | {s['phi_kept']} | "
            f"{s['phi_no_output']} | {s['phi_removed_not_in_header']}/{s['phi_not_in_header']} | "
            f"{s['phi_box_changed_mean']:.0%} | {s['labels_destroyed']}/{s['labels_planted']} |"
        )
    return lines


def machine_description() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} cores ({cpu}), CPU only, {system}"


def _report(runs: dict[str, RunTiming], summaries: dict[str, dict], context: dict) -> str:
    us = [runs[k] for k in ("presidio_us", "monai_us_1", "monai_us_2", "header_us", "pydicom_us") if k in runs]
    lines = [
        f"Date: {context['date']}  ",
        f"Machine: {context['machine']}; load average {context['load_before']} before, {context['load_after']} after "
        "(other processes share the 2 cores: compare rows of this run only)  ",
        f"Code: `{context['git']}`; monai-deid pipeline: `{context['stages']}`  ",
        f"Presidio: presidio-image-redactor 0.0.62, Tesseract {context['tesseract']}, en_core_web_sm 3.8.0  ",
        f"Command: `{context['command']}` ({context['total_s']:.0f} s in all)",
        "",
        "Throughput (steady: after the warm-up files of each set; wall: the whole process, with imports and models)",
        "",
        *_throughput_table(us, runs.get("presidio_us")),
    ]
    for name in ("notext", "compressed", "cine"):
        rows = [t for t in runs.values() if t.corpus_set == name]
        lines += _throughput_table(rows, None)[2:]
    monai_1, monai_2, presidio = runs.get("monai_us_1"), runs.get("monai_us_2"), runs.get("presidio_us")
    lines.append("")
    if monai_1 and monai_2 and _rate(monai_1)[0]:
        lines.append(
            f"- 2-worker scaling (us_single, steady files/s): {_rate(monai_2)[0] / _rate(monai_1)[0]:.2f}x; "
            f"wall clock {monai_1.wall_s / monai_2.wall_s:.2f}x"
        )
    if presidio and monai_1 and presidio.files:
        count, p_s, m_s = _common_ratio(presidio, monai_1)
        if m_s:
            lines.append(
                f"- On the {count} ultrasound files Presidio wrote: Presidio {p_s:.1f} s, monai-deid (1 worker) "
                f"{m_s:.1f} s: monai-deid at {p_s / m_s:.2f}x Presidio's speed"
            )
    for name in ("notext", "compressed", "cine"):
        full = next((t for t in runs.values() if t.corpus_set == name and t.tool.startswith("monai")), None)
        floor = next((t for t in runs.values() if t.corpus_set == name and t.tool == "header-only monai-deid"), None)
        if full and floor and _rate(full)[0]:
            lines.append(
                f"- {name}: the full pipeline costs {_rate(floor)[0] / _rate(full)[0]:.2f}x the header-only "
                "pipeline per file"
            )
    cine = runs.get("monai_cine")
    if cine:
        seconds = cine.per_file_seconds()
        if "cine30.dcm" in seconds and seconds.get("cine30_frame0.dcm"):
            lines.append(
                f"- cine: 30 frames {seconds['cine30.dcm']:.2f} s vs its single frame "
                f"{seconds['cine30_frame0.dcm']:.2f} s: {seconds['cine30.dcm'] / seconds['cine30_frame0.dcm']:.2f}x"
            )
    notes = [f"- {t.tool} on {t.corpus_set}: {t.note}" for t in runs.values() if t.note]
    lines += ["", "Notes:", *notes] if notes else []
    lines += [
        "",
        "Planted PHI (us_single generated files + cine; EasyOCR reads each answer-key box of the output; removed = "
        "less than half of the string's characters read back)",
        "",
        *_phi_table(summaries),
    ]
    return "\n".join(lines) + "\n"


def _score(workdir: Path, runs: dict[str, RunTiming]) -> dict[str, dict]:
    corpus = workdir / "corpus"
    key = load_answer_key(workdir)
    inputs = InputCache(corpus, make_reader())
    summaries, details = {}, {}
    if runs.get("presidio_us") and runs["presidio_us"].files:
        outputs = outputs_from_mirror(corpus, workdir / "out" / "presidio", list(key))
        details["Presidio"] = score_tool(key, outputs, inputs)
    outputs = {}
    for name in ("monai_us_1", "monai_cine"):
        audit = workdir / "out" / f"{name}.audit.jsonl"
        if audit.exists():
            outputs.update(outputs_from_audit(corpus, audit))
    if outputs:
        details["monai-deid"] = score_tool(key, outputs, inputs)
    for tool, scores in details.items():
        summaries[tool] = summarize(scores)
    (workdir / "planted_phi.json").write_text(json.dumps({t: [asdict(s) for s in v] for t, v in details.items()}))
    return summaries


def _tesseract() -> str:
    try:
        done = subprocess.run(["tesseract", "--version"], capture_output=True, text=True)
    except FileNotFoundError:
        return "(not installed)"
    return (done.stdout or done.stderr).split()[1] if (done.stdout or done.stderr) else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/monai-deid-bench"))
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    parser.add_argument(
        "--sets", nargs="+", choices=CORPUS_SETS, default=list(CORPUS_SETS), help="corpus sets to run (default: all)"
    )
    args = parser.parse_args()
    begin = time.perf_counter()
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    workdir = args.workdir.resolve()
    build_corpus(workdir)
    corpus, out = workdir / "corpus", workdir / "out"
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, RunTiming] = {}
    if "us_single" in args.sets:
        runs["presidio_us"] = run_presidio(workdir, corpus / "us_single")
    if "cine" in args.sets:
        runs["presidio_cine"] = run_presidio(workdir, corpus / "cine")
    if "us_single" in args.sets:
        runs["monai_us_1"] = run_monai_cli(corpus / "us_single", out / "monai_us_1", 1, workdir / "monai_us_1.log")
        runs["monai_us_2"] = run_monai_cli(corpus / "us_single", out / "monai_us_2", 2, workdir / "monai_us_2.log")
    for name in ("notext", "compressed", "cine"):
        if name in args.sets:
            output, log = out / f"monai_{name}", workdir / f"monai_{name}.log"
            runs[f"monai_{name}"] = run_monai_cli(corpus / name, output, 1, log)
    for name in args.sets:
        short = "us" if name == "us_single" else name
        output, log = out / f"header_{short}", workdir / f"header_{short}.log"
        runs[f"header_{short}"] = run_monai_cli(corpus / name, output, 1, log, header_only=True)
        runs[f"pydicom_{short}"] = run_pydicom_floor(workdir, corpus / name)
    for name, timing in runs.items():
        print(f"{name}: {timing.wall_s:.1f} s wall, {len(timing.files)} files {timing.note}", flush=True)
    summaries = _score(workdir, runs)
    context = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "load_before": load_before,
        "load_after": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "git": _git_head(),
        "stages": _pipeline_stages(out / "stages_probe"),
        "tesseract": _tesseract(),
        "command": "PYTHONPATH=$PWD /work/main/.venv/bin/python -m benchmarks.bench_end_to_end "
        + " ".join(sys.argv[1:]),
        "total_s": time.perf_counter() - begin,
    }
    report = _report(runs, summaries, context)
    (workdir / "results.json").write_text(
        json.dumps({"context": context, "runs": {k: asdict(v) for k, v in runs.items()}, "phi": summaries}, indent=1)
    )
    if args.markdown:
        args.markdown.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
