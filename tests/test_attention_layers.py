"""Attention and multi-input layers: MACs and weight shapes by hand, the positional wiring `build` does, and the
refusals that Keras makes only when the model runs (FAILS_WHEN_RUN), each shown to fail in Keras."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from layerspec.check import Checked, check_file, check_loaded
from layerspec.errors import SpecError
from layerspec.layers import REGISTRY
from layerspec.layers.base import FAILS_WHEN_RUN
from layerspec.spec import parse_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"
MINE = ("MultiHeadAttention", "GroupQueryAttention", "Attention", "AdditiveAttention", "Dot", "EinsumDense")
Shapes = list[list[int | None]]


def one_layer(type_name: str, inputs: Shapes, dtype: str = "float32", **args: Any) -> str:
    names = [f"in{i}" for i in range(len(inputs))]
    layer = {"type": type_name, "name": "probe", **args, "inputs": names}
    spec = {
        "name": "probe",
        "inputs": [{"name": n, "shape": s, "dtype": dtype} for n, s in zip(names, inputs, strict=True)],
        "layers": [layer],
    }
    return yaml.safe_dump(spec, sort_keys=False)


def check(type_name: str, inputs: Shapes, **args: Any) -> Checked:
    return check_loaded(parse_spec(one_layer(type_name, inputs, **args), Path("probe.yaml")))


def refusal(type_name: str, inputs: Shapes, **args: Any) -> str:
    with pytest.raises(SpecError) as caught:
        check(type_name, inputs, **args)
    return str(caught.value)


# (type, inputs, arguments, MACs, weight shapes): worked out by hand from each class's docstring.
HAND = [
    (
        "MultiHeadAttention",
        [[5, 8], [7, 6], [7, 3]],
        {"num_heads": 2, "key_dim": 4, "value_dim": 5, "output_shape": 10},
        # query 5*8*2*4, key 7*3*2*4, value 7*6*2*5, scores 5*7*2*4, weighted sum 5*7*2*5, output 5*2*5*10
        320 + 168 + 420 + 280 + 350 + 500,
        [(8, 2, 4), (2, 4), (3, 2, 4), (2, 4), (6, 2, 5), (2, 5), (2, 5, 10), (10,)],
    ),
    (
        "MultiHeadAttention",
        [[16, 32], [16, 32]],
        {"num_heads": 4, "key_dim": 8},
        3 * 16 * 32 * 32 + 2 * 16 * 16 * 32 + 16 * 32 * 32,
        [(32, 4, 8), (4, 8)] * 3 + [(4, 8, 32), (32,)],
    ),
    (
        "GroupQueryAttention",
        [[6, 8], [6, 8]],
        {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2},
        6 * 8 * 4 * 4 + 2 * 6 * 8 * 2 * 4 + 2 * 6 * 6 * 4 * 4 + 6 * 4 * 4 * 8,
        [(8, 4, 4), (4, 4), (8, 2, 4), (2, 4), (8, 2, 4), (2, 4), (4, 4, 8), (8,)],
    ),
    ("Attention", [[5, 8], [7, 8]], {}, 5 * 7 * 8 + 5 * 7 * 8, []),
    ("Attention", [[5, 8], [7, 8]], {"score_mode": "concat", "use_scale": True}, 5 * 7 * 8, [(), ()]),
    ("AdditiveAttention", [[5, 8], [7, 3], [7, 8]], {}, 5 * 7 * 8 + 5 * 7 * 3, [(8,)]),
    ("Dot", [[3, 5], [10, 3]], {"axes": [1, 2]}, 5 * 10 * 3, []),
    (
        "EinsumDense",
        [[5, 32]],
        {"equation": "abc,cde->abde", "output_shape": [5, 4, 8], "bias_axes": "de"},
        5 * 32 * 4 * 8,
        [(32, 4, 8), (4, 8)],
    ),
    (
        "EinsumDense",
        [[5, 4, 3]],
        {"equation": "abcd,be->aecd", "output_shape": [7, 4, 3], "bias_axes": "ec"},
        5 * 7 * 4 * 3,
        [(5, 7), (7, 4, 1)],
    ),
]


@pytest.mark.parametrize(("type_name", "inputs", "args", "macs", "shapes"), HAND)
def test_macs_and_weights_by_hand(
    type_name: str, inputs: Shapes, args: dict[str, Any], macs: int, shapes: list[tuple[int, ...]]
) -> None:
    record = check(type_name, inputs, **args).summary.record("probe")
    assert record.macs == macs
    assert [w.shape for w in record.weights] == shapes


def test_output_shape_is_written_as_keras_names_it() -> None:
    """`output_shape` is the field's alias (LayerSpec.output_shape is the shape rule); the Python name is refused."""
    assert check("EinsumDense", [[4]], equation="ab,bc->ac", output_shape=3).summary.record("probe").output_shape == (
        3,
    )
    assert "output_dims" in refusal("EinsumDense", [[4]], equation="ab,bc->ac", output_dims=3)


def test_key_defaults_to_the_value() -> None:
    two = check("MultiHeadAttention", [[5, 8], [7, 6]], num_heads=2, key_dim=4).summary.record("probe")
    three = check("MultiHeadAttention", [[5, 8], [7, 6], [7, 6]], num_heads=2, key_dim=4).summary.record("probe")
    assert (two.weights, two.macs) == (three.weights, three.macs)


# ---- against Keras ----------------------------------------------------------------------------------------------


def keras_layer(keras: Any, checked: Checked) -> tuple[Any, Any, list[Any]]:
    """The probe layer built by Keras on the spec's inputs, called as layerspec's compiler calls it."""
    node = checked.graph.by_name["probe"]
    assert node.layer is not None
    specs = [n.input_spec for n in checked.graph.input_nodes if n.input_spec is not None]
    inputs = [keras.Input(shape=tuple(s.shape), dtype=s.dtype) for s in specs]
    layer = getattr(keras.layers, node.layer.type)(**node.layer.keras_arguments())
    return layer, node.layer.keras_call(layer, inputs), inputs


EXAMPLES = [
    pytest.param(t, e, id=f"{t}-{i}") for t in MINE for i, e in enumerate(REGISTRY[t].examples)
]  # fmt: skip


@pytest.mark.keras
@pytest.mark.parametrize(("type_name", "case"), EXAMPLES)
def test_weight_shapes_equal_keras(keras: Any, type_name: str, case: Any) -> None:
    """Weight by weight, in Keras's order: the contract test compares only the counts."""
    checked = check(type_name, [list(s) for s in case.inputs], **case.args)
    layer, _, _ = keras_layer(keras, checked)
    ours = [w.shape for w in checked.summary.record("probe").weights]
    assert ours == [tuple(int(d) for d in w.shape) for w in layer.weights]


@pytest.mark.keras
def test_transformer_block_builds_as_written(keras: Any) -> None:
    """Self-attention reads the same tensor as query and value, passed as two positional arguments."""
    from layerspec.compile import compile_model, verify_model

    checked = check_file(SPECS / "transformer_block.yaml")
    model = compile_model(checked)
    verify_model(checked, model)
    attention = model.get_layer("attention")
    sources = [t._keras_history[0].name for t in attention._inbound_nodes[0].input_tensors]
    assert sources == ["tokens", "tokens"]
    assert tuple(model(np.zeros((2, 16, 32), "float32")).shape) == (2, 6)


@pytest.mark.keras
def test_query_value_key_keep_their_order(keras: Any) -> None:
    """Three differently sized inputs: swapping value and key would change the weight shapes verify_model proves."""
    from layerspec.compile import compile_model, verify_model

    text = one_layer("MultiHeadAttention", [[5, 8], [7, 6], [7, 3]], num_heads=2, key_dim=4, value_dim=5)
    checked = check_loaded(parse_spec(text, Path("cross.yaml")))
    model = compile_model(checked)
    verify_model(checked, model)
    layer = model.get_layer("probe")
    assert [t._keras_history[0].name for t in layer._inbound_nodes[0].input_tensors] == ["in0", "in1", "in2"]
    assert tuple(layer.value_dense.kernel.shape) == (6, 2, 5)
    assert tuple(layer.key_dense.kernel.shape) == (3, 2, 4)


# Refused by check with FAILS_WHEN_RUN: Keras builds each of these, and fails when the model runs.
FAILS_WHEN_RUN_CASES = [
    pytest.param("MultiHeadAttention", [[3, 5, 8], [4, 6]], {"num_heads": 2, "key_dim": 4}, id="mha-ranks"),
    pytest.param(
        "MultiHeadAttention",
        [[3, 5, 8], [4, 6, 8]],
        {"num_heads": 2, "key_dim": 4, "attention_axes": 2},
        id="mha-non-attention-axis",
    ),
    pytest.param(
        "MultiHeadAttention", [[3, 5, 8], [3, 5, 8]], {"num_heads": 2, "key_dim": 4, "sliding_window": 2}, id="window"
    ),
    pytest.param(
        "GroupQueryAttention",
        [[3, 5, 8], [3, 5, 8]],
        {"head_dim": 4, "num_query_heads": 2, "num_key_value_heads": 1},
        id="gqa-rank",
    ),
    pytest.param("Attention", [[4, 8], [5, 6]], {}, id="attention-features"),
    pytest.param("AdditiveAttention", [[4, 8], [5, 6], [6, 8]], {}, id="additive-positions"),
    pytest.param("Dot", [[4, 6], [4, 7]], {"axes": 0}, id="dot-batch-axis"),
    pytest.param("EinsumDense", [[2, 5, 32]], {"equation": "abc,cd->abd", "output_shape": [2, 8]}, id="einsum-rank"),
]


@pytest.mark.keras
@pytest.mark.parametrize(("type_name", "inputs", "args"), FAILS_WHEN_RUN_CASES)
def test_refused_because_keras_fails_when_run(keras: Any, type_name: str, inputs: Shapes, args: dict[str, Any]) -> None:
    assert FAILS_WHEN_RUN in refusal(type_name, inputs, **args)
    tensors = [keras.Input(shape=tuple(s)) for s in inputs]
    layer = getattr(keras.layers, type_name)(**args)
    several = REGISTRY[type_name].max_inputs != 1
    call = REGISTRY[type_name].model_construct().keras_call
    model = keras.Model(tensors, call(layer, tensors) if several else layer(tensors[0]))  # Keras builds it
    arrays = [np.ones((2, *s), "float32") for s in inputs]
    with pytest.raises(Exception):  # noqa: B017  (TensorFlow raises several kinds)
        model(arrays if len(arrays) > 1 else arrays[0])


@pytest.mark.keras
def test_hashed_crossing_fails_on_floats_when_run(keras: Any) -> None:
    text = one_layer("HashedCrossing", [[1], [1]], num_bins=4)
    with pytest.raises(SpecError, match=FAILS_WHEN_RUN):
        check_loaded(parse_spec(text, Path("floats.yaml")))
    tensors = [keras.Input(shape=(1,)), keras.Input(shape=(1,))]
    model = keras.Model(tensors, keras.layers.HashedCrossing(num_bins=4)(tensors))
    with pytest.raises(Exception):  # noqa: B017
        model([np.ones((2, 1), "float32")] * 2)
    ints = check_loaded(parse_spec(one_layer("HashedCrossing", [[1], [1]], "int32", num_bins=4), Path("ok.yaml")))
    assert ints.summary.record("probe").output_shape == (1,)


# Refused by both while building (the constructor or the layer's build).
REFUSED_BY_BOTH = [
    pytest.param("MultiHeadAttention", [[5, 8], [5, 8]], {"num_heads": 2}, id="no-key-dim"),
    pytest.param("MultiHeadAttention", [[5, 8], [6, 8], [7, 8]], {"num_heads": 2, "key_dim": 4}, id="value-key"),
    pytest.param(
        "GroupQueryAttention",
        [[5, 8], [5, 8]],
        {"head_dim": 2, "num_query_heads": 3, "num_key_value_heads": 2},
        id="gqa",
    ),
    pytest.param(
        "GroupQueryAttention", [[5, 8], [5, 6]], {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 2}
    ),
    pytest.param("Dot", [[4, 6], [5, 7]], {"axes": 2}, id="dot-sizes"),
    pytest.param("EinsumDense", [[5, 32]], {"equation": "abc,ce->abd", "output_shape": [5, 8]}, id="einsum-axis"),
    pytest.param("EinsumDense", [[5, 32]], {"equation": "abc,cd->abd", "output_shape": [6, 8]}, id="einsum-size"),
    pytest.param("EinsumDense", [[5, 32]], {"equation": "abc->abd", "output_shape": [5, 8]}, id="einsum-form"),
]


@pytest.mark.keras
@pytest.mark.parametrize(("type_name", "inputs", "args"), REFUSED_BY_BOTH)
def test_refused_by_both(keras: Any, type_name: str, inputs: Shapes, args: dict[str, Any]) -> None:
    assert FAILS_WHEN_RUN not in refusal(type_name, inputs, **args)
    tensors = [keras.Input(shape=tuple(s)) for s in inputs]
    call = REGISTRY[type_name].model_construct().keras_call
    with pytest.raises((ValueError, TypeError)):
        layer = getattr(keras.layers, type_name)(**args)
        call(layer, tensors) if len(tensors) > 1 else layer(tensors[0])


@pytest.mark.keras
def test_einsum_null_size_the_input_knows(keras: Any) -> None:
    """Keras records the output size as unknown where `output_shape` says null, though the input knows it."""
    from layerspec.layers.einsum import LOSES_KNOWN_SIZE

    args = {"equation": "abc,cd->abd", "output_shape": [None, 4]}
    assert LOSES_KNOWN_SIZE in refusal("EinsumDense", [[3, 8]], **args)
    tensor = keras.Input(shape=(3, 8))
    output = keras.layers.EinsumDense(**args)(tensor)
    assert tuple(output.shape) == (None, None, 4)
    assert tuple(keras.Model(tensor, output)(np.ones((2, 3, 8), "float32")).shape) == (2, 3, 4)
    assert check("EinsumDense", [[None, 8]], **args).summary.record("probe").output_shape == (None, 4)


def test_einsum_trailing_ellipsis_is_refused() -> None:
    """oneDNN's einsum crashes the whole process on `ab...,bc->ac...` for some sizes (a segmentation fault)."""
    from layerspec.layers.convolution import CPU_KERNEL

    message = refusal("EinsumDense", [[10, 14, 1]], equation="ab...,bc->ac...", output_shape=[7])
    assert CPU_KERNEL in message and "name every axis" in message


def test_one_attention_axis_of_many_is_refused() -> None:
    """Scores of rank 6 with a softmax over one axis: oneDNN's softmax stops at rank 5 (found by tests/fuzz)."""
    from layerspec.layers.convolution import CPU_KERNEL

    message = refusal("MultiHeadAttention", [[1, 1, 1, 1]] * 2, num_heads=2, key_dim=3, attention_axes=[2])
    assert CPU_KERNEL in message
    check("MultiHeadAttention", [[2, 3, 4, 5]] * 2, num_heads=2, key_dim=3, attention_axes=[1, 2])
    check("MultiHeadAttention", [[3, 4, 5]] * 2, num_heads=2, key_dim=3, attention_axes=[2])
