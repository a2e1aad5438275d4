"""The example specs that train on data layerspec makes itself: specs/text_classifier.yaml on the synthetic text
set (an Embedding with a mask, Bidirectional LSTM and GRU), trained briefly from its own data section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from layerspec.cli import app

pytestmark = [pytest.mark.keras, pytest.mark.slow]

SPECS = Path(__file__).resolve().parent.parent / "specs"


def test_the_text_classifier_trains_on_the_synthetic_text_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from layerspec.synthetic import write_text

    data = tmp_path / "arrays"
    write_text(data)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app,
        ["train", str(SPECS / "text_classifier.yaml"), "--data", str(data), "--epochs", "2", "--out", "run", "--json"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["epochs"] == 2
    # Three balanced classes: two epochs already do far better than chance (1/3).
    assert payload["metrics"]["test_accuracy"] > 0.5
    assert json.loads((tmp_path / "run" / "train.json").read_text(encoding="utf-8"))["class_names"] == ["0", "1", "2"]
