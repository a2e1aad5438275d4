"""The report stage: run folder(s) -> one self-contained HTML page.

Pipeline: `collect` (read the run folder, load sample images) -> `view` / `compare` (numbers become text and
charts) -> `render` (jinja2 templates with autoescape). Nothing here imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from layerspec.artifacts import write_text
from layerspec.errors import UsageError
from layerspec.report.collect import Run, collect_run
from layerspec.report.render import render_html

REPORTS_DIR = Path("reports")


def default_report_path(runs: Sequence[Run]) -> Path:
    """`reports/<run>.html`, or `reports/<run1>_vs_<run2>.html` for a comparison."""
    return REPORTS_DIR / ("_vs_".join(run.name for run in runs) + ".html")


def make_report(run_dirs: Sequence[Path], out: Path | None = None) -> Path:
    """Write the report of `run_dirs` (one run, or several compared) to `out` atomically; returns its path."""
    if not run_dirs:
        raise UsageError("name at least one run folder")
    if out is not None and out.is_dir():
        raise UsageError(f"--out {out} is a directory: give the HTML file to write, e.g. {out / 'report.html'}")
    runs = [collect_run(path) for path in run_dirs]
    path = out if out is not None else default_report_path(runs)
    return write_text(path, render_html(runs))


__all__ = ["collect_run", "default_report_path", "make_report", "render_html"]
