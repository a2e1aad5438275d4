"""The Keras side of the differential tests, written independently of layerspec's compiler.

`keras_figures(spec)` reads the plain spec dict (the same one written to YAML) and builds the model with
`keras.Input` and `keras.layers.<type>(**arguments)` calls, wiring inputs by name as the spec format documents.
It returns each layer entry's output shape and parameter counts as Keras reports them, or raises KerasRefused
when Keras will not build it. Nothing from layerspec is imported here, so a shared mistake cannot hide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_built = 0


class KerasRefused(Exception):
    """Keras raised while building the model; the message is Keras's own."""


@dataclass(frozen=True)
class Figures:
    shape: tuple[int | None, ...]  # without the batch axis
    trainable: int
    non_trainable: int


def _keras() -> Any:
    import keras

    return keras


def _tuples(value: Any) -> Any:
    """Lists as tuples, the way Keras users usually write kernel sizes, paddings and shapes."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _count(variables: list[Any]) -> int:
    return sum(math.prod(int(d) for d in v.shape) for v in variables)


def keras_figures(spec: dict[str, Any]) -> tuple[list[Figures], int]:
    """Per layer entry (in spec order): shape and counts; plus the model's count_params()."""
    global _built
    keras = _keras()
    _built += 1
    if _built % 50 == 0:
        keras.backend.clear_session()
    try:
        return _build(keras, spec)
    except Exception as exc:  # Keras signals a bad model with many exception types
        raise KerasRefused(f"{type(exc).__name__}: {exc}") from exc


def _build(keras: Any, spec: dict[str, Any]) -> tuple[list[Figures], int]:
    entries = [spec["input"]] if "input" in spec else spec["inputs"]
    tensors: dict[str, Any] = {}
    model_inputs = []
    for i, entry in enumerate(entries):
        name = entry.get("name") or ("input" if i == 0 else f"input_{i}")
        tensor = keras.Input(shape=_tuples(entry["shape"]), name=name, dtype=entry.get("dtype", "float32"))
        tensors[name] = tensor
        model_inputs.append(tensor)
    previous = next(iter(tensors))
    figures, outputs = [], []
    for k, entry in enumerate(spec["layers"]):
        refs = entry.get("inputs", previous)
        refs_list = [refs] if isinstance(refs, str) else list(refs)
        layer = _layer(keras, entry)
        args_in = [_ref(tensors, r) for r in refs_list]
        out = _call(layer, entry["type"], args_in, _call_kwargs(tensors, entry))
        # A layer of several outputs (an RNN with return_state): the spec's NAME is the first, NAME[i] the i-th.
        every = list(out) if isinstance(out, (list, tuple)) else [out]
        out = every[0]
        key = entry.get("name", f"#{k}")
        tensors[key] = every
        previous = key
        outputs.append((key, out))
        figures.append(
            Figures(tuple(out.shape[1:]), _count(layer.trainable_weights), _count(layer.non_trainable_weights))
        )
    wanted = spec.get("outputs", [outputs[-1][0]])
    wanted = [wanted] if isinstance(wanted, str) else wanted
    out_tensors = [_ref(tensors, w) for w in wanted]
    model = keras.Model(
        inputs=model_inputs[0] if len(model_inputs) == 1 else model_inputs,
        outputs=out_tensors[0] if len(out_tensors) == 1 else out_tensors,
    )
    _last_model[:] = [model]
    return figures, int(model.count_params())


# The model most recently built, for run_model (kept out of the return value so callers stay simple).
_last_model: list[Any] = []


def run_model(spec: dict[str, Any], training: bool) -> list[tuple[int, ...]]:
    """Run the last built model once on a batch of two random examples (unknown sizes set to 7); the shapes of
    its outputs. Keras checks some arguments only here (a Softmax axis, an augmentation on a non-image)."""
    import numpy as np

    entries = [spec["input"]] if "input" in spec else spec["inputs"]
    rng = np.random.default_rng(0)
    arrays = []
    for entry in entries:
        shape = (2, *(7 if d is None else d for d in entry["shape"]))
        dtype = entry.get("dtype", "float32")
        arrays.append((rng.random(shape) * 4).astype("float32" if dtype == "bfloat16" else dtype))
    try:
        outputs = _last_model[0](arrays[0] if len(arrays) == 1 else arrays, training=training)
    except Exception as exc:
        raise KerasRefused(f"{type(exc).__name__} when run: {exc}") from exc
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return [tuple(int(d) for d in out.shape) for out in outputs]


def _ref(tensors: dict[str, Any], ref: str) -> Any:
    """`NAME` (a layer's first output, or a model input) or `NAME[i]` (its i-th output)."""
    name, _, index = ref.partition("[")
    value = tensors[name]
    if not isinstance(value, list):
        return value
    return value[int(index.rstrip("]"))] if index else value[0]


def _call_kwargs(tensors: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The entry's `call:` arguments; a value that names layers (`enc[1]`, or a list of such names) passes their
    tensors, as the spec format documents for `initial_state`."""
    kwargs = {}
    for key, value in entry.get("call", {}).items():
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else None
        if names and all(isinstance(n, str) and n.partition("[")[0] in tensors for n in names):
            kwargs[key] = _ref(tensors, value) if isinstance(value, str) else [_ref(tensors, n) for n in names]
        else:
            kwargs[key] = _tuples(value)
    return kwargs


def _layer(keras: Any, entry: dict[str, Any]) -> Any:
    """`keras.layers.<type>(**arguments)`; a wrapper's nested `layer` (and `backward_layer`) built first, and an
    initializer or regularizer written as a mapping built as its Keras object."""
    args = {key: _tuples(v) for key, v in entry.items() if key not in ("type", "inputs", "call")}
    for key in ("layer", "backward_layer"):
        if isinstance(entry.get(key), dict):
            args[key] = _layer(keras, entry[key])
    for key, value in entry.items():
        if key.endswith(("_initializer", "_regularizer")) and isinstance(value, dict):
            args[key] = _keras_object(keras, "initializers" if key.endswith("_initializer") else "regularizers", value)
    return getattr(keras.layers, entry["type"])(**args)


def _keras_object(keras: Any, module_name: str, mapping: dict[str, Any]) -> Any:
    """The class of keras.<module> whose name is the mapping's `type` without underscores (`variance_scaling`:
    VarianceScaling, `l1l2`: L1L2), called with the other keys."""
    module = getattr(keras, module_name)
    wanted = mapping["type"].replace("_", "").lower()
    (cls,) = {getattr(module, n) for n in dir(module) if n.lower() == wanted and isinstance(getattr(module, n), type)}
    return cls(**{k: v for k, v in mapping.items() if k != "type"})


def keras_names(spec: dict[str, Any]) -> list[str] | None:
    """The names Keras gives the layers of a sequential spec without names, in a fresh session (None if Keras
    refuses it). Clearing the session is slow, so this is used on a few specs only."""
    keras = _keras()
    keras.backend.clear_session()
    entry = spec["input"] if "input" in spec else spec["inputs"][0]
    tensor = keras.Input(shape=_tuples(entry["shape"]), name=entry.get("name") or "input")
    names = []
    try:
        for layer_entry in spec["layers"]:
            layer = _layer(keras, layer_entry)
            tensor = _call(layer, layer_entry["type"], [tensor], _call_kwargs({}, layer_entry))
            tensor = tensor[0] if isinstance(tensor, (list, tuple)) else tensor
            names.append(str(layer.name))
    except Exception:
        return None
    return names


# How Keras's `call` takes several inputs: a list (merges, Attention, Dot, HashedCrossing), or separate positional
# tensors (query, value, key).
_MERGE_TYPES = {
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "Attention",
    "AdditiveAttention", "HashedCrossing",
}  # fmt: skip
_SEPARATE_INPUTS = {"MultiHeadAttention", "GroupQueryAttention"}


def _call(layer: Any, type_name: str, tensors: list[Any], call: dict[str, Any]) -> Any:
    if type_name in _SEPARATE_INPUTS:
        return layer(*tensors, **call)
    return layer(tensors if type_name in _MERGE_TYPES else tensors[0], **call)
