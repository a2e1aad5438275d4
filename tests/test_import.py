"""`layerspec import`: saved Keras models back to specs, held against Keras; unsafe models refused unread.

Round trip: a keras.applications model (weights=None, small input) is saved, imported, checked and built; every
layer's output shape and parameters must equal Keras's, and every rebuilt layer's config the original's.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from layerspec.check import check_loaded
from layerspec.cli import app
from layerspec.spec import parse_spec

pytestmark = pytest.mark.keras

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def applications(keras: Any) -> dict[str, Callable[[], Any]]:
    a = keras.applications
    small = {"weights": None, "input_shape": (32, 32, 3), "classes": 10}
    return {
        "VGG16": lambda: a.VGG16(**small),
        "VGG19": lambda: a.VGG19(**small),
        "ResNet50": lambda: a.ResNet50(**small),
        "ResNet50V2": lambda: a.ResNet50V2(**small),
        "ResNet101": lambda: a.ResNet101(**small),
        "MobileNetV2": lambda: a.MobileNetV2(**small, alpha=0.35),
        "InceptionV3": lambda: a.InceptionV3(weights=None, input_shape=(75, 75, 3), classes=10),
        "Xception": lambda: a.Xception(weights=None, input_shape=(71, 71, 3), classes=10),
        "DenseNet121": lambda: a.DenseNet121(**small),
        "NASNetMobile": lambda: a.NASNetMobile(**small),
    }


APPLICATIONS = [
    "VGG16", "VGG19", "ResNet50", "ResNet50V2", "ResNet101", "MobileNetV2", "InceptionV3", "Xception", "DenseNet121",
    "NASNetMobile",
]  # fmt: skip


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A layer's config without what differs between two builds of the same layer (shared-object ids)."""
    return {k: v for k, v in config.items() if k not in ("dtype", "build_config")}


def round_trip(model: Any, tmp_path: Path) -> tuple[str, list[str]]:
    """Save `model`, import it, and list every way the imported spec's model differs from it."""
    from layerspec.compile import compile_model

    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    result = invoke("import", str(path), "--json")
    assert result.exit_code == 0, result.output
    text = json.loads(result.stdout)["text"]
    checked = check_loaded(parse_spec(text, tmp_path / "imported.yaml"))
    rebuilt = compile_model(checked)
    problems = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        record = checked.summary.record(layer.name)
        if tuple(record.output_shape) != tuple(layer.output.shape[1:]) or record.params != layer.count_params():
            problems.append(f"{layer.name}: figures {record.output_shape}/{record.params}")
        if comparable(rebuilt.get_layer(layer.name).get_config()) != comparable(layer.get_config()):
            problems.append(f"{layer.name}: config")

    def count(m: Any) -> int:
        return sum(type(layer).__name__ != "InputLayer" for layer in m.layers)

    if count(rebuilt) != count(model):
        problems.append(f"{count(rebuilt)} layers rebuilt, {count(model)} saved")
    return text, problems


@pytest.mark.slow
@pytest.mark.parametrize("name", APPLICATIONS)
def test_keras_applications_round_trip(keras: Any, tmp_path: Path, name: str) -> None:
    model = applications(keras)[name]()
    text, problems = round_trip(model, tmp_path)
    assert not problems, problems[:10]
    assert "glorot_uniform" not in text and "channels_last" not in text  # Keras's defaults are left out


def test_a_chain_is_written_without_inputs_and_a_branch_with_them(keras: Any, tmp_path: Path) -> None:
    x = keras.Input((16, 16, 3), name="image")
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(x)
    b = keras.layers.Conv2D(4, 1, name="b", kernel_initializer="he_normal")(x)
    y = keras.layers.Add(name="sum")([a, b])
    y = keras.layers.GlobalAveragePooling2D(name="pool")(y)
    out = keras.layers.Dense(3, activation="softmax", name="head")(y)
    text, problems = round_trip(keras.Model(x, out, name="branchy"), tmp_path)
    assert not problems, problems
    layers = {entry["name"]: entry for entry in yaml.safe_load(text)["layers"]}
    assert "inputs" not in layers["a"] and layers["b"]["inputs"] == "image"
    assert layers["sum"]["inputs"] == ["a", "b"] and "inputs" not in layers["pool"]
    assert layers["a"]["kernel_size"] == 3 and layers["b"]["kernel_initializer"] == "he_normal"


def test_two_inputs_and_a_sequential_model(keras: Any, tmp_path: Path) -> None:
    left, right = keras.Input((8,), name="left"), keras.Input((5,), name="right")
    joined = keras.layers.Concatenate(name="joined")([left, right])
    two = keras.Model([left, right], keras.layers.Dense(2, name="out")(joined), name="two_inputs")
    text, problems = round_trip(two, tmp_path)
    assert not problems, problems
    assert [i["name"] for i in yaml.safe_load(text)["inputs"]] == ["left", "right"]
    chain = keras.Sequential(
        [keras.Input((12,)), keras.layers.Dense(6, activation="relu", name="h"), keras.layers.Dense(2, name="o")],
        name="chain",
    )
    assert not round_trip(chain, tmp_path)[1]


def test_the_spec_is_printed_or_written_but_never_over_a_file(keras: Any, tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")], name="tiny")
    model.save(tmp_path / "tiny.keras")
    printed = invoke("import", str(tmp_path / "tiny.keras"))
    assert printed.exit_code == 0 and "type: Dense" in printed.stdout and "units: 2" in printed.stdout
    out = tmp_path / "tiny.yaml"
    assert invoke("import", str(tmp_path / "tiny.keras"), "--out", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8") == printed.stdout
    out.write_text("mine\n", encoding="utf-8")
    refused = invoke("import", str(tmp_path / "tiny.keras"), "--out", str(out))
    assert refused.exit_code == 2 and "--overwrite" in refused.stderr
    assert out.read_text(encoding="utf-8") == "mine\n"


def refused(path: Path, out: Path) -> Any:
    result = invoke("import", str(path), "--out", str(out))
    assert not out.exists(), "a refused import wrote a spec"
    return result


def test_a_lambda_is_refused_and_its_code_never_runs(keras: Any, tmp_path: Path) -> None:
    marker = tmp_path / "the-lambda-ran"

    def touch(x: Any) -> Any:
        marker.write_text("ran\n", encoding="utf-8")
        return x

    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(2)(keras.layers.Lambda(touch, name="sneaky")(x)))
    model.save(tmp_path / "lambda.keras")
    marker.unlink()
    result = refused(tmp_path / "lambda.keras", tmp_path / "out.yaml")
    assert result.exit_code == 2
    assert "'sneaky' (Lambda)" in result.stderr and "Traceback" not in result.output
    assert not marker.exists()


def write_archive(path: Path, layers: list[dict[str, Any]]) -> None:
    config = {
        "module": "keras", "class_name": "Functional", "registered_name": None,
        "config": {"name": "m", "layers": layers, "input_layers": [["in", 0, 0]], "output_layers": [["x", 0, 0]]},
    }  # fmt: skip
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", "{}")


def tensor(name: str) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "keras_history": [name, 0, 0]}}


INPUT = {
    "module": "keras.layers", "class_name": "InputLayer", "name": "in", "registered_name": None,
    "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "in"}, "inbound_nodes": [],
}  # fmt: skip


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            {
                "module": "keras.layers",
                "class_name": "TFSMLayer",
                "registered_name": None,
                "config": {"filepath": "/etc/anything"},
            },
            "registry has no TFSMLayer",
        ),
        (
            {"module": "my_package.layers", "class_name": "Dense", "registered_name": None, "config": {"units": 2}},
            "module 'my_package.layers'",
        ),
        (
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "registered_name": "Custom>LayerScale",
                "config": {"units": 2},
            },
            "registered as 'Custom>LayerScale'",
        ),
        (
            {"module": "keras.src.ops.numpy", "class_name": "Add", "registered_name": "Add", "config": {}},
            "module 'keras.src.ops.numpy'",
        ),
        (
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "registered_name": None,
                "config": {"units": 2, "kernel_initializer": {"module": "os", "class_name": "system", "config": {}}},
            },
            "from 'os'",
        ),
    ],
    ids=["file-loading-layer", "outside-keras", "custom-registered", "ops-layer", "object-from-elsewhere"],
)
def test_unsafe_or_unknown_classes_are_refused(tmp_path: Path, layer: dict[str, Any], message: str) -> None:
    path = tmp_path / "m.keras"
    write_archive(path, [INPUT, {**layer, "name": "x", "inbound_nodes": [{"args": [tensor("in")], "kwargs": {}}]}])
    result = refused(path, tmp_path / "out.yaml")
    assert result.exit_code == 2, result.output
    assert "'x'" in result.stderr and message in result.stderr


@pytest.mark.parametrize("content", [b"not a zip", b"PK\x03\x04 broken"])
def test_a_file_that_is_not_a_keras_archive_is_bad_data(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "m.keras"
    path.write_bytes(content)
    result = refused(path, tmp_path / "out.yaml")
    assert result.exit_code == 3 and "not a readable Keras model archive" in result.stderr
