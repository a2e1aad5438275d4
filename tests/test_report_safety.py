"""`layerspec report` against hostile run folders and machines that refuse to write, and at 100 classes.

Like tests/test_report.py, every run folder is made in tmp_path as the writers write it; no TensorFlow.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from test_report import SVG, FakeRun, Page, make_run, report_of, write_training
from typer.testing import CliRunner

from layerspec.cli import app
from layerspec.data import Split
from layerspec.evaluate import classification_metrics
from layerspec.report import figures
from layerspec.report.svg import sanitize_svg
from layerspec.run import Metrics, RunFolder, folder

runner = CliRunner()

# Ways to spell `url(` in an SVG attribute that a check for the literal text misses (the browser reads all of
# them as url(): CSS escapes by code point or by letter, and XML character references).
HIDDEN_URLS = {
    "css_hex_escape": r"\75 rl(https://example.com/a)",
    "css_letter_escape": r"u\rl(https://example.com/b)",
    "css_escape_upper": r"\55RL(https://example.com/c)",
    "entity_letter": "&#117;rl(https://example.com/d)",
    "entity_backslash": "&#92;75 rl(https://example.com/e)",
    "image_set": "image-set('https://example.com/f' 1x)",
    "transform_with_url": "translate(1 1) url(https://example.com/g)",
}


@pytest.mark.parametrize("name", sorted(HIDDEN_URLS))
def test_svg_sanitiser_drops_urls_however_spelled(name: str) -> None:
    value = HIDDEN_URLS[name]
    text = SVG.format(name="n").replace('fill="url(#grad)"', f'fill="{value}"')
    text = text.replace('transform="translate(4 116)"', f'transform="{value}"')
    clean = sanitize_svg(text, "d0")
    assert "example.com" not in clean and "\\" not in clean
    page = Page(clean)
    assert page.find("polygon") and page.find("g", id="d0-graph0")  # the drawing stays, the attribute goes


def test_svg_sanitiser_keeps_graphviz_transforms() -> None:
    clean = sanitize_svg(SVG.format(name="n"), "d0")
    assert 'transform="translate(4 116)"' in clean and 'fill="url(#d0-grad)"' in clean


def secret_png(path: Path) -> bytes:
    """A picture no dataset holds: if the report carried it, its pixels would be found in the page."""
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[..., 0] = 201  # a colour no sample of the fake data has everywhere
    Image.fromarray(pixels).save(path)
    return path.read_bytes()


@pytest.mark.parametrize("with_data", [True, False])
def test_report_never_embeds_a_file_named_by_metrics_json(tmp_path: Path, with_data: bool) -> None:
    run = make_run(tmp_path, FakeRun(with_data=with_data))
    secret = tmp_path / "elsewhere" / "secret.png"
    secret.parent.mkdir()
    secret_png(secret)
    metrics = json.loads((run / "metrics.json").read_text())
    for entry in metrics["misclassified"]:
        entry["file"] = str(secret)
    metrics["misclassified"].append({**metrics["misclassified"][0], "index": 999})  # beyond the test split
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    _, page = report_of(tmp_path, run)
    for image in page.find("img"):
        src = image["src"] or ""
        if src.startswith("data:image/png"):
            decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))
            assert not (decoded.ndim == 3 and (decoded[..., 0] == 201).all()), "the secret file was embedded"
    cards = page.find("div", **{"class": "missing"})
    assert len(cards) == (1 if with_data else 4)  # only what the dataset holds is shown


def hundred_class_run(tmp_path: Path, classes: int = 100) -> Path:
    """A trained run of `classes` classes, its metrics.json made by evaluate's own function and writer."""
    names = [f"class_{i:03d}" for i in range(classes)]
    run = make_run(tmp_path, FakeRun(classes=names, trained=False))
    write_training(RunFolder(run), FakeRun(), None)
    y = np.arange(classes * 3) % classes
    probabilities = np.random.default_rng(0).random((len(y), classes))
    split = Split(np.zeros((len(y), 8, 8, 3), np.float32), y, None)
    RunFolder(run).write(
        folder.METRICS, Metrics.model_validate(classification_metrics(probabilities, split, names).to_json())
    )
    return run


def test_confusion_chart_does_not_write_every_cell_past_twenty_classes() -> None:
    # Each count was a text drawn as paths: 10,000 of them at 100 classes, 40 s for one chart.
    names = [f"c{i}" for i in range(100)]
    svg = base64.b64decode(figures.confusion_chart(np.eye(100, dtype=int).tolist(), names).split(",", 1)[1])
    texts = len(re.findall(rb'<g id="text_', svg))
    assert texts < 200, texts  # axis labels, ticks and the colour bar, no cell counts
    small = base64.b64decode(figures.confusion_chart(np.eye(3, dtype=int).tolist(), names[:3]).split(",", 1)[1])
    assert len(re.findall(rb'<g id="text_', small)) >= 9  # few classes: every count is written


def test_report_of_a_hundred_class_run(tmp_path: Path) -> None:
    run = hundred_class_run(tmp_path)
    _, page = report_of(tmp_path, run)
    assert "evaluation" in page.ids()
    assert "class_099" in page.text  # the per-class table holds every class
    assert len(page.find("img")) < 150  # samples are capped, not one per class per split


def failing(code: int) -> Any:
    def fail(*_: Any, **__: Any) -> Any:
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize(
    ("target", "code", "message"),
    [
        ("layerspec.artifacts.os.fsync", errno.ENOSPC, "no space left on the device"),
        ("layerspec.artifacts.tempfile.mkstemp", errno.EROFS, "the file system is read-only"),
        ("layerspec.artifacts.tempfile.mkstemp", errno.EACCES, "permission denied"),
        ("layerspec.artifacts.os.replace", errno.EDQUOT, "the disk quota is used up"),
    ],
)
def test_report_that_cannot_be_written_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, code: int, message: str
) -> None:
    run = make_run(tmp_path)
    out = tmp_path / "reports" / "r.html"
    out.parent.mkdir()
    out.write_text("previous report", encoding="utf-8")
    monkeypatch.setattr(target, failing(code))
    result = runner.invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"{out}: error: cannot write {out}: {message}" in result.stderr
    assert "internal error" not in result.output
    assert out.read_text(encoding="utf-8") == "previous report"
    assert [p.name for p in out.parent.iterdir()] == ["r.html"], "a temporary file was left"


def test_report_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    out = tmp_path / ("r" * 300 + ".html")
    result = runner.invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "too long for the file system" in result.stderr and "internal error" not in result.output
    assert {p.name for p in tmp_path.iterdir()} == {"runs"}


def test_report_into_a_dangling_symbolic_link_folder(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "gone" / "r.html")])
    assert result.exit_code == 2, result.output
    assert "error: cannot write" in result.stderr and "internal error" not in result.output
    assert not (tmp_path / "nowhere").exists()


def test_garbage_current_run_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / ".current").write_text("a\x00b/" + "x" * 300 + "\n", encoding="utf-8")
    result = runner.invoke(app, ["report"])
    assert result.exit_code == 2, result.output
    assert "no longer exists" in result.stderr
