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
        "MobileNet": lambda: a.MobileNet(**small, alpha=0.25),
        "MobileNetV2": lambda: a.MobileNetV2(**small, alpha=0.35),
        "InceptionV3": lambda: a.InceptionV3(weights=None, input_shape=(75, 75, 3), classes=10),
        "Xception": lambda: a.Xception(weights=None, input_shape=(71, 71, 3), classes=10),
        "DenseNet121": lambda: a.DenseNet121(**small),
        "NASNetMobile": lambda: a.NASNetMobile(**small),
        "EfficientNetB0": lambda: a.EfficientNetB0(**small),
        "EfficientNetV2B0": lambda: a.EfficientNetV2B0(**small),
        "EfficientNetV2B1": lambda: a.EfficientNetV2B1(**small),
        "MobileNetV3Small": lambda: a.MobileNetV3Small(**small),
        "MobileNetV3Large": lambda: a.MobileNetV3Large(**small),
        "MobileNetV3SmallMinimalistic": lambda: a.MobileNetV3Small(**small, minimalistic=True),
    }


APPLICATIONS = [
    "VGG16", "VGG19", "ResNet50", "ResNet50V2", "ResNet101", "MobileNet", "MobileNetV2", "InceptionV3", "Xception",
    "DenseNet121", "NASNetMobile", "EfficientNetB0", "EfficientNetV2B0", "EfficientNetV2B1", "MobileNetV3Small",
    "MobileNetV3Large", "MobileNetV3SmallMinimalistic",
]  # fmt: skip
# Keras's operation layers (`x + 3.0` in MobileNetV3's hard sigmoid) that import writes as a Rescaling.
OPERATIONS = "keras.src.ops.numpy"


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A layer's config without what differs between two builds of the same layer (shared-object ids)."""
    return {k: v for k, v in config.items() if k not in ("dtype", "build_config")}


def substituted(model: Any) -> set[str]:
    """The model's operation layers, which the import writes as the built-in layer computing the same."""
    return {op.name for op in operations(model) if type(op).__module__.startswith(OPERATIONS)}


def operations(model: Any) -> list[Any]:
    """A functional model's layers and Keras's operation layers (which model.layers leaves out)."""
    return list(getattr(model, "operations", model.layers))


def round_trip(model: Any, tmp_path: Path) -> tuple[str, list[str]]:
    """Save `model`, import it, and list every way the imported spec's model differs from it."""
    text, problems, _ = round_trip_model(model, tmp_path)
    return text, problems


def round_trip_model(model: Any, tmp_path: Path) -> tuple[str, list[str], Any]:
    """Also the rebuilt Keras model. An operation layer's node must be a Rescaling with its figures, named in
    one note each; its config differs by design (what it computes is compared by the equivalence test)."""
    from layerspec.compile import compile_model

    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    result = invoke("import", str(path), "--json")
    assert result.exit_code == 0, result.output
    imported = json.loads(result.stdout)
    text = imported["text"]
    checked = check_loaded(parse_spec(text, tmp_path / "imported.yaml"))
    rebuilt = compile_model(checked)
    substitutes = substituted(model)
    problems = [] if len(imported["notes"]) == len(substitutes) else [f"{len(imported['notes'])} notes"]
    for layer in operations(model):
        if type(layer).__name__ == "InputLayer":
            continue
        record = checked.summary.record(layer.name)
        params = layer.count_params() if layer.name not in substitutes else 0
        if tuple(record.output_shape) != tuple(layer.output.shape[1:]) or record.params != params:
            problems.append(f"{layer.name}: figures {record.output_shape}/{record.params}")
        again = rebuilt.get_layer(layer.name)
        if layer.name in substitutes:
            if type(again).__name__ != "Rescaling" or f"{layer.name!r}" not in " ".join(imported["notes"]):
                problems.append(f"{layer.name}: written as {type(again).__name__}")
        elif comparable(again.get_config()) != comparable(layer.get_config()):
            problems.append(f"{layer.name}: config")

    def count(m: Any) -> int:
        return sum(type(layer).__name__ != "InputLayer" for layer in operations(m))

    if count(rebuilt) != count(model):
        problems.append(f"{count(rebuilt)} layers rebuilt, {count(model)} saved")
    return text, problems, rebuilt


@pytest.mark.slow
@pytest.mark.parametrize("name", APPLICATIONS)
def test_keras_applications_round_trip(keras: Any, tmp_path: Path, name: str) -> None:
    model = applications(keras)[name]()
    text, problems = round_trip(model, tmp_path)
    assert not problems, problems[:10]
    assert "glorot_uniform" not in text and "channels_last" not in text  # Keras's defaults are left out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["MobileNetV3Small", "EfficientNetB0"])
def test_the_rebuilt_model_computes_the_same_with_the_original_weights(keras: Any, tmp_path: Path, name: str) -> None:
    """MobileNetV3's `x + 3` and `x * (1 / 6)` written as Rescaling layers, and EfficientNet's Normalization
    given statistics: with every weight copied over by layer name (here only; import never reads weights), the
    rebuilt model's outputs equal the original's."""
    import numpy as np

    # Logits, not probabilities: a softmax over random features would hide small differences.
    make = keras.applications.MobileNetV3Small if name == "MobileNetV3Small" else keras.applications.EfficientNetB0
    model = make(weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # statistics a trained model would hold, so no layer is an identity by chance
        if type(layer).__name__ in ("BatchNormalization", "Normalization"):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) for w in layer.get_weights()])
    _, problems, rebuilt = round_trip_model(model, tmp_path)
    assert not problems, problems[:10]
    assert len(substituted(model)) == (18 if name == "MobileNetV3Small" else 0)
    for layer in model.layers:
        rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
    images = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    expected, found = model.predict(images, verbose=0), rebuilt.predict(images, verbose=0)
    assert np.abs(expected).max() > 1e-2  # outputs that could differ
    assert np.abs(found - expected).max() <= 1e-5


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


def dense_with(key: str, value: Any) -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "registered_name": None,
        "config": {"units": 4, key: value},
    }


def keras_object(module: str, cls: str, **config: Any) -> dict[str, Any]:
    return {"module": f"keras.{module}", "class_name": cls, "config": config, "registered_name": None}


def operation(cls: str) -> dict[str, Any]:
    return {"module": "keras.src.ops.numpy", "class_name": cls, "registered_name": cls, "config": {"name": "x"}}


@pytest.mark.parametrize(
    ("layer", "args", "message"),
    [
        (operation("Add"), [tensor("in"), tensor("in")], "(Add) comes from module 'keras.src.ops.numpy'"),
        (operation("Subtract"), [tensor("in"), 3.0], "(Subtract) comes from module 'keras.src.ops.numpy'"),
        (operation("Multiply"), [tensor("in"), True], "(Multiply) comes from module 'keras.src.ops.numpy'"),
        (
            dense_with("kernel_initializer", keras_object("initializers", "VarianceScaling", scale=2.0, seed=7)),
            [tensor("in")],
            "seed=7: a spec seeds every weight with train.seed",
        ),
        (
            dense_with("kernel_initializer", keras_object("initializers", "VarianceScaling", scale=-1.0)),
            [tensor("in")],
            "which a spec cannot hold: Input should be greater than 0",
        ),
        (
            dense_with("kernel_regularizer", keras_object("regularizers", "L2", l2=0.1, l3=1)),
            [tensor("in")],
            "with ['l3'], arguments layerspec's schema does not have",
        ),
        (
            dense_with("bias_initializer", keras_object("initializers", "Orthogonal", gain=2.0)),
            [tensor("in")],
            "cannot be written as a spec that checks",
        ),
    ],
    ids=[
        "add-two-tensors",
        "subtract",
        "multiply-by-bool",
        "seeded",
        "negative-scale",
        "unknown-arg",
        "orthogonal-bias",
    ],
)
def test_what_a_spec_cannot_write_is_refused(
    tmp_path: Path, layer: dict[str, Any], args: list[Any], message: str
) -> None:
    """Only one tensor plus or times one number becomes a Rescaling; an object's arguments must fit the schema."""
    path = tmp_path / "m.keras"
    write_archive(path, [INPUT, {**layer, "name": "x", "inbound_nodes": [{"args": args, "kwargs": {}}]}])
    result = refused(path, tmp_path / "out.yaml")
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr


def test_objects_with_arguments_and_a_recorded_training_false_are_written(tmp_path: Path) -> None:
    """From the config alone: a VarianceScaling and an L2 as mappings (float32 factors as written), a Dropout's
    recorded `training: false` left out, `x * 0.5` as a Rescaling with a note; `training: true` still refused."""
    dense = dense_with("kernel_initializer", keras_object("initializers", "VarianceScaling", scale=2.0, mode="fan_out"))
    dense["config"]["kernel_regularizer"] = keras_object("regularizers", "L2", l2=9.999999747378752e-05)
    dropout = {"module": "keras.layers", "class_name": "Dropout", "registered_name": None, "config": {"rate": 0.5}}
    half = operation("Multiply")
    layers = [
        INPUT,
        {**dense, "name": "d", "inbound_nodes": [{"args": [tensor("in")], "kwargs": {}}]},
        {**dropout, "name": "drop", "inbound_nodes": [{"args": [tensor("d")], "kwargs": {"training": False}}]},
        {**half, "name": "x", "inbound_nodes": [{"args": [tensor("drop"), 0.5], "kwargs": {}}]},
    ]
    write_archive(tmp_path / "m.keras", layers)
    result = invoke("import", str(tmp_path / "m.keras"), "--json")
    assert result.exit_code == 0, result.output
    entries = yaml.safe_load(json.loads(result.stdout)["text"])["layers"]
    assert entries[0]["kernel_initializer"] == {"type": "variance_scaling", "scale": 2.0, "mode": "fan_out"}
    assert entries[0]["kernel_regularizer"] == {"type": "l2", "l2": 0.0001}
    assert entries[1] == {"type": "Dropout", "name": "drop", "rate": 0.5}
    assert entries[2] == {"type": "Rescaling", "name": "x", "scale": 0.5}
    assert "note: layer 'x' (keras.src.ops.numpy.Multiply: x * 0.5) is written as Rescaling(scale=0.5)" in result.stderr
    layers[2]["inbound_nodes"][0]["kwargs"] = {"training": True}
    write_archive(tmp_path / "m.keras", layers)
    training = refused(tmp_path / "m.keras", tmp_path / "out.yaml")
    assert training.exit_code == 2 and "'drop' (Dropout) is called with training=True" in training.stderr
