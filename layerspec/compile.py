"""The compile stage: turn a checked spec into a Keras functional model (imports TensorFlow)."""

from __future__ import annotations

from typing import Any

from layerspec.check import Checked
from layerspec.graph import Node


def keras_module() -> Any:
    """Import Keras with TensorFlow's start-up chatter turned down."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def compile_model(checked: Checked) -> Any:
    """A `keras.Model` with one Keras layer per spec entry, names kept and the graph wired as written."""
    keras = keras_module()
    tensors: dict[str, Any] = {}
    for node in checked.graph.nodes:
        tensors[node.name] = _apply(keras, node, tensors)
    graph = checked.graph
    inputs = [tensors[n.name] for n in graph.input_nodes]
    outputs = [tensors[name] for name in graph.outputs]
    return keras.Model(
        inputs=inputs[0] if len(inputs) == 1 else inputs,
        outputs=outputs[0] if len(outputs) == 1 else outputs,
        name=checked.loaded.spec.name,
    )


def _apply(keras: Any, node: Node, tensors: dict[str, Any]) -> Any:
    if node.layer is None:
        assert node.input_spec is not None
        spec = node.input_spec
        return keras.Input(shape=tuple(spec.shape), name=node.name, dtype=spec.dtype)
    layer_class = getattr(keras.layers, node.layer.type)
    layer = layer_class(**node.layer.keras_arguments())
    args = [tensors[ref] for ref in node.inputs]
    # Merge layers take a list even of one tensor; every other layer takes its single input.
    return layer(args if node.layer.max_inputs != 1 else args[0])
