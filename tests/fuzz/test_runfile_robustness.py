"""Robustness of the readers of run folders: hostile and damaged JSON run files (build.json, summary.json,
train.json, history.json, metrics.json) end in exit 0 or 3 with a message naming the file and the field, never a
traceback, an internal error (exit 1) or a report written over the previous one. No TensorFlow is imported.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzz_mutate import _mutate_at, _paths
from fuzz_settings import FUZZ, fuzz_examples, record
from hypothesis import given, settings
from hypothesis import strategies as st
from test_report import FakeRun, make_run
from test_robustness import assert_clean
from typer.testing import CliRunner

from layerspec.cli import app
from layerspec.data import load_run_spec, run_data_dir
from layerspec.errors import DataError
from layerspec.run.checks import MAX_JSON_BYTES

RUN_FILES = ("build.json", "summary.json", "train.json", "history.json", "metrics.json")
PREVIOUS = "previous report"


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("good"))


@pytest.fixture
def run(good_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of the good run folder (with its dataset beside it, where its spec looks)."""
    shutil.copytree(good_run.parent, tmp_path / "runs")
    return tmp_path / "runs" / good_run.name


def report(run: Path, out: Path) -> Any:
    out.write_text(PREVIOUS, encoding="utf-8")
    return CliRunner().invoke(app, ["report", str(run), "--out", str(out)])


def edit(run: Path, name: str, change: Any) -> None:
    """Apply `change` (a function of the parsed file) to one run file and write it back."""
    path = run / name
    path.write_text(json.dumps(change(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(tree: Any) -> Any:
        node = tree
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return tree

    return change


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


# name -> (file, raw text or a change to the parsed file, what the message must say)
HOSTILE: dict[str, tuple[str, str | Any, str]] = {
    "deeply_nested_lists": ("history.json", "[" * 100_000 + "]" * 100_000, "nested more than 20 levels deep"),
    "nested_past_the_limit": ("train.json", _set(("settings", "deep"), _deep(25)), "settings.deep.a.a"),
    "integer_of_5000_digits": ("summary.json", '{"params": ' + "9" * 5000 + "}", "not valid JSON: Exceeds the limit"),
    "integer_beyond_2_53": ("metrics.json", _set(("confusion_matrix", 0, 0), 10**20), "confusion_matrix.0.0"),
    "infinity_as_1e999": ("history.json", '{"epochs": [{"epoch": 1, "loss": 1e999}]}', "epochs.0.loss"),
    "float_beyond_float32": ("history.json", _set(("epochs", 0, "loss"), 1e300), "out of range"),
    "nan_literal": ("history.json", '{"epochs": [{"epoch": 1, "loss": NaN}]}', "NaN is not a number"),
    "string_for_a_number": ("metrics.json", _set(("test_accuracy",), "high"), "test_accuracy: Input should be"),
    "share_above_one": ("metrics.json", _set(("per_class", 0, "precision"), 7.5), "per_class.0.precision"),
    "ragged_confusion_matrix": ("metrics.json", _set(("confusion_matrix", 1), [1, 2]), "row 1 of confusion_matrix"),
    "matrix_larger_than_classes": (
        "metrics.json",
        _set(("confusion_matrix",), [[0] * 4 for _ in range(4)]),
        "is 4x4 but class_names names 3",
    ),
    "negative_index": ("metrics.json", _set(("misclassified", 0, "index"), -1), "misclassified.0.index"),
    "misclassified_not_a_list": ("metrics.json", _set(("misclassified",), {"a": 1}), "misclassified: Input should"),
    "unknown_key": ("build.json", _set(("surprise",), 1), "surprise: Extra inputs are not permitted"),
    "nul_in_a_path": ("build.json", _set(("spec_path",), "/tmp/a\x00b"), "spec_path: not a path"),
    "file_name_too_long": ("train.json", _set(("data_dir",), "/tmp/" + "d" * 300), "data_dir: not a path"),
    "list_for_an_object": ("train.json", "[]", "Input should be a valid dictionary"),
    "epochs_of_strings": ("history.json", '{"epochs": ["x"]}', "epochs.0: Input should be"),
    "unknown_figure": ("history.json", _set(("epochs", 0, "Sur prise"), 1.0), "unknown figure 'Sur prise'"),
    "bool_for_an_epoch": ("history.json", _set(("epochs", 0, "epoch"), True), "epochs.0.epoch"),
    "negative_params": ("summary.json", _set(("layers", 0, "params"), -1), "layers.0.params"),
    "shape_of_strings": ("summary.json", _set(("layers", 0, "output_shape"), ["a"]), "layers.0.output_shape.0"),
    "not_utf8": ("metrics.json", "\udcff", "cannot read the file"),
    "format_from_the_future": ("train.json", _set(("format_version",), 2), "format_version 2: written by a newer"),
    "format_version_a_string": ("metrics.json", _set(("format_version",), "1"), "format_version: Input should be"),
    "format_version_negative": ("summary.json", _set(("format_version",), -1), "format_version: Input should be"),
    "results_of_another_spec": ("history.json", _set(("spec_sha256",), "0" * 64), "they are not this model's"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_run_file_is_bad_data(name: str, run: Path, tmp_path: Path) -> None:
    file, content, message = HOSTILE[name]
    if isinstance(content, str):
        (run / file).write_bytes(content.encode("utf-8", errors="surrogateescape"))
    else:
        edit(run, file, content)
    result = report(run, tmp_path / "r.html")
    assert_clean(result, allowed=(3,))
    assert f"{file}: error: " in result.stderr and message in result.stderr, result.stderr
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == PREVIOUS
    record("report: hand-written hostile run files", f"exit {result.exit_code}")


def test_run_file_larger_than_layerspec_writes(run: Path, tmp_path: Path) -> None:
    with open(run / "metrics.json", "wb") as handle:
        handle.truncate(MAX_JSON_BYTES + 1)  # sparse: the size alone refuses it, nothing is read
    result = report(run, tmp_path / "r.html")
    assert_clean(result, allowed=(3,))
    assert "larger than any run file layerspec writes" in result.stderr


@pytest.mark.parametrize("name", ["deeply_nested_lists", "nul_in_a_path", "unknown_key"])
def test_spec_of_a_run_refuses_a_hostile_build_json(name: str, run: Path) -> None:
    """`evaluate`, `predict` and `train RUN` find the spec's folder through build.json."""
    _, content, message = HOSTILE[name]
    if isinstance(content, str):
        (run / "build.json").write_text(content, encoding="utf-8")
    else:
        edit(run, "build.json", content)
    with pytest.raises(DataError, match=r"build\.json") as caught:
        load_run_spec(run)
    assert message in str(caught.value)


@pytest.mark.parametrize("name", ["file_name_too_long", "list_for_an_object", "nested_past_the_limit"])
def test_data_folder_of_a_run_refuses_a_hostile_train_json(name: str, run: Path) -> None:
    _, content, message = HOSTILE[name]
    if isinstance(content, str):
        (run / "train.json").write_text(content, encoding="utf-8")
    else:
        edit(run, "train.json", content)
    loaded = load_run_spec(run)
    with pytest.raises(DataError, match=r"train\.json") as caught:
        run_data_dir(run, loaded, None)
    assert message in str(caught.value)


@pytest.fixture(scope="module")
def run_trees(good_run: Path) -> dict[str, Any]:
    return {name: json.loads((good_run / name).read_text(encoding="utf-8")) for name in RUN_FILES}


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@settings(FUZZ, max_examples=fuzz_examples(0.04, minimum=20))
@given(data=st.data())
def test_report_survives_damaged_run_files(data: Any, good_run: Path, run_trees: dict[str, Any], scratch: Path) -> None:
    """One to three nodes of one run file replaced, dropped, retyped, nested or enlarged: exit 0 or 3."""
    name = data.draw(st.sampled_from(RUN_FILES))
    tree = copy.deepcopy(run_trees[name])
    for _ in range(data.draw(st.integers(1, 3))):
        tree = _mutate_at(data.draw, tree, data.draw(st.sampled_from(_paths(tree))))
    runs = scratch / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    shutil.copytree(good_run.parent, runs)
    (runs / good_run.name / name).write_text(json.dumps(tree), encoding="utf-8")
    result = report(runs / good_run.name, scratch / "r.html")
    assert_clean(result, allowed=(0, 3))
    if result.exit_code == 3:
        assert f"{name}: error: " in result.stderr, result.stderr
        assert (scratch / "r.html").read_text(encoding="utf-8") == PREVIOUS
    record("report: damaged run files", f"exit {result.exit_code}")


def test_fake_run_is_valid(good_run: Path, tmp_path: Path) -> None:
    """The seed of the mutations reports cleanly (else every mutant would be refused for the wrong reason)."""
    assert report(good_run, tmp_path / "r.html").exit_code == 0
    assert FakeRun().classes
