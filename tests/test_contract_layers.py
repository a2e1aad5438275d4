"""The contract between the layer registry's static rules and Keras.

For several configurations of every registered layer type (the `examples` on its registry entry), `check`'s
output shape and trainable/non-trainable parameter counts must equal what Keras builds for the same arguments.
A registered type without examples fails, so a new layer type cannot slip in untested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from layerspec.check import Checked, check_loaded
from layerspec.compile import keras_layer
from layerspec.errors import SpecError
from layerspec.layers import REGISTRY, base
from layerspec.layers.base import Example
from layerspec.spec import parse_spec

Shape = list[int | None]


@dataclass(frozen=True)
class Case:
    args: dict[str, Any]
    inputs: list[Shape] = field(default_factory=lambda: [[16, 16, 8]])
    dtype: str = "float32"


def c(inputs: Shape | list[Shape] | None = None, **args: Any) -> Case:
    """A case: the layer's arguments, and one input shape or a list of several."""
    if inputs is None:
        return Case(args)
    several = bool(inputs) and isinstance(inputs[0], list)
    return Case(args, inputs if several else [inputs])  # type: ignore[list-item]


def from_example(case: Example) -> Case:
    return Case(dict(case.args), [list(shape) for shape in case.inputs], case.dtype)


IMAGE = list(base.IMAGE)

# Each type's configurations are its registry entry's `examples` (layerspec/layers/*.py).
PARAMS = [
    pytest.param(type_name, from_example(case), id=f"{type_name}-{i}")
    for type_name, cls in sorted(REGISTRY.items())
    for i, case in enumerate(cls.examples)
]


def spec_text(type_name: str, case: Case) -> str:
    """A one-layer spec: the case's inputs feeding one layer named `probe`."""
    names = [f"in{i}" for i in range(len(case.inputs))]
    layer = {"type": type_name, "name": "probe", **case.args}
    if len(names) > 1:
        layer["inputs"] = names
    spec = {
        "name": "contract",
        "inputs": [_input(n, s, case.dtype) for n, s in zip(names, case.inputs, strict=True)],
        "layers": [layer],
    }
    return yaml.safe_dump(spec, sort_keys=False)


def _input(name: str, shape: Shape, dtype: str) -> dict[str, Any]:
    return {"name": name, "shape": shape} if dtype == "float32" else {"name": name, "shape": shape, "dtype": dtype}


def check_case(type_name: str, case: Case) -> Checked:
    return check_loaded(parse_spec(spec_text(type_name, case), Path(f"{type_name}.yaml")))


def keras_figures(keras: Any, checked: Checked) -> tuple[list[tuple[int | None, ...]], int, int]:
    """Every output's shape (no batch) and the trainable/non-trainable parameters of the layer as Keras builds it
    (wrappers with their nested layers, call arguments passed)."""
    node = checked.graph.by_name["probe"]
    assert node.layer is not None
    specs = [n.input_spec for n in checked.graph.input_nodes if n.input_spec]
    inputs = [keras.Input(shape=tuple(spec.shape), dtype=spec.dtype) for spec in specs]
    layer = keras_layer(keras, node.layer, "probe")
    kwargs = node.layer.call.model_dump(exclude_unset=True) if node.layer.call is not None else {}
    output = node.layer.keras_call(layer, inputs, **kwargs)
    outputs = list(output) if isinstance(output, (list, tuple)) else [output]
    trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
    frozen = sum(int(w.numpy().size) for w in layer.non_trainable_weights)
    return [tuple(o.shape)[1:] for o in outputs], trainable, frozen


def test_every_registered_type_has_examples() -> None:
    """Each type's own: examples inherited from a base class would let a new type through untested."""
    missing = sorted(t for t, cls in REGISTRY.items() if "examples" not in vars(cls))
    assert not missing, f"layer types without contract examples of their own (`examples = (...)`): {missing}"
    thin = sorted(t for t, cls in REGISTRY.items() if len(cls.examples) < 2)
    assert not thin, f"layer types with fewer than two contract examples: {thin}"


def test_examples_are_plain_data() -> None:
    """Examples are written into YAML specs, which hold only ints, floats, strings, booleans, None and lists."""

    def plain(value: Any) -> bool:
        if isinstance(value, list):
            return all(plain(v) for v in value)
        if isinstance(value, dict):  # a wrapper's nested layer, or call arguments
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return value is None or isinstance(value, bool | int | float | str)

    for type_name, cls in REGISTRY.items():
        for case in cls.examples:
            assert case.inputs and all(plain(list(s)) for s in case.inputs), (type_name, case)
            assert "type" not in case.args and "inputs" not in case.args, (type_name, case)
            assert all(plain(v) for v in case.args.values()), (type_name, case)


def test_a_type_registered_twice_is_refused() -> None:
    before = dict(REGISTRY)
    with pytest.raises(ValueError, match=r"layer type 'Conv2D' is registered twice: by layerspec\.layers\."):

        @base.register(base.CONVOLUTION)
        class Conv2D(base.LayerSpec):
            type: Literal["Conv2D"]

    assert before == REGISTRY  # the first registration stands


def test_an_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown layer family"):
        base.register(base.Family("convolution", "#000000"))


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
    shapes, trainable, frozen = keras_figures(keras, checked)
    assert list(record.output_shapes) == shapes
    assert (record.trainable_params, record.non_trainable_params) == (trainable, frozen)


# Configurations the checker rejects: Keras must reject them too, or the checker is stricter than Keras.
REJECTED = [
    pytest.param("Conv2D", c([5, 5, 3], filters=2, kernel_size=7), id="kernel-larger-than-input"),
    pytest.param("Conv2D", c(IMAGE, filters=2, kernel_size=3, strides=2, dilation_rate=2), id="strides-and-dilation"),
    pytest.param("Conv2D", c(IMAGE, filters=6, kernel_size=3, groups=4), id="groups-not-dividing"),
    pytest.param("MaxPooling2D", c([2, 2, 3], pool_size=3), id="pool-larger-than-input"),
    pytest.param("Conv2DTranspose", c(IMAGE, filters=2, kernel_size=3, output_padding=2, strides=2), id="outpad"),
    pytest.param("Conv3D", c([3, 6, 6, 2], filters=2, kernel_size=4), id="conv3d-kernel-larger-than-input"),
    pytest.param("Conv3D", c([8, 8, 8, 2], filters=2, kernel_size=2, strides=2, dilation_rate=2), id="conv3d-dilation"),
    pytest.param("Conv3D", c(IMAGE, filters=2, kernel_size=3), id="conv3d-on-an-image"),
    pytest.param("Conv1DTranspose", c([9, 2], filters=2, kernel_size=3, strides=2, output_padding=2), id="outpad-1d"),
    pytest.param("SeparableConv1D", c([9, 2], filters=2, kernel_size=3, padding="causal"), id="separable-causal"),
    pytest.param("MaxPooling3D", c([1, 4, 4, 2], pool_size=2), id="pool3d-larger-than-input"),
    pytest.param("Cropping1D", c([4, 2], cropping=[2, 2]), id="crop1d-everything"),
    pytest.param("Cropping3D", c([4, 4, 4, 2], cropping=[0, 2, 0]), id="crop3d-everything"),
    pytest.param("UpSampling3D", c([2, 2, 2, 1], size=[2, 2]), id="upsampling3d-two-factors"),
    pytest.param("Add", c([[4, 4, 3], [4, 4, 5]]), id="add-mismatch"),
    pytest.param("Concatenate", c([[4, 4, 3], [4, 5, 3]]), id="concatenate-mismatch"),
    pytest.param("Reshape", c([24], target_shape=[5, -1]), id="reshape-impossible"),
    pytest.param("Reshape", c([24], target_shape=[2, 3]), id="reshape-size"),
    pytest.param("Dense", c([None], units=3), id="dense-unknown-features"),
    pytest.param("BatchNormalization", c(IMAGE, axis=4), id="bn-axis-out-of-range"),
    pytest.param("LSTM", c([20, 6], units=3, stateful=True), id="lstm-stateful-without-batch-size"),
    pytest.param("GRU", c([20, 6], units=3, stateful=True), id="gru-stateful-without-batch-size"),
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
