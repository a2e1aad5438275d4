"""`layerspec export`: each format loaded in its own runtime gives the Keras model's probabilities on raw pixels.

One small run (the training tests' subset and network, 1 epoch) is trained once for the module; each format is
exported from it and called as its snippet says, on the test images' raw 0-255 pixels.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from test_train import write_spec
from typer.testing import CliRunner

from layerspec.cli import app

pytestmark = [pytest.mark.keras, pytest.mark.slow]

TOLERANCE = 1e-4


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, signs_subset: Callable[..., Path]) -> Iterator[Path]:
    folder = signs_subset(tmp_path_factory.mktemp("export"))
    spec = write_spec(folder)
    previous = Path.cwd()
    os.chdir(folder)
    try:
        result = invoke("train", str(spec), "--out", str(folder / "run"), "--epochs", "1")
        assert result.exit_code == 0, result.output
        yield folder / "run"
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def pixels(run: Path) -> np.ndarray:
    with h5py.File(run.parent / "test.h5", "r") as handle:
        return np.asarray(handle["test_set_x"][()], np.float32)  # raw 0-255, as a caller has them


@pytest.fixture(scope="module")
def expected(run: Path, pixels: np.ndarray, keras: Any) -> np.ndarray:
    model = keras.saving.load_model(run / "model.keras", compile=False)
    return np.asarray(model.predict(pixels / 255.0, verbose=0))  # the spec's scale is 255


def export(run: Path, fmt: str, *extra: str) -> dict[str, Any]:
    result = invoke("export", str(run), "--format", fmt, "--json", *extra)
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def saved_model_probabilities(path: str, pixels: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    return np.asarray(next(iter(serve(pixels=tf.constant(pixels, tf.float32)).values())))


def litert_probabilities(path: str, pixels: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path).get_signature_runner()
    return np.asarray(next(iter(runner(pixels=pixels).values())))


def onnx_probabilities(path: str, pixels: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: pixels})[0])


RUNTIMES = {"saved_model": saved_model_probabilities, "litert": litert_probabilities, "onnx": onnx_probabilities}


@pytest.mark.parametrize("fmt", sorted(RUNTIMES))
def test_each_format_gives_the_keras_probabilities_on_raw_pixels(
    run: Path, pixels: np.ndarray, expected: np.ndarray, fmt: str
) -> None:
    payload = export(run, fmt)
    assert payload["format"] == fmt and Path(payload["path"]).exists()
    folder = Path(payload["folder"])
    assert folder == run / "export" / fmt
    got = RUNTIMES[fmt](payload["path"], pixels)
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) < TOLERANCE
    labels = Path(payload["labels"]).read_text(encoding="utf-8").splitlines()
    assert labels == payload["class_names"] == [str(i) for i in range(6)]
    info = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    assert info["input_shape"] == [64, 64, 3] and info["scale"] == 255.0 and info["outputs"] == "probabilities"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "a staging folder was left behind"


def test_an_export_is_replaced_only_when_asked(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "onnx"
    export(run, "onnx", "--out", str(out))
    before = tree_digest(out)
    refused = invoke("export", str(run), "--format", "onnx", "--out", str(out))
    assert refused.exit_code == 2 and "--overwrite" in refused.stderr
    assert tree_digest(out) == before
    export(run, "onnx", "--out", str(out), "--overwrite")
    assert set(tree_digest(out)) == set(before)
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"], "the old export or a staging folder was left"


def test_exporting_leaves_the_run_as_it_was(run: Path, tmp_path: Path) -> None:
    before = {k: v for k, v in tree_digest(run).items() if not k.startswith("export/")}
    export(run, "litert", "--out", str(tmp_path / "lite"))
    assert {k: v for k, v in tree_digest(run).items() if not k.startswith("export/")} == before


def test_a_run_that_is_only_built_is_refused(run: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    built = invoke("build", str(spec), "--out", str(tmp_path / "built"))
    assert built.exit_code == 0, built.output
    result = invoke("export", str(tmp_path / "built"), "--format", "onnx")
    assert result.exit_code == 2
    assert "only built" in result.stderr and "layerspec train" in result.stderr
    assert not (tmp_path / "built" / "export").exists()


@pytest.mark.parametrize("kind", ["file", "dangling-link"])
def test_an_out_that_is_not_a_folder_is_refused(run: Path, tmp_path: Path, kind: str) -> None:
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("mine\n", encoding="utf-8")
    else:
        out.symlink_to(tmp_path / "nowhere")
    result = invoke("export", str(run), "--format", "onnx", "--out", str(out))
    assert result.exit_code == 2 and "error:" in result.stderr
    assert out.is_symlink() or out.read_text(encoding="utf-8") == "mine\n"


def test_the_text_output_shows_how_to_call_it(run: Path, tmp_path: Path) -> None:
    result = invoke("export", str(run), "--format", "saved_model", "--out", str(tmp_path / "sm"))
    assert result.exit_code == 0, result.output
    assert "serving_default" in result.stdout and str(tmp_path / "sm" / "saved_model") in result.stdout


def test_the_report_says_how_to_call_each_export(run: Path, tmp_path: Path) -> None:
    export(run, "onnx", "--overwrite")
    export(run, "saved_model", "--overwrite")
    result = invoke("report", str(run), "--out", str(tmp_path / "report.html"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="use"' in page and "onnxruntime.InferenceSession" in page and "serving_default" in page


def test_a_broken_export_record_is_bad_data(run: Path, tmp_path: Path) -> None:
    out = run / "export" / "broken"
    out.mkdir(parents=True)
    try:
        (out / "export.json").write_text('{"format": "onnx", "model": 3}', encoding="utf-8")
        result = invoke("report", str(run), "--out", str(tmp_path / "report.html"))
        assert result.exit_code == 3 and "export.json" in result.stderr
    finally:
        import shutil

        shutil.rmtree(out)
