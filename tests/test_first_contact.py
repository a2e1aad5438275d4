"""The first mistakes a newcomer makes, each answered with what is wrong and what to write instead.

None of these needs TensorFlow: each is refused before a model is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from layerspec.spec import load_spec

MODEL = """\
name: first
input:
  shape: [8, 8, 3]
layers:
  - type: Flatten
  - type: Dense
    units: 2
    activation: softmax
"""


def spec_file(folder: Path, extra: str = "") -> Path:
    path = folder / "specs" / "spec.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MODEL + extra, encoding="utf-8")
    return path


@pytest.fixture
def mydata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/mydata/{train,test}/{a,b}/ and tmp/mydata/{train,test}.h5 (empty): the working folder."""
    for split in ("train", "test"):
        for name in ("a", "b"):
            (tmp_path / "mydata" / split / name).mkdir(parents=True)
        (tmp_path / "mydata" / f"{split}.h5").write_bytes(b"")
    monkeypatch.chdir(tmp_path / "mydata")
    return tmp_path / "mydata"


def test_no_data_section_says_so_and_shows_one(cli: Callable[..., Any], mydata: Path) -> None:
    spec_file(mydata.parent)
    result = cli("train", "../specs/spec.yaml", "--out", str(mydata.parent / "run"))
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert line.startswith("../specs/spec.yaml: error: the spec has no `data:` section"), line
    assert "data: {format: folder, dir: images, train: train, test: test}" in line
    assert "make data" not in line and "signs" not in line


def test_a_folder_under_format_h5_suggests_format_folder(cli: Callable[..., Any], mydata: Path) -> None:
    spec = spec_file(mydata.parent, "data:\n  dir: ../mydata\n  train: train\n  test: test\n")
    result = cli("train", str(spec), "--out", str(mydata.parent / "run"))
    assert result.exit_code == 3, result.output
    # The path is shown as the working folder sees it: `../specs/../mydata/train` is `train` from here.
    assert result.stderr.startswith("train: error: the train split is a folder, but data.format is 'h5'"), result.stderr
    assert "`format: folder`" in result.stderr


def test_a_file_under_format_folder_suggests_format_h5(cli: Callable[..., Any], mydata: Path) -> None:
    spec = spec_file(mydata.parent, "data:\n  format: folder\n  dir: ../mydata\n  train: train.h5\n  test: test.h5\n")
    result = cli("train", str(spec), "--out", str(mydata.parent / "run"))
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("train.h5: error: the train split is a file, but data.format is 'folder'")
    assert "`format: h5`" in result.stderr


def test_a_missing_file_names_no_make_target(cli: Callable[..., Any], mydata: Path) -> None:
    spec = spec_file(mydata.parent, "data:\n  dir: ../mydata\n  train: nothere.h5\n  test: test.h5\n")
    result = cli("train", str(spec), "--out", str(mydata.parent / "run"))
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("nothere.h5: error: no such file for the train split"), result.stderr
    assert "make data" not in result.stderr


@pytest.mark.parametrize(
    ("written", "field", "value"),
    [
        ("optimizer: adam", "optimizer", "adam"),
        ("optimizer: SGD", "optimizer", "sgd"),
        ("optimizer: {type: RMSprop}", "optimizer", "rmsprop"),
        ("metrics: [acc, top_2_accuracy]", "metrics", ["accuracy", "top_2_accuracy"]),
        ("metrics: [categorical_accuracy]", "metrics", ["accuracy"]),
        ("loss: CategoricalCrossentropy", "loss", "categorical_crossentropy"),
    ],
)
def test_keras_shorthand_is_accepted(
    cli: Callable[..., Any], tmp_path: Path, written: str, field: str, value: Any
) -> None:
    spec = spec_file(tmp_path, f"train:\n  {written}\n")
    result = cli("check", str(spec))
    assert result.exit_code == 0, result.output
    settings = load_spec(spec).spec.train
    assert settings is not None
    got = settings.optimizer.type if field == "optimizer" else getattr(settings, field)
    assert got == value


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("epoch: 3", "unknown key 'epoch'; did you mean 'epochs'?"),
        ("callbacks: []", "unknown key 'callbacks': callbacks are made from train.early_stopping"),
        ("lr: 0.1", "unknown key 'lr': `lr` is Keras 2's name: write `learning_rate` under `train: optimizer:`"),
        ("optimizer: adm", "must be 'adam', 'adamw', 'sgd' or 'rmsprop', did you mean 'adam'?"),
        ("schedule: {type: cosin}", "did you mean 'cosine'?"),
        ("mixed_precision: bfloat61", "did you mean 'bfloat16'?"),
        ("keep: {weights: bst}", "did you mean 'best'?"),
        ("early_stopping: {monitor: val_los}", "did you mean 'val_loss'?"),
    ],
)
def test_train_section_mistakes_get_a_suggestion(
    cli: Callable[..., Any], tmp_path: Path, written: str, fragment: str
) -> None:
    spec = spec_file(tmp_path, f"train:\n  {written}\n")
    result = cli("check", str(spec))
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr, result.stderr
    if "unknown key" in fragment:
        assert "(allowed: optimizer, schedule, loss" in result.stderr, "a section lists all its keys"
