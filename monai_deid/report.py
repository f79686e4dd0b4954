"""The review report: one self-contained HTML page for a privacy officer to check a de-identification run.

Per file it shows a before and after preview side by side with the text regions outlined on the before image, each
region's decision with its reason code and score (never the recognised text), the header changes counted by action,
and the files that were quarantined or failed with their reasons. The page holds PHI (the before images, the source
paths), so it must never be written inside the output folder; it loads nothing from anywhere (images are data URIs
and its Content-Security-Policy forbids every fetch and script).
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
from PIL import Image
from pydicom.dataset import Dataset

from monai_deid.audit import AuditRecord, Status
from monai_deid.errors import DeidError
from monai_deid.header_changes import HEADER_ACTIONS, compare_headers
from monai_deid.io import LoadDicomWithMeta
from monai_deid.thumbnail import render_preview

__all__ = ["REPORT_NAME", "ReportLocationError", "ReviewReport", "check_report_dir", "write_review_report"]

#: File name of the page inside the report folder.
REPORT_NAME = "review.html"
#: Outline colours: redacted PHI, text judged safe and kept, text not classified.
BOX_COLOURS = {True: "#ff1f1f", False: "#ffc400", None: "#e040fb"}
_DECISIONS = {True: "redacted", False: "kept", None: "not classified"}


class ReportLocationError(ValueError):
    """The report folder is inside the output folder (or is it): the page holds PHI and must stay out of it."""


def check_report_dir(report_dir: str | Path, output_dir: str | Path | None) -> Path:
    """The resolved report folder, after checking it lies outside ``output_dir``.

    Raises:
        ReportLocationError: ``report_dir`` is ``output_dir`` or inside it.
    """
    report_dir = Path(report_dir).resolve()
    if output_dir is not None:
        output_dir = Path(output_dir).resolve()
        if report_dir == output_dir or output_dir in report_dir.parents:
            raise ReportLocationError(
                "the review report shows the original images, so it must be written outside the output folder"
            )
    return report_dir


def _data_uri(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _frame_ranges(frames: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` as ``"0-2, 5"``."""
    runs: list[list[int]] = []
    for frame in sorted(frames):
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _shown_frame(regions: Sequence[dict], frames: int) -> int:
    """The frame with the most PHI regions (so the officer sees what was redacted), else the middle frame."""
    votes = Counter(f for region in regions if region.get("is_phi") for f in region.get("frames", []) if f < frames)
    return votes.most_common(1)[0][0] if votes else frames // 2


def _regions_table(regions: Sequence[dict]) -> str:
    if not regions:
        return '<p class="muted">No burned-in text regions recorded.</p>'
    rows = []
    for index, region in enumerate(regions, 1):
        decision = region.get("is_phi")
        score = region.get("score")
        rows.append(
            "<tr>"
            f'<td><span class="swatch" style="background:{BOX_COLOURS[decision]}"></span>{index}</td>'
            f"<td>{_DECISIONS[decision]}</td>"
            f"<td>{html.escape(str(region.get('reason') or ''))}</td>"
            f"<td>{'' if score is None else f'{score:.2f}'}</td>"
            f"<td>{float(region.get('confidence', 0)):.2f}</td>"
            f"<td>{html.escape(_frame_ranges(region.get('frames', [])))}</td>"
            f"<td>{html.escape(', '.join(str(v) for v in region.get('box', [])))}</td>"
            "</tr>"
        )
    head = "<tr><th>#</th><th>decision</th><th>reason</th><th>score</th><th>OCR conf.</th><th>frames</th>"
    head += "<th>box x0, y0, x1, y1</th></tr>"
    return f'<table class="regions">{head}{"".join(rows)}</table>'


def _header_summary(changes: dict[str, int] | None) -> str:
    if not changes:
        return '<p class="muted">Header changes: not recorded.</p>'
    cells = "".join(
        f'<span class="count"><b>{int(changes[action])}</b> {action}</span>'
        for action in HEADER_ACTIONS
        if action in changes
    )
    return f'<p class="header-changes">Header attributes: {cells}</p>'


def _figure(label: str, uri: str | None, caption: str) -> str:
    if uri is None:
        return f'<figure><div class="missing">{html.escape(caption)}</div><figcaption>{label}</figcaption></figure>'
    return (
        f'<figure><img src="{uri}" alt="{label} preview">'
        f"<figcaption>{label} &middot; {html.escape(caption)}</figcaption></figure>"
    )


class ReviewReport:
    """Collects one section per audited file and writes them as one self-contained HTML page.

    Previews are rendered when a file is added, so the report never holds more than one file's pixels.

    Args:
        report_dir: folder the page is written to (created when missing); must be outside ``output_dir``.
        output_dir: the run's output folder, checked against ``report_dir``.
        title: the page title.
        max_size: the longer side of each preview, in pixels.

    Raises:
        ReportLocationError: ``report_dir`` is inside ``output_dir``.
    """

    def __init__(
        self,
        report_dir: str | Path,
        output_dir: str | Path | None = None,
        title: str = "monai-deid review report",
        max_size: int = 360,
    ) -> None:
        self.report_dir = check_report_dir(report_dir, output_dir)
        self.title = title
        self.max_size = max_size
        self._sections: list[str] = []
        self._not_written: list[AuditRecord] = []
        self._counts: Counter = Counter()

    def add(
        self,
        record: AuditRecord,
        before: torch.Tensor | None = None,
        after: torch.Tensor | None = None,
        before_header: Dataset | None = None,
        after_header: Dataset | None = None,
    ) -> None:
        """Add one file's section.

        Args:
            record: the file's audit record; its ``details`` give the text regions.
            before: the original ``(C, F, H, W)`` stored values (a MetaTensor's ``photometric_interpretation`` and
                ``bits_stored`` meta are used); ``None`` when the file could not be read.
            after: the written pixels, or ``None`` when nothing was written.
            before_header: the original header (palette lookup tables, header changes).
            after_header: the written header.
        """
        self._counts[record.status] += 1
        if record.status in (Status.FAILED, Status.QUARANTINED):
            self._not_written.append(record)
        if record.status == Status.SKIPPED:
            return
        regions = list(record.details.get("text_regions") or [])
        both = before_header is not None and after_header is not None
        changes = compare_headers(before_header, after_header) if both else None
        frame = _shown_frame(regions, int(before.shape[1])) if before is not None else 0
        before_uri = self._preview(before, before_header, frame, regions)
        after_uri = self._preview(after, after_header or before_header, frame, [])
        self._sections.append(self._section(record, before_uri, after_uri, frame, before, regions, changes))

    def add_from_files(self, record: AuditRecord) -> None:
        """Add a section, reading the source and the written output again (the way ``--report`` uses it)."""
        loader = LoadDicomWithMeta()
        before = before_header = after = after_header = None
        if record.status != Status.SKIPPED:
            # an unreadable source is listed with its reason, without a preview
            with contextlib.suppress(DeidError):
                before, before_header, _ = loader(record.source)
        if record.output:
            after, after_header, _ = loader(record.output)
        self.add(record, before, after, before_header, after_header)

    def _preview(
        self, image: torch.Tensor | None, header: Dataset | None, frame: int, regions: Sequence[dict]
    ) -> str | None:
        if image is None:
            return None
        meta = getattr(image, "meta", {}) or {}
        photometric = str(meta.get("photometric_interpretation") or (header or {}).get("PhotometricInterpretation"))
        boxes = [(region["box"], BOX_COLOURS[region.get("is_phi")]) for region in regions if frame in region["frames"]]
        picture = render_preview(
            image, photometric, frame, header, int(meta.get("bits_stored", 8)), self.max_size, boxes
        )
        return _data_uri(picture)

    def _section(
        self,
        record: AuditRecord,
        before_uri: str | None,
        after_uri: str | None,
        frame: int,
        before: torch.Tensor | None,
        regions: Sequence[dict],
        changes: dict[str, int] | None,
    ) -> str:
        details = record.details
        facts = [f"{name}: {details[name]}" for name in ("modality", "frames", "transfer_syntax") if name in details]
        frames = int(before.shape[1]) if before is not None else 0
        on_frame = sum(1 for region in regions if frame in region.get("frames", []))
        caption = f"frame {frame + 1} of {frames}, {on_frame} of {len(regions)} regions outlined" if frames else ""
        missing = record.reason or "not written"
        output = html.escape(record.output) if record.output else "&mdash;"
        return (
            f'<section class="file {record.status}">'
            f'<h2><span class="badge {record.status}">{record.status}</span> {html.escape(record.source)}</h2>'
            f'<p class="muted">output: {output}{" &middot; " if facts else ""}{html.escape(" · ".join(facts))}</p>'
            f'<div class="pair">{_figure("before", before_uri, caption or missing)}'
            f"{_figure('after', after_uri, f'frame {frame + 1} of {frames}' if after_uri else missing)}</div>"
            f"{_header_summary(changes)}{_regions_table(regions)}</section>"
        )

    def _not_written_table(self) -> str:
        if not self._not_written:
            return "<p>Every readable file was written.</p>"
        rows = "".join(
            f'<tr><td><span class="badge {r.status}">{r.status}</span></td><td>{html.escape(r.source)}</td>'
            f"<td>{html.escape(r.code or '')}</td><td>{html.escape(r.reason or '')}</td>"
            f"<td>{html.escape(str(r.details.get('quarantined_copy') or ''))}</td></tr>"
            for r in self._not_written
        )
        head = "<tr><th>status</th><th>source</th><th>code</th><th>reason</th><th>quarantined copy</th></tr>"
        return f'<table class="not-written">{head}{rows}</table>'

    def html(self) -> str:
        """The page as a string."""
        counts = " ".join(
            f'<span class="count"><b>{self._counts[s]}</b> {s}</span>'
            for s in (Status.OK, Status.QUARANTINED, Status.FAILED, Status.SKIPPED)
        )
        created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        legend = " ".join(
            f'<span><span class="swatch" style="background:{BOX_COLOURS[k]}"></span>{_DECISIONS[k]}</span>'
            for k in (True, False, None)
        )
        return _PAGE.format(
            title=html.escape(self.title),
            created=created,
            counts=counts,
            legend=legend,
            not_written=self._not_written_table(),
            sections="".join(self._sections),
        )

    def write(self) -> Path:
        """Write the page to ``report_dir/review.html`` and return its path."""
        self.report_dir.mkdir(parents=True, exist_ok=True)
        path = self.report_dir / REPORT_NAME
        path.write_text(self.html(), encoding="utf-8")
        return path


def write_review_report(
    records: Iterable[AuditRecord], report_dir: str | Path, output_dir: str | Path | None = None
) -> Path:
    """Build the review page of a finished run from its audit records and return its path.

    Args:
        records: the run's audit records (``monai_deid.audit.read_audit``).
        report_dir: where the page goes; must be outside ``output_dir``.
        output_dir: the run's output folder.
    """
    report = ReviewReport(report_dir, output_dir)
    for record in records:
        report.add_from_files(record)
    return report.write()


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d1d1f; background: #fafafa; }}
h1 {{ margin: 0 0 4px; }} h2 {{ font-size: 15px; margin: 0 0 4px; word-break: break-all; }}
.warning {{ background: #fff3cd; border: 1px solid #e0c060; padding: 8px 12px; border-radius: 6px; }}
.muted {{ color: #666; margin: 2px 0 8px; overflow-wrap: anywhere; }}
.count {{ margin-right: 14px; }}
section.file {{ background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 12px; margin: 14px 0; }}
.pair {{ display: flex; gap: 16px; flex-wrap: wrap; }}
figure {{ margin: 0; }} figure img {{ display: block; background: #000; image-rendering: pixelated; }}
figcaption {{ color: #555; font-size: 12px; }}
.missing {{ width: 240px; height: 120px; display: flex; align-items: center; justify-content: center;
  background: #eee; color: #777; text-align: center; padding: 6px; }}
table {{ border-collapse: collapse; margin-top: 6px; }}
th, td {{ border: 1px solid #ddd; padding: 3px 8px; text-align: left; font-size: 13px; overflow-wrap: anywhere; }}
th {{ background: #f0f0f0; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; margin-right: 6px; border: 1px solid #333; }}
.badge {{ font-size: 12px; padding: 1px 6px; border-radius: 4px; color: #fff; background: #888; }}
.badge.ok {{ background: #2e7d32; }} .badge.quarantined {{ background: #ef6c00; }}
.badge.failed {{ background: #c62828; }}
</style></head>
<body>
<h1>{title}</h1>
<p class="muted">Generated {created}.</p>
<p class="warning">This page shows the original images and source paths: it contains PHI. Keep it where the
originals are kept; never share it with the de-identified data.</p>
<p>{counts}</p>
<h2>Quarantined and failed files</h2>
{not_written}
<p class="muted">Outlines on the before images: {legend}</p>
{sections}
</body></html>
"""
