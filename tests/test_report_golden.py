"""Golden files for the text layerspec writes: build's summary.txt table and the report's visible text.

Dates, versions and temporary paths are replaced by placeholders before comparing. After an intended change,
regenerate with `LAYERSPEC_REGEN=1 pytest tests/test_report_golden.py` and review the diff.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report import FakeRun, make_run

from layerspec.check import check_file
from layerspec.report import collect_run, render_html
from layerspec.summary_table import render_summary

GOLDEN = Path(__file__).parent / "golden"
SPECS = Path(__file__).parent.parent / "specs"
FIXED_NOW = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LAYERSPEC_REGEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden file {path}: run with LAYERSPEC_REGEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file (LAYERSPEC_REGEN=1 regenerates it)"


class TextDump(HTMLParser):
    """The page's visible text, one block per line and table cells joined by ' | ' (styles skipped)."""

    BLOCKS = frozenset({"title", "h1", "h2", "h3", "p", "dt", "dd", "li", "figcaption", "tr", "pre", "nav", "text"})
    CELLS = frozenset({"td", "th"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.cells: list[str] = []
        self.buffer = ""
        self.skip = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skip += tag == "style"
        if tag == "br":
            self.buffer += " / "

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag == "style"
        if tag in self.CELLS:
            self.cells.append(" ".join(self.buffer.split()))
            self.buffer = ""
        elif tag in self.BLOCKS:
            text = " | ".join(self.cells) if self.cells else self.buffer
            if tag == "pre":
                self.lines += text.rstrip("\n").split("\n")
            elif text.strip():
                self.lines.append(" ".join(text.split()))
            self.cells, self.buffer = [], ""

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.buffer += data


def strip_volatile(lines: list[str], tmp: Path) -> str:
    """The lines with dates, versions, temporary paths and spec hashes replaced by placeholders."""
    out: list[str] = []
    previous = ""
    for line in lines:
        line = line.replace(str(tmp), "<TMP>")
        line = re.sub(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\+00:00| UTC)?", "<DATE>", line)
        line = re.sub(r"layerspec \d+\.\d+\.\d+\S*", "layerspec <VERSION>", line)
        if previous.endswith(" version"):
            line = "<VERSION>"
        out.append(line)
        previous = line
    return "\n".join(out) + "\n"


def report_text(tmp_path: Path, *runs: Path) -> str:
    html = render_html([collect_run(run) for run in runs], now=FIXED_NOW)
    return strip_volatile(TextDump(html).lines, tmp_path)


def test_signs_summary_txt() -> None:
    """The table `layerspec build` writes to summary.txt (and `check` prints, without the shares)."""
    summary = check_file(SPECS / "signs.yaml").summary
    assert_golden("signs_summary.txt", render_summary(summary, shares=True))


def test_trained_report_text(tmp_path: Path) -> None:
    assert_golden("report_trained.txt", report_text(tmp_path, make_run(tmp_path)))


def test_built_report_text(tmp_path: Path) -> None:
    run = make_run(tmp_path, FakeRun(trained=False, with_data=False))
    assert_golden("report_built.txt", report_text(tmp_path, run))


def test_comparison_report_text(tmp_path: Path) -> None:
    first = make_run(tmp_path, FakeRun(name="small"))
    second = make_run(tmp_path, FakeRun(name="wide", filters=8, extra_layer=True, epochs=6))
    assert_golden("report_comparison.txt", report_text(tmp_path, first, second))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Report made 2026-11-29 05:43 UTC", "Report made <DATE>"),
        ("2026-01-02T03:04:05+00:00", "<DATE>"),
        ("Made by layerspec 0.1.0 on", "Made by layerspec <VERSION> on"),
    ],
)
def test_volatile_parts_are_stripped(line: str, expected: str) -> None:
    assert strip_volatile([line], Path("/nowhere")) == expected + "\n"
