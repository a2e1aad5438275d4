"""The report of real runs: `layerspec build` (and a one-epoch `layerspec train`) of specs/signs.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report import Page
from test_report_golden import GOLDEN
from typer.testing import CliRunner

from layerspec.cli import app

REPO = Path(__file__).resolve().parent.parent
SIGNS = REPO / "specs" / "signs.yaml"
DATA = REPO / "data" / "signs"

runner = CliRunner()


def invoke(*args: str) -> dict[str, str]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    payload: dict[str, str] = json.loads(result.stdout)
    return payload


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # runs/.current and reports/ land here
    return Path(invoke("build", str(SIGNS), "--out", str(tmp_path / "signs"))["run_dir"])


@pytest.mark.keras
def test_report_of_a_built_run(tmp_path: Path, built: Path) -> None:
    assert (built / "summary.txt").read_text(encoding="utf-8") == (GOLDEN / "signs_summary.txt").read_text(
        encoding="utf-8"
    ), "build's summary.txt differs from the golden table"
    report = Path(invoke("report")["report"])  # the current run, which build just set
    assert report == Path("reports/signs.html")
    page = Page(report.read_text(encoding="utf-8"))
    assert {"run", "architecture"} <= page.ids() and "training" not in page.ids()
    assert "170,438" in page.text
    assert len(page.find("svg")) == 1 and len(page.find("g", **{"class": "node"})) == 12
    if DATA.is_dir():  # the dataset's 6 classes, 4 samples each, and the per-layer memory chart
        assert len(page.find("img")) == 24 + 1


@pytest.mark.keras
@pytest.mark.slow
def test_report_of_a_trained_run(tmp_path: Path, built: Path) -> None:
    if not DATA.is_dir():
        pytest.fail(f"the SIGNS dataset is missing from {DATA}: run `make data`")
    invoke("train", str(built), "--epochs", "1", "--data", str(DATA))
    report = Path(invoke("report", str(built), "--out", str(tmp_path / "trained.html"))["report"])
    page = Page(report.read_text(encoding="utf-8"))
    assert {"run", "data", "architecture", "training", "evaluation"} <= page.ids()
    metrics = json.loads((built / "metrics.json").read_text(encoding="utf-8"))
    assert f"{100 * metrics['test_accuracy']:.2f} %" in page.text
    shown = min(len(metrics["misclassified"]), 48)
    gallery = [a for a in page.find("img") if (a.get("alt") or "") in metrics["class_names"]]
    assert len(gallery) == 24 + shown  # samples + misclassified test images, every one with its picture
    assert all((a.get("src") or "").startswith("data:") for a in page.find("img"))
