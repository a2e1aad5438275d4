"""`layerspec report`: structure, self-containment, escaping, comparisons and the command line.

Every test makes its own run folder in tmp_path, written as the run-folder contract says (docs/run-folder.md),
so the report is tested without TensorFlow and without training.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from layerspec.check import check_file
from layerspec.cli import app
from layerspec.errors import DataError, UsageError
from layerspec.report import make_report
from layerspec.report.compare import merged_names
from layerspec.report.svg import SvgError, sanitize_svg
from layerspec.run import BuildInfo, History, Metrics, RunFolder, Summary, TrainInfo, folder, set_current_run
from layerspec.summary_table import render_summary

HOSTILE = ["<script>alert(1)</script>", '<img src=x onerror="alert(2)">', "javascript:alert(3)"]
CLASSES = ["fist", "peace", "palm"]

SPEC = """\
# A tiny CNN, small enough that its report is made in a blink.
name: {name}
description: {description}
input:
  shape: [8, 8, 3]
layers:
  - type: Conv2D
    name: conv
    filters: {filters}
    kernel_size: 3
    activation: relu
  - type: BatchNormalization
    name: bn
{extra}  - type: Flatten
  - type: Dense
    name: fc
    units: 3
    activation: softmax
data:
  dir: ../data
  train: train.h5
  test: test.h5
  validation_split: 0.25
  class_names: {classes}
"""

# A Graphviz-like diagram carrying every kind of active content the sanitiser must remove.
SVG = """\
<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg width="200pt" height="120pt" viewBox="0 0 200 120" xmlns="http://www.w3.org/2000/svg"
     xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert('svg')">
<script>alert('inside svg')</script>
<defs><linearGradient id="grad"><stop offset="0" stop-color="#fff"/></linearGradient></defs>
<g id="graph0" class="graph" transform="translate(4 116)">
<title>{name}</title>
<a xlink:href="https://example.com/x" target="_blank"><g id="node1" class="node"><title>conv</title>
<polygon fill="url(#grad)" stroke="black" points="0,0 80,0 80,-30 0,-30"/>
<text x="40" y="-12" text-anchor="middle" font-family="Times,serif" font-size="10">conv (Conv2D)</text>
</g></a>
<g id="node2" class="node" onclick="alert(4)"><title>fc</title>
<ellipse fill="url(https://example.com/paint)" stroke="black" cx="120" cy="-60" rx="30" ry="12"/>
<image href="https://example.com/tracker.png" width="1" height="1"/>
<text x="120" y="-56" text-anchor="middle" font-size="10">fc (Dense)</text>
<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">html</div></foreignObject>
</g>
</g>
</svg>
"""


@dataclass
class FakeRun:
    """Options of a fake run folder."""

    name: str = "tiny"
    description: str = "A tiny CNN for tests."
    classes: list[str] = field(default_factory=lambda: list(CLASSES))
    trained: bool = True
    filters: int = 4
    extra_layer: bool = False
    epochs: int = 4
    with_data: bool = True


def write_data(root: Path, classes: int, count: int = 24, seed: int = 0) -> None:
    import h5py

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", count), ("test", count // 2)):
        with h5py.File(root / f"{split}.h5", "w") as handle:
            handle["train_set_x" if split == "train" else "test_set_x"] = rng.integers(
                0, 256, size=(n, 8, 8, 3), dtype=np.uint8
            )
            handle["train_set_y" if split == "train" else "test_set_y"] = np.arange(n) % classes


def make_run(base: Path, options: FakeRun | None = None) -> Path:
    """A run folder under `base` as `layerspec build` (and `train` + `evaluate`, if `trained`) would leave it."""
    o = options or FakeRun()
    run = RunFolder(base / "runs" / o.name)
    run.path.mkdir(parents=True)
    if o.with_data:
        write_data(base / "runs" / "data", len(o.classes))
    extra = "  - type: Dropout\n    name: drop\n    rate: 0.25\n" if o.extra_layer else ""
    spec = SPEC.format(
        name=o.name,
        description=json.dumps(o.description),
        classes=json.dumps(o.classes),
        filters=o.filters,
        extra=extra,
    )
    run.write_text(folder.SPEC, spec)
    summary = check_file(run.file(folder.SPEC)).summary
    run.write(folder.SUMMARY_JSON, Summary.model_validate(summary.to_json()))
    run.write_text(folder.SUMMARY_TXT, render_summary(summary, shares=True))
    run.write_text(folder.SVG, SVG.format(name=o.name))
    build = BuildInfo(
        command="layerspec build specs/tiny.yaml",
        created="2026-01-02T03:04:05+00:00",
        spec_path=str(run.file(folder.SPEC)),  # so that the spec's `dir: ../data` holds from there too
        spec_sha256=hashlib.sha256(spec.encode()).hexdigest(),
        versions={"layerspec": "0.1.0", "tensorflow": "2.21.0", "keras": "3.15.1"},
    )
    run.write(folder.BUILD, build)
    if o.trained:
        write_training(run, o, build.spec_sha256)
    return run.path


def write_training(run: RunFolder, o: FakeRun, spec_sha256: str | None) -> None:
    epochs = [
        {
            "epoch": e,
            "loss": 1.2 / e,
            "accuracy": 0.5 + 0.1 * e,
            "val_loss": 1.3 / e + o.filters / 100,
            "val_accuracy": 0.45 + 0.1 * e,
            "learning_rate": 0.001 * 0.5 ** (e - 1),
            "seconds": 1.5 + 0.1 * e,
        }
        for e in range(1, o.epochs + 1)
    ]
    history = {"epochs": epochs, "kept_epoch": o.epochs - 1, "kept_reason": "best val_accuracy"}
    run.write(folder.HISTORY, History.model_validate(history | {"spec_sha256": spec_sha256}))
    train = {
        "command": ["layerspec", "train", "--epochs", str(o.epochs), "--seed", "7"],
        "seed": 7,
        "settings": {"optimizer": {"name": "adam", "learning_rate": 0.001}, "batch_size": 8},
        "counts": {"train": 18, "val": 6, "test": 12},
        "started": "2026-01-02T03:05:00+00:00",
        "finished": "2026-01-02T03:06:00+00:00",
        "spec_sha256": spec_sha256,
        "cpu": {
            "model": "AMD EPYC 7B13",
            "vector_flags": ["avx2"],
            "native_bfloat16": False,
            "onednn": "off",
            "onednn_source": "TensorFlow's default for this CPU",
        },
        "precision": {"requested": "auto", "chosen": "float32", "reason": "the CPU has no native bfloat16"},
    }
    run.write(folder.TRAIN, TrainInfo.model_validate(train))
    names = o.classes
    metrics = {
        "test_loss": 0.4321,
        "test_accuracy": 0.75,
        "class_names": names,
        "confusion_matrix": [[3, 1, 0], [0, 4, 0], [1, 1, 2]],
        "per_class": [
            {"class": n, "precision": p, "recall": r, "f1": 2 * p * r / (p + r), "support": 4}
            for n, p, r in zip(names, (0.75, 0.67, 1.0), (0.75, 1.0, 0.5), strict=True)
        ],
        "misclassified": [
            {"index": 1, "file": None, "true": names[0], "predicted": names[1], "confidence": 0.61},
            {"index": 8, "file": None, "true": names[2], "predicted": names[0], "confidence": 0.55},
            {"index": 11, "file": None, "true": names[2], "predicted": names[1], "confidence": 0.9},
        ],
    }
    run.write(folder.METRICS, Metrics.model_validate(metrics | {"spec_sha256": spec_sha256}))


class Page(HTMLParser):
    """The parts of an HTML page the tests look at."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._stack: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop() == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1] == "style":
            self.styles.append(data)
        elif data.strip():
            self.text.append(data.strip())

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if a.get("id")}


def report_of(tmp_path: Path, *runs: Path) -> tuple[str, Page]:
    out = make_report(list(runs), tmp_path / "out" / "report.html")
    html = out.read_text(encoding="utf-8")
    return html, Page(html)


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    return make_run(tmp_path)


def test_trained_report_has_every_section(tmp_path: Path, trained: Path) -> None:
    _, page = report_of(tmp_path, trained)
    assert {"run", "data", "architecture", "training", "evaluation"} <= page.ids()
    text = "\n".join(page.text)
    for expected in ("tiny", "A tiny CNN for tests.", "layerspec build specs/tiny.yaml", "layerspec train --epochs 4"):
        assert expected in text
    assert "The model keeps the weights of epoch 3: best val_accuracy." in text
    assert "75.00 %" in text  # test accuracy
    layer_rows = page.find("table", **{"class": "layers"})
    assert layer_rows, "no layer table"
    summary = json.loads((trained / "summary.json").read_text())
    for layer in summary["layers"]:
        assert layer["name"] in page.text
    assert f"{summary['params']:,}" in page.text


def test_the_machine_a_figure_came_from_is_shown(tmp_path: Path, trained: Path) -> None:
    _, page = report_of(tmp_path, trained)
    text = "\n".join(page.text)
    assert "AMD EPYC 7B13 (avx2; oneDNN off)" in text
    assert "float32 (the CPU has no native bfloat16)" in text


def test_every_picture_is_inline(tmp_path: Path, trained: Path) -> None:
    _, page = report_of(tmp_path, trained)
    images = page.find("img")
    # 3 classes x 4 samples, 3 misclassified, loss, accuracy, learning rate, epoch times, confusion matrix, and
    # the activation memory per layer.
    assert len(images) == 12 + 3 + 5 + 1
    for image in images:
        src = image["src"] or ""
        assert src.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")), src[:40]
    assert len(page.find("svg")) == 1  # the diagram, inline


def test_built_only_run_reports_architecture_only(tmp_path: Path) -> None:
    run = make_run(tmp_path, FakeRun(trained=False))
    _, page = report_of(tmp_path, run)
    assert {"run", "architecture"} <= page.ids()
    assert not {"training", "evaluation"} & page.ids()
    assert any("built but not trained yet" in t for t in page.text)


def test_missing_data_is_a_note_not_an_error(tmp_path: Path) -> None:
    run = make_run(tmp_path, FakeRun(with_data=False))
    _, page = report_of(tmp_path, run)
    assert "data" in page.ids()
    assert any(t.startswith("Data not shown:") for t in page.text)
    assert "evaluation" in page.ids()
    assert len(page.find("div", **{"class": "missing"})) == 3  # misclassified cards without their pictures


def test_nothing_is_loaded_from_outside(tmp_path: Path, trained: Path) -> None:
    html, page = report_of(tmp_path, trained)
    for tag, attrs in page.tags:
        assert tag not in {"script", "iframe", "object", "embed", "link", "base", "form", "image", "use", "a"} or (
            tag == "a" and (attrs.get("href") or "").startswith("#")
        ), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in {"src", "href", "xlink:href", "srcset", "action", "poster", "data"}:
                assert (value or "").startswith(("data:", "#")), (tag, name, value)
    css = "\n".join(page.styles)
    assert "@import" not in css
    assert "url(" not in css
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:|//|javascript:)", html, re.IGNORECASE)


def test_content_security_policy_forbids_network(tmp_path: Path, trained: Path) -> None:
    _, page = report_of(tmp_path, trained)
    (csp,) = page.find("meta", **{"http-equiv": "Content-Security-Policy"})
    directives = {d.split()[0]: d.split()[1:] for d in (csp["content"] or "").split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"]
    assert directives["img-src"] == ["data:"]
    assert directives["style-src"] == ["'unsafe-inline'"]
    assert directives["script-src"] == ["'none'"]
    assert page.tags.index(("meta", csp)) < min(i for i, (t, _) in enumerate(page.tags) if t in {"style", "img"})


def test_hostile_strings_render_as_text(tmp_path: Path) -> None:
    run = make_run(tmp_path, FakeRun(description=" ".join(HOSTILE), classes=HOSTILE))
    html, page = report_of(tmp_path, run)
    assert not page.find("script")
    assert all(not name.startswith("on") for _, attrs in page.tags for name in attrs)
    urls = [v or "" for _, attrs in page.tags for n, v in attrs.items() if n in {"src", "href", "action", "xlink:href"}]
    assert urls and all(u.startswith(("data:", "#")) for u in urls)  # `javascript:` only ever appears as text
    text = "\n".join(page.text)
    assert " ".join(HOSTILE) in text  # the description, shown literally
    for name in HOSTILE:
        assert page.text.count(name) >= 4  # class counts, sample captions, per-class table, misclassified
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Only the report's own images: none made from a hostile string.
    assert all((a["src"] or "").startswith("data:") for a in page.find("img"))


def test_mathtext_in_class_names_is_drawn_literally(tmp_path: Path) -> None:
    run = make_run(tmp_path, FakeRun(classes=["$x^2$", "a$b", r"\frac"]))
    _, page = report_of(tmp_path, run)
    assert "$x^2$" in page.text


def test_comparison_puts_runs_side_by_side(tmp_path: Path) -> None:
    first = make_run(tmp_path, FakeRun(name="small"))
    second = make_run(tmp_path, FakeRun(name="wide", filters=8, extra_layer=True, epochs=6))
    html, page = report_of(tmp_path, first, second)
    assert {"runs", "settings", "metrics", "curves", "confusion", "layers", "diagrams"} <= page.ids()
    # The structural diff: the added layer and the changed argument with its figures.
    assert "drop (Dropout)" in page.text
    assert any("filters: 4 -> 8" in t and "params: 112 -> 224" in t for t in page.text)
    # Two confusion matrices side by side; the settings rows that differ are highlighted and come first.
    assert len([a for t, a in page.tags if t == "img" and "confusion" in (a.get("alt") or "")]) == 2
    table = html[html.index('<table class="settings">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr( class=\"changed\")?><td><code>([^<]+)</code>", table)
    assert rows[0] == (' class="changed"', "command")  # --epochs 3 against --epochs 6
    assert ("", "train.batch_size") in rows and ("", "data.validation_split") in rows
    text = "\n".join(page.text)
    # conv: 3*3*3*4+4 = 112 params against 3*3*3*8+8 = 224.
    assert "112" in page.text and "224" in page.text and "(+112)" in text
    assert "drop" in page.text and "absent" in page.text
    changed = [t for t in page.find("tr") if "changed" in (t.get("class") or "")]
    assert len(changed) >= 4  # conv, bn, drop, fc, total
    assert len(page.find("svg")) == 2
    ids = [a["id"] for t, a in page.tags if a.get("id") and t not in {"section"}]
    assert len(ids) == len(set(ids)), "two diagrams share element ids"


def test_merged_names_keep_each_runs_order() -> None:
    assert merged_names([["a", "b", "d"], ["a", "c", "d", "e"]]) == ["a", "b", "c", "d", "e"]
    assert merged_names([["x"], ["y", "x"]]) == ["y", "x"]
    assert merged_names([["a", "b"], ["b", "c"], ["z"]]) == ["a", "b", "c", "z"]


def test_svg_sanitiser_keeps_drawing_and_drops_active_content() -> None:
    clean = sanitize_svg(SVG.format(name="&lt;b&gt;n&lt;/b&gt;"), "d0")
    page = Page(clean)
    tags = {t for t, _ in page.tags}
    assert {"svg", "g", "polygon", "ellipse", "text", "title"} <= tags
    assert not tags & {"script", "a", "image", "foreignobject", "div"}
    for _, attrs in page.tags:
        assert not any(n.startswith("on") or "href" in n for n in attrs)
    assert 'fill="url(#d0-grad)"' in clean and 'id="d0-grad"' in clean
    assert "example.com" not in clean
    assert "&lt;b&gt;n&lt;/b&gt;" in clean


@pytest.mark.parametrize("text", ["not xml", "<html><body/></html>", "<svg><unclosed></svg>"])
def test_svg_sanitiser_refuses_what_is_not_svg(text: str) -> None:
    with pytest.raises(SvgError):
        sanitize_svg(text, "d0")


def test_broken_diagram_is_a_note(tmp_path: Path, trained: Path) -> None:
    (trained / "model.svg").write_text("<svg", encoding="utf-8")
    _, page = report_of(tmp_path, trained)
    assert any(t.startswith("model.svg could not be shown") for t in page.text)


runner = CliRunner()


def test_cli_writes_the_current_run_to_reports(tmp_path: Path, trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    set_current_run(trained)
    result = runner.invoke(app, ["report", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload == {"report": str(Path("reports") / "tiny.html")}
    assert (tmp_path / "reports" / "tiny.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")], "temporary file left"


def test_cli_out_and_comparison(tmp_path: Path) -> None:
    first = make_run(tmp_path, FakeRun(name="a"))
    second = make_run(tmp_path, FakeRun(name="b", trained=False))
    out = tmp_path / "cmp.html"
    result = runner.invoke(app, ["report", str(first), str(second), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {out}"
    assert "Comparison of 2 runs" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("breakage", "code", "message"),
    [
        ("no-folder", 2, "is not a run folder: no such directory"),
        ("no-spec", 2, "is not a run folder: it has no spec.yaml"),
        ("bad-json", 3, "metrics.json: error: not valid JSON (line 1, column 2)"),
        ("bad-history", 3, "history.json: error: does not fit the run-folder contract: epochs.0.loss"),
        ("bad-summary", 3, "summary.json: error: does not fit the run-folder contract"),
    ],
)
def test_broken_run_folder_is_a_clear_error(
    tmp_path: Path, trained: Path, breakage: str, code: int, message: str
) -> None:
    run = trained
    if breakage == "no-folder":
        run = tmp_path / "nowhere"
    elif breakage == "no-spec":
        (trained / "spec.yaml").unlink()
    elif breakage == "bad-json":
        (trained / "metrics.json").write_text("{oops", encoding="utf-8")
    elif breakage == "bad-history":
        (trained / "history.json").write_text('{"epochs": [{"epoch": 1, "loss": "high"}]}', encoding="utf-8")
    else:
        (trained / "summary.json").write_text('{"layers": 3}', encoding="utf-8")
    out = tmp_path / "r.html"
    out.write_text("previous report", encoding="utf-8")
    result = runner.invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert out.read_text(encoding="utf-8") == "previous report"  # nothing half-written over the good one


def test_no_current_run_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report"])
    assert result.exit_code == 2
    assert "no current run" in result.stderr


def test_library_raises_typed_errors(tmp_path: Path, trained: Path) -> None:
    with pytest.raises(UsageError):
        make_report([])
    with pytest.raises(UsageError):
        make_report([trained], out=tmp_path)
    (trained / "train.json").write_text("[]", encoding="utf-8")
    with pytest.raises(DataError):
        make_report([trained], out=tmp_path / "x.html")


def test_a_spec_edited_after_the_build_is_flagged(tmp_path: Path, trained: Path) -> None:
    spec = trained / "spec.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    _, page = report_of(tmp_path, trained)
    (warning,) = [t for t in page.text if t.startswith("spec.yaml changed after the build")]
    assert json.loads((trained / "build.json").read_text())["spec_sha256"] in warning


def test_error_messages_in_the_page_are_escaped(tmp_path: Path, trained: Path) -> None:
    train = json.loads((trained / "train.json").read_text())
    train["data_dir"] = str(tmp_path / HOSTILE[0])
    (trained / "train.json").write_text(json.dumps(train), encoding="utf-8")
    _, page = report_of(tmp_path, trained)
    (note,) = [t for t in page.text if t.startswith("Data not shown:")]
    assert HOSTILE[0] in note and not page.find("script")


def test_misclassified_labels_given_as_indices_are_named(tmp_path: Path, trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    metrics["misclassified"] = [{"index": 0, "file": None, "true": 2, "predicted": 0, "confidence": 0.5}]
    (trained / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    _, page = report_of(tmp_path, trained)
    assert "true palm" in page.text and "predicted fist" in page.text
