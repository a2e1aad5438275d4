"""The contract between the layer registry's static rules and Keras.

For several configurations of every registered layer type, `check`'s output shape and trainable/non-trainable
parameter counts must equal what Keras builds for the same arguments. A registered type without cases fails,
so a new layer type cannot slip in untested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from layerspec.check import Checked, check_loaded
from layerspec.errors import SpecError
from layerspec.layers import REGISTRY
from layerspec.spec import parse_spec

Shape = list[int | None]


@dataclass(frozen=True)
class Case:
    args: dict[str, Any]
    inputs: list[Shape] = field(default_factory=lambda: [[16, 16, 8]])


def c(inputs: Shape | list[Shape] | None = None, **args: Any) -> Case:
    """A case: the layer's arguments, and one input shape or a list of several."""
    if inputs is None:
        return Case(args)
    several = bool(inputs) and isinstance(inputs[0], list)
    return Case(args, inputs if several else [inputs])  # type: ignore[list-item]


IMAGE = [9, 11, 4]
SEQ = [20, 6]

CASES: dict[str, list[Case]] = {
    "Conv1D": [
        c(SEQ, filters=8, kernel_size=3),
        c(SEQ, filters=6, kernel_size=5, strides=2, padding="same", use_bias=False),
        c(SEQ, filters=4, kernel_size=[3], dilation_rate=2, padding="causal"),
        c(SEQ, filters=9, kernel_size=3, groups=3),
        c([None, 6], filters=5, kernel_size=4, strides=3),
    ],
    "Conv2D": [
        c(IMAGE, filters=8, kernel_size=3),
        c(IMAGE, filters=8, kernel_size=3, strides=2, padding="same"),
        c(IMAGE, filters=8, kernel_size=[3, 5], strides=[1, 2]),
        c(IMAGE, filters=6, kernel_size=3, dilation_rate=2, use_bias=False),
        c([16, 16, 8], filters=16, kernel_size=3, groups=4, padding="same"),
        c(IMAGE, filters=4, kernel_size=1, trainable=False),
        c([None, None, 3], filters=5, kernel_size=7, strides=2, padding="same"),
        c([15, 15, 3], filters=4, kernel_size=4, strides=3),
    ],
    "Conv2DTranspose": [
        c(IMAGE, filters=8, kernel_size=3),
        c(IMAGE, filters=8, kernel_size=3, strides=2, padding="same"),
        c(IMAGE, filters=5, kernel_size=3, strides=2),
        c(IMAGE, filters=5, kernel_size=2, strides=3),
        c(IMAGE, filters=4, kernel_size=3, strides=2, padding="same", output_padding=1),
        # output_padding 0 with an even kernel under padding same builds but cannot run (tests/fuzz): 2, not 0.
        c(IMAGE, filters=4, kernel_size=[3, 4], strides=[2, 3], output_padding=[1, 2], padding="same"),
        c(IMAGE, filters=4, kernel_size=4, strides=2, output_padding=1, use_bias=False),
        # dilation_rate > 1 is refused: TensorFlow's CPU kernel cannot run it (tests/cases/regress/transpose_dilation).
        c([None, 7, 2], filters=3, kernel_size=3, strides=2),
    ],
    "DepthwiseConv2D": [
        c(IMAGE, kernel_size=3),
        c(IMAGE, kernel_size=3, strides=2, padding="same", depth_multiplier=2),
        c(IMAGE, kernel_size=[3, 2], dilation_rate=2, use_bias=False),
        c(IMAGE, kernel_size=5, depth_multiplier=3, padding="same", trainable=False),
    ],
    "SeparableConv2D": [
        c(IMAGE, filters=8, kernel_size=3),
        c(IMAGE, filters=8, kernel_size=3, strides=2, padding="same", depth_multiplier=3),
        c(IMAGE, filters=6, kernel_size=3, dilation_rate=2, use_bias=False),
        c(IMAGE, filters=6, kernel_size=[1, 3], depth_multiplier=2, trainable=False),
    ],
    "Dense": [
        c([16], units=10),
        c([5, 7], units=3),
        c([16], units=4, use_bias=False, activation="relu"),
        c([16], units=4, trainable=False),
        c([None, 7], units=1),
    ],
    "BatchNormalization": [
        c(IMAGE),
        c(IMAGE, axis=3),
        c(IMAGE, axis=1),
        c(IMAGE, axis=2, center=False),
        c([6, 5], axis=-2),
        c([12], scale=False, momentum=0.9, epsilon=1e-5),
        c(IMAGE, trainable=False),
    ],
    "LayerNormalization": [
        c(IMAGE),
        c(IMAGE, axis=[1, 2, 3]),
        c(IMAGE, axis=[-2, -1], center=False),
        c([6, 5], axis=1, scale=False),
        c([6, 5], axis=[2, 1], trainable=False),
        c([6, 5], center=False, scale=False),
    ],
    "Activation": [c(IMAGE, activation="relu"), c([6, 3], activation="softmax"), c([6], activation="swish")],
    "ReLU": [c(IMAGE), c(IMAGE, max_value=6.0), c([6], negative_slope=0.1, threshold=0.5)],
    "LeakyReLU": [c(IMAGE), c([6], negative_slope=0.2)],
    "Softmax": [c([6]), c([6, 3], axis=1), c(IMAGE, axis=[1, 2])],
    "MaxPooling2D": [
        c(IMAGE),
        c(IMAGE, pool_size=3, strides=2, padding="same"),
        c(IMAGE, pool_size=[2, 3], strides=1),
        c([7, 7, 2], pool_size=3, strides=2),
        c([None, 8, 2], pool_size=2),
    ],
    "AveragePooling2D": [
        c(IMAGE, pool_size=2),
        c(IMAGE, pool_size=3, strides=2, padding="same"),
        c(IMAGE, pool_size=[3, 2], strides=[1, 2]),
    ],
    "MaxPooling1D": [c(SEQ), c(SEQ, pool_size=3, strides=1, padding="same"), c([7, 2], pool_size=[2], strides=[3])],
    "AveragePooling1D": [c(SEQ, pool_size=2), c(SEQ, pool_size=3, strides=2, padding="same")],
    "GlobalAveragePooling2D": [c(IMAGE), c(IMAGE, keepdims=True), c([None, None, 5])],
    "GlobalMaxPooling2D": [c(IMAGE), c(IMAGE, keepdims=True)],
    "GlobalAveragePooling1D": [c(SEQ), c(SEQ, keepdims=True)],
    "GlobalMaxPooling1D": [c(SEQ), c(SEQ, keepdims=True)],
    "ZeroPadding2D": [
        c(IMAGE),
        c(IMAGE, padding=3),
        c(IMAGE, padding=[1, 2]),
        c(IMAGE, padding=[[1, 2], [3, 0]]),
        c([None, 4, 1], padding=2),
    ],
    "Cropping2D": [c(IMAGE, cropping=1), c(IMAGE, cropping=[1, 2]), c(IMAGE, cropping=[[0, 1], [2, 3]])],
    "UpSampling2D": [c(IMAGE), c(IMAGE, size=[2, 3], interpolation="bilinear"), c([None, 4, 1], size=3)],
    "Flatten": [c(IMAGE), c([6]), c([5, 7])],
    "Reshape": [
        c(IMAGE, target_shape=[-1]),
        c(IMAGE, target_shape=[11, -1]),
        c([24], target_shape=[2, 3, 4]),
        c([24], target_shape=[-1, 2, 3]),
        c([None, 4], target_shape=[-1, 2, 2]),
    ],
    "Dropout": [c(IMAGE, rate=0.5), c([6], rate=0.0, seed=3), c([6, 4], rate=0.2, noise_shape=[None, 1, 4])],
    "SpatialDropout2D": [c(IMAGE, rate=0.2), c(IMAGE, rate=0.5, seed=1)],
    "Add": [
        c([[4, 4, 3], [4, 4, 3]]),
        c([[4, 4, 3], [4, 4, 3], [4, 4, 3]]),
        c([[4, 4, 3], [1, 1, 3]]),
        c([[4, 4, 3], [3]]),
        c([[None, 4, 3], [5, 1, 3]]),
    ],
    "Subtract": [c([[6], [6]]), c([[4, 4, 3], [1, 4, 1]])],
    "Multiply": [c([[8, 8, 16], [1, 1, 16]]), c([[6], [6], [6]]), c([[5, 1], [1, 7]])],
    "Average": [c([[6], [6]]), c([[4, 4, 3], [4, 1, 3]])],
    "Maximum": [c([[6], [6]]), c([[4, 4, 3], [3]])],
    "Minimum": [c([[6], [6]]), c([[2, 3], [2, 1]])],
    "Concatenate": [
        c([[4, 4, 3], [4, 4, 5]]),
        c([[4, 4, 3], [2, 4, 3]], axis=1),
        c([[4, 4, 3], [4, 4, 1], [4, 4, 2]], axis=3),
        c([[4, 2, 3], [4, 5, 3]], axis=-2),
        c([[None, 4, 3], [None, 4, 2]]),
        c([[None, 4, 3], [5, 4, 2]]),
    ],
    "Rescaling": [c(IMAGE, scale=1 / 255), c([6], scale=2.0, offset=-1.0)],
    "RandomFlip": [c(IMAGE), c(IMAGE, mode="horizontal", seed=1)],
    "RandomRotation": [c(IMAGE, factor=0.1), c(IMAGE, factor=[-0.2, 0.3], fill_mode="constant")],
    "RandomZoom": [c(IMAGE, height_factor=0.1), c(IMAGE, height_factor=[-0.2, 0.2], width_factor=0.1)],
    "RandomTranslation": [
        c(IMAGE, height_factor=0.1, width_factor=0.1),
        c(IMAGE, height_factor=[-0.1, 0.2], width_factor=0.3, fill_mode="nearest"),
    ],
    "RandomContrast": [c(IMAGE, factor=0.2), c(IMAGE, factor=[0.1, 0.3], value_range=[0.0, 1.0])],
}

PARAMS = [
    pytest.param(type_name, case, id=f"{type_name}-{i}")
    for type_name, cases in CASES.items()
    for i, case in enumerate(cases)
]


def spec_text(type_name: str, case: Case) -> str:
    """A one-layer spec: the case's inputs feeding one layer named `probe`."""
    names = [f"in{i}" for i in range(len(case.inputs))]
    layer = {"type": type_name, "name": "probe", **case.args}
    if len(names) > 1:
        layer["inputs"] = names
    spec = {
        "name": "contract",
        "inputs": [{"name": n, "shape": s} for n, s in zip(names, case.inputs, strict=True)],
        "layers": [layer],
    }
    return yaml.safe_dump(spec, sort_keys=False)


def check_case(type_name: str, case: Case) -> Checked:
    return check_loaded(parse_spec(spec_text(type_name, case), Path(f"{type_name}.yaml")))


def keras_figures(keras: Any, checked: Checked) -> tuple[tuple[int | None, ...], int, int]:
    """Output shape (no batch) and trainable/non-trainable parameters of the layer as Keras builds it."""
    node = checked.graph.by_name["probe"]
    assert node.layer is not None
    inputs = [keras.Input(shape=tuple(n.input_spec.shape)) for n in checked.graph.input_nodes if n.input_spec]
    layer = getattr(keras.layers, node.layer.type)(**node.layer.keras_arguments())
    output = layer(inputs if node.layer.max_inputs != 1 else inputs[0])
    trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
    frozen = sum(int(w.numpy().size) for w in layer.non_trainable_weights)
    return tuple(output.shape)[1:], trainable, frozen


def test_every_registered_type_has_cases() -> None:
    missing = sorted(set(REGISTRY) - set(CASES))
    assert not missing, f"layer types without contract cases: {missing}"
    thin = sorted(t for t, cases in CASES.items() if len(cases) < 2)
    assert not thin, f"layer types with fewer than two contract cases: {thin}"
    assert not set(CASES) - set(REGISTRY), "cases for unregistered types"


@pytest.mark.parametrize(("type_name", "case"), PARAMS)
def test_case_is_a_valid_spec(type_name: str, case: Case) -> None:
    """The static side alone (no Keras): every case checks, so the Keras comparison tests the rule."""
    record = check_case(type_name, case).summary.record("probe")
    assert record.type == type_name
    assert record.params == record.trainable_params + record.non_trainable_params


@pytest.mark.keras
@pytest.mark.parametrize(("type_name", "case"), PARAMS)
def test_static_rule_matches_keras(keras: Any, type_name: str, case: Case) -> None:
    checked = check_case(type_name, case)
    record = checked.summary.record("probe")
    shape, trainable, frozen = keras_figures(keras, checked)
    assert record.output_shape == shape
    assert (record.trainable_params, record.non_trainable_params) == (trainable, frozen)


# Configurations the checker rejects: Keras must reject them too, or the checker is stricter than Keras.
REJECTED = [
    pytest.param("Conv2D", c([5, 5, 3], filters=2, kernel_size=7), id="kernel-larger-than-input"),
    pytest.param("Conv2D", c(IMAGE, filters=2, kernel_size=3, strides=2, dilation_rate=2), id="strides-and-dilation"),
    pytest.param("Conv2D", c(IMAGE, filters=6, kernel_size=3, groups=4), id="groups-not-dividing"),
    pytest.param("MaxPooling2D", c([2, 2, 3], pool_size=3), id="pool-larger-than-input"),
    pytest.param("Conv2DTranspose", c(IMAGE, filters=2, kernel_size=3, output_padding=2, strides=2), id="outpad"),
    pytest.param("Add", c([[4, 4, 3], [4, 4, 5]]), id="add-mismatch"),
    pytest.param("Concatenate", c([[4, 4, 3], [4, 5, 3]]), id="concatenate-mismatch"),
    pytest.param("Reshape", c([24], target_shape=[5, -1]), id="reshape-impossible"),
    pytest.param("Reshape", c([24], target_shape=[2, 3]), id="reshape-size"),
    pytest.param("Dense", c([None], units=3), id="dense-unknown-features"),
    pytest.param("BatchNormalization", c(IMAGE, axis=4), id="bn-axis-out-of-range"),
]


@pytest.mark.keras
@pytest.mark.parametrize(("type_name", "case"), REJECTED)
def test_rejected_by_both(keras: Any, type_name: str, case: Case) -> None:
    with pytest.raises(SpecError):
        check_case(type_name, case)
    inputs = [keras.Input(shape=tuple(s)) for s in case.inputs]
    with pytest.raises((ValueError, TypeError, IndexError)):  # Keras refuses in the constructor or the call
        layer = getattr(keras.layers, type_name)(**case.args)
        layer(inputs if len(inputs) > 1 else inputs[0])


# ---- whole architectures, as keras.applications builds them -------------------------------------------------

ARCHITECTURES = {
    "VGG16": (64, 64, 3),
    "ResNet50": (64, 64, 3),
    "MobileNetV2": (64, 64, 3),
    "DenseNet121": (64, 64, 3),
    "Xception": (80, 80, 3),
}
# Keras config keys that never change a shape or a count (and are written as nested objects in configs).
_BEHAVIOUR_ONLY = ("initializer", "regularizer", "constraint")


def spec_from_keras(model: Any) -> str:
    """A layerspec spec that rebuilds `model` layer for layer: type, name, shape arguments and wiring."""
    first, *layers = model.layers
    entries = [_entry(layer) for layer in layers]
    spec = {
        "name": model.name,
        "input": {"name": first.name, "shape": list(first.output.shape[1:])},
        "layers": entries,
        "outputs": [model.layers[-1].name],
    }
    return yaml.safe_dump(spec, sort_keys=False)


def _entry(layer: Any) -> dict[str, Any]:
    kind = type(layer).__name__
    fields = REGISTRY[kind].model_fields
    entry: dict[str, Any] = {"type": kind, "name": layer.name}
    for key, value in layer.get_config().items():
        if key in fields and key not in entry and value is not None and not key.endswith(_BEHAVIOUR_ONLY):
            entry[key] = _plain(value)
    sources = [tensor._keras_history[0].name for tensor in layer._inbound_nodes[0].input_tensors]
    entry["inputs"] = sources if len(sources) > 1 else sources[0]
    return entry


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


@pytest.mark.keras
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_keras_applications_match(keras: Any, architecture: str) -> None:
    """Every layer's output shape and the model's parameter counts, as Keras builds the reference models."""
    build = getattr(keras.applications, architecture)
    model = build(weights=None, input_shape=ARCHITECTURES[architecture], classes=10)
    summary = check_loaded(parse_spec(spec_from_keras(model), Path(f"{architecture}.yaml"))).summary
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    assert (summary.params, summary.trainable_params) == (model.count_params(), trainable)
    for layer in model.layers:
        assert summary.record(layer.name).output_shape == tuple(layer.output.shape[1:]), layer.name
