"""The pipeline flows one way: `train SPEC` checks the spec once and trains the model its build compiled and
verified; `train RUN` trains the model read back from the run folder, checking and compiling nothing again.

Also the `--json` payloads' keys (a contract scripts read) and what a failed training leaves in a new run.
The tiny spec of test_run_safety trains for one epoch in a second or two.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_run_safety import invoke, write_data, write_spec

import layerspec.build
import layerspec.check
import layerspec.compile
from layerspec.errors import DataError
from layerspec.run import RunFolder, Stage

pytestmark = [pytest.mark.keras, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

DETERMINISTIC = "  deterministic: true\n"
TRAIN_KEYS = {"run_dir", "model", "history", "metrics", "epochs", "epoch_seconds"}
HISTORY_KEYS = {"epochs", "kept_epoch", "kept_reason"}
EPOCH_KEYS = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"}
METRICS_KEYS = {
    "test_loss",
    "test_accuracy",
    "test_count",
    "class_names",
    "confusion_matrix",
    "per_class",
    "misclassified",
}
CLASS_KEYS = {"class", "precision", "recall", "f1", "support"}
WRONG_KEYS = {"index", "file", "true", "predicted", "confidence"}
PREDICTION_KEYS = {"file", "class", "confidence", "probabilities"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("flow")
    write_data(folder)
    write_spec(folder, extra=DETERMINISTIC)
    previous = Path.cwd()
    os.chdir(folder)  # runs/.current stays in here
    yield folder
    os.chdir(previous)


def count_calls(monkeypatch: pytest.MonkeyPatch, function: Callable[..., Any]) -> list[int]:
    """Count the calls of `function` however it was imported: every layerspec module's name for it is wrapped."""
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return function(*args, **kwargs)

    for name, module in list(sys.modules.items()):
        if name.startswith("layerspec") and getattr(module, function.__name__, None) is function:
            monkeypatch.setattr(module, function.__name__, counted)
    return calls


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    import layerspec.train  # every module that could check or compile is loaded before the names are wrapped

    assert layerspec.train
    return {
        "check": count_calls(monkeypatch, layerspec.check.check_loaded),
        "compile": count_calls(monkeypatch, layerspec.compile.compile_model),
    }


def train_json(*args: str) -> dict[str, Any]:
    result = invoke("train", *args, "--json")
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def test_train_spec_checks_once_and_trains_the_built_model(
    workdir: Path, counted: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[Any] = []
    original = layerspec.train.run.build_model  # type: ignore[attr-defined]

    def trained_from(built: Any, *args: Any) -> Any:
        handed.append(built)
        return original(built, *args)

    monkeypatch.setattr("layerspec.train.run.build_model", trained_from)
    written: list[Any] = []
    write_build = layerspec.build.write_build
    monkeypatch.setattr(
        "layerspec.build.write_build", lambda s, c, model, **k: written.append(model) or write_build(s, c, model, **k)
    )
    train_json(str(workdir / "spec.yaml"), "--out", str(workdir / "once"))
    assert len(counted["check"]) == 1 and len(counted["compile"]) == 1
    assert len(handed) == 1 and handed == written  # the model build saved is the one training starts from


def test_train_run_reads_the_model_back_and_checks_nothing(workdir: Path, counted: dict[str, list[int]]) -> None:
    result = invoke("build", str(workdir / "spec.yaml"), "--out", str(workdir / "built"))
    assert result.exit_code == 0, result.output
    counted["check"].clear(), counted["compile"].clear()
    payload = train_json(str(workdir / "built"))
    assert counted == {"check": [], "compile": []}
    assert RunFolder(workdir / "built").stage() is Stage.EVALUATED and payload["epochs"] == 1


def test_a_spec_trains_alike_handed_over_or_read_back(workdir: Path) -> None:
    """The starting weights come from the training seed: trained right after its build or from the run folder,
    one spec gives one result."""
    direct = train_json(str(workdir / "spec.yaml"), "--out", str(workdir / "direct"))
    assert invoke("build", str(workdir / "spec.yaml"), "--out", str(workdir / "later")).exit_code == 0
    later = train_json(str(workdir / "later"))
    figures = [{k: v for k, v in r.items() if k != "seconds"} for r in direct["history"]["epochs"]]
    assert figures == [{k: v for k, v in r.items() if k != "seconds"} for r in later["history"]["epochs"]]
    assert direct["metrics"] == later["metrics"]


def test_json_payloads_keep_their_keys(workdir: Path) -> None:
    payload = train_json(str(workdir / "spec.yaml"), "--out", str(workdir / "keys"))
    assert set(payload) == TRAIN_KEYS and set(payload["history"]) == HISTORY_KEYS
    assert [set(r) for r in payload["history"]["epochs"]] == [EPOCH_KEYS]
    metrics = payload["metrics"]
    assert set(metrics) == METRICS_KEYS
    assert {frozenset(r) for r in metrics["per_class"]} == {frozenset(CLASS_KEYS)}
    assert all(set(m) == WRONG_KEYS for m in metrics["misclassified"])
    evaluated = invoke("evaluate", str(workdir / "keys"), "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout) == metrics  # the same figures from the saved model
    from PIL import Image

    image = workdir / "image.png"
    Image.new("RGB", (8, 8)).save(image)
    predicted = invoke("predict", str(workdir / "keys"), str(image), "--json")
    assert predicted.exit_code == 0, predicted.output
    [prediction] = json.loads(predicted.stdout)
    assert set(prediction) == PREDICTION_KEYS and len(prediction["probabilities"]) == 3


def test_without_a_test_split_the_metrics_are_null(workdir: Path, tmp_path: Path) -> None:
    spec = tmp_path / "no_test.yaml"
    text = (
        (workdir / "spec.yaml").read_text().replace("test: test.h5", "test: null").replace("dir: .", f"dir: {workdir}")
    )
    spec.write_text(text, encoding="utf-8")
    payload = train_json(str(spec), "--out", str(tmp_path / "run"))
    assert payload["metrics"] == {"test_loss": None, "test_accuracy": None}


def test_a_failed_training_leaves_the_new_run_as_built(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: Any) -> None:
        raise DataError(str(workdir / "train.h5"), "unreadable halfway through")

    monkeypatch.setattr("layerspec.train.run._loop", fail)
    result = invoke("train", str(workdir / "spec.yaml"), "--out", str(workdir / "failed"))
    assert result.exit_code == 3, result.output
    assert "unreadable halfway through" in result.stderr
    run = RunFolder(workdir / "failed")
    assert run.stage() is Stage.BUILT and run.training_results() == []


def test_a_run_whose_spec_was_edited_is_not_trained(workdir: Path) -> None:
    assert invoke("build", str(workdir / "spec.yaml"), "--out", str(workdir / "edited")).exit_code == 0
    copy = workdir / "edited" / "spec.yaml"
    copy.write_text(copy.read_text().replace("filters: 2", "filters: 5"), encoding="utf-8")
    result = invoke("train", str(workdir / "edited"))
    assert result.exit_code == 3, result.output
    assert f"{copy}: error: is not the spec build.json says the model was built from" in result.stderr
    assert RunFolder(workdir / "edited").stage() is Stage.BUILT
