"""Training beyond images: a sequence classifier on the synthetic text set and a regression on the synthetic
regression set, both in the arrays format, each a tiny model trained for a few epochs (seconds)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from layerspec.cli import app
from layerspec.run import RunFolder
from layerspec.synthetic import TextSet, write_npz, write_regression, write_text

TEXT = """\
name: text_conv
input:
  shape: [40]
layers:
  - type: Reshape
    target_shape: [40, 1]
  - type: Conv1D
    filters: 4
    kernel_size: 3
    activation: relu
  - type: GlobalAveragePooling1D
  - type: Dense
    units: 3
    activation: softmax
data:
  format: arrays
  dir: .
  train: text_train.npz
  test: text_test.npz
  labels: sparse
  validation_split: 0.2
train:
  epochs: 1
"""
REGRESSION = """\
name: regression_dense
input:
  shape: [8]
layers:
  - type: Dense
    units: 1
data:
  format: arrays
  dir: .
  train: regression_train.npz
  test: regression_test.npz
  labels: values
train:
  loss: {loss}
  optimizer: {{learning_rate: 0.05}}
  epochs: 5
  batch_size: 32
"""


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("arrays")
    write_text(folder, TextSet(count=300))
    write_regression(folder)
    (folder / "text.yaml").write_text(TEXT, encoding="utf-8")
    previous = Path.cwd()
    os.chdir(folder)
    yield folder
    os.chdir(previous)


def train(workdir: Path, spec: str, run: str) -> dict[str, Any]:
    result = invoke("train", str(workdir / spec), "--out", str(workdir / run), "--json")
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def test_a_sequence_classifier_trains_on_the_text_set(workdir: Path) -> None:
    payload = train(workdir, "text.yaml", "text_run")
    metrics = payload["metrics"]
    # A classifier's keys are exactly those of before: no regression entry.
    assert "regression" not in metrics and metrics["test_count"] == 60
    assert len(metrics["confusion_matrix"]) == 3 and 0.0 <= metrics["test_accuracy"] <= 1.0


@pytest.mark.parametrize("loss", ["mean_squared_error", "huber"])
def test_a_regression_trains_and_reports_error_figures(workdir: Path, loss: str) -> None:
    (workdir / f"{loss}.yaml").write_text(REGRESSION.format(loss=loss), encoding="utf-8")
    metrics = train(workdir, f"{loss}.yaml", f"{loss}_run")["metrics"]
    scores = metrics["regression"]
    assert metrics["test_accuracy"] is None and metrics["confusion_matrix"] == []
    assert scores["rmse"] == pytest.approx(scores["mse"] ** 0.5) and scores["values"] == 80
    assert scores["r2"] > 0.5  # a linear target a linear model fits within a few epochs
    assert len(scores["sample"]) == 80
    history = train_history(workdir / f"{loss}_run")
    assert "mae" in history[0] and "accuracy" not in history[0]
    again = invoke("evaluate", str(workdir / f"{loss}_run"), "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["regression"]["mae"] == pytest.approx(scores["mae"], rel=1e-5)
    assert RunFolder(workdir / f"{loss}_run").metrics() is not None


def train_history(run: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((run / "history.json").read_text(encoding="utf-8"))["epochs"]
    return records


def test_bad_targets_exit_3_naming_the_file_and_array(workdir: Path) -> None:
    x = np.zeros((10, 8), np.float32)
    write_npz(workdir / "broken_train.npz", x, np.full((10, 1), np.inf, np.float32))
    spec = REGRESSION.format(loss="mean_absolute_error").replace("regression_train.npz", "broken_train.npz")
    (workdir / "broken.yaml").write_text(spec, encoding="utf-8")
    result = invoke("train", str(workdir / "broken.yaml"), "--out", str(workdir / "broken_run"))
    assert result.exit_code == 3
    assert "broken_train.npz" in result.output and "array 'y' holds NaN or infinity" in result.output


def test_the_report_adapts_to_the_task(workdir: Path) -> None:
    if not (workdir / "mean_squared_error_run" / "metrics.json").is_file():
        (workdir / "mean_squared_error.yaml").write_text(REGRESSION.format(loss="mean_squared_error"), "utf-8")
        train(workdir, "mean_squared_error.yaml", "mean_squared_error_run")
    if not (workdir / "text_run" / "metrics.json").is_file():
        train(workdir, "text.yaml", "text_run")
    pages = {}
    for run in ("mean_squared_error_run", "text_run"):
        result = invoke("report", str(workdir / run), "--out", str(workdir / f"{run}.html"))
        assert result.exit_code == 0, result.output
        pages[run] = (workdir / f"{run}.html").read_text(encoding="utf-8")
    regression, classifier = pages["mean_squared_error_run"], pages["text_run"]
    assert "Predicted against true values" in regression and "Test R²" in regression
    assert "<h3>Confusion matrix</h3>" not in regression and "Test accuracy" not in regression
    assert "<h3>Confusion matrix</h3>" in classifier and "Predicted against true values" not in classifier


TWO_INPUTS = """\
name: two_inputs
inputs:
  - name: tokens
    shape: [40]
  - name: extra
    shape: [8]
layers:
  - type: Concatenate
    inputs: [tokens, extra]
  - type: Dense
    units: 3
    activation: softmax
data:
  format: arrays
  dir: .
  train: two_train.npz
  test: two_test.npz
  labels: sparse
train:
  epochs: 1
  batch_size: 16
"""


def write_two_inputs(path: Path, count: int, extra_count: int | None = None) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "tokens": rng.normal(size=(count, 40)).astype(np.float32),
        "extra": rng.normal(size=(extra_count or count, 8)).astype(np.float32),
        "y": rng.integers(0, 3, size=count),
    }
    np.savez(path, **arrays)


def test_a_model_with_two_inputs_reads_an_array_per_input_name(workdir: Path) -> None:
    write_two_inputs(workdir / "two_train.npz", 60)
    write_two_inputs(workdir / "two_test.npz", 20)
    (workdir / "two.yaml").write_text(TWO_INPUTS, encoding="utf-8")
    metrics = train(workdir, "two.yaml", "two_run")["metrics"]
    assert metrics["test_count"] == 20 and len(metrics["confusion_matrix"]) == 3
    again = invoke("evaluate", str(workdir / "two_run"), "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    write_two_inputs(workdir / "two_test.npz", 20, extra_count=19)
    result = invoke("train", str(workdir / "two.yaml"), "--out", str(workdir / "two_bad"))
    assert result.exit_code == 3, result.output
    assert "array 'extra' (input 'extra') holds 19 examples, the first input's array 20" in result.output
