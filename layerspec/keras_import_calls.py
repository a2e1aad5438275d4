"""How `layerspec import` reads a layer's call: the tensors it reads, its call arguments, and wrapped layers.

A saved node lists the call's positional tensors (`args`) and its keyword arguments (`kwargs`); each tensor names
the layer and output it comes from (`keras_history`: layer, node, output index), written `NAME` or `NAME[i]`.
Keyword arguments become the spec's `call:` where the type's call schema has them (`initial_state`,
`use_causal_mask`, `return_attention_scores`), and an attention layer's `key` its third input. Two are Keras's
own rather than the model author's, and are dropped only where rebuilding the spec gives the same node:

- `training`: Keras records the default of the layer's `call(training=...)` in every node of a layer whose call
  has one (a Dropout or an LSTM saves `training: false` though nobody wrote it, MobileNet's Dropout included).
  That value is dropped; any other (`Dropout(...)(x, training=True)`, Monte-Carlo dropout) is refused, since a
  spec leaves `training` to Keras.
- `mask`: the mask Keras propagated from an `Embedding(mask_zero=True)` or a `Masking` layer is saved as
  operation nodes (`not_equal`, and `any` for Masking) read as the consumer's `mask=`; rebuilding the spec
  propagates it again, so those nodes and arguments are dropped. Any other mask tensor is refused.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from pydantic.fields import FieldInfo

from layerspec.errors import ModelRefused
from layerspec.layers import REGISTRY, LayerSpec

ATTENTION_KEY = frozenset({"MultiHeadAttention", "GroupQueryAttention"})  # call(query, value, key=None)
NESTED = ("layer", "backward_layer")  # a wrapper's layers, written as nested entries
MASK_OPS = ("NotEqual", "Any")


@dataclass(frozen=True)
class Call:
    """One layer's call as a spec writes it: the references it reads, in order, and its `call:` arguments."""

    sources: list[str]
    call: dict[str, Any]


def ref(history: Any) -> str:
    """`NAME` for a layer's first output, `NAME[i]` for its i-th; a shared layer's k-th call is the share entry
    `NAME_callK` (its first call is the layer's own entry)."""
    name = history[0] if history[1] == 0 else call_name(history[0], history[1])
    return name if history[2] == 0 else f"{name}[{history[2]}]"


def call_name(layer: str, node: int) -> str:
    """The name of the share entry of call `node` (0 the first) of a shared layer."""
    return f"{layer}_call{node + 1}"


def _history(value: Any) -> list[Any] | None:
    history = (value.get("config") or {}).get("keras_history") if isinstance(value, dict) else None
    if not isinstance(history, list) or len(history) != 3 or not isinstance(history[0], str):
        return None
    return history if all(isinstance(i, int) for i in history[1:]) else None


def mask_machinery(items: list[Any]) -> set[str]:
    """The operation nodes that compute a mask Keras propagated from an Embedding(mask_zero) or a Masking layer:
    `not_equal(x, 0)` of an embedding's input x, or `any(not_equal(x, v), axis=-1)` of a Masking's (mask_value v)."""
    layers = [i for i in items if isinstance(i, dict) and i.get("module") == "keras.layers"]
    zero_masked, value_masked = set(), set()
    for item in layers:
        config, source = item.get("config") or {}, _first_source(item)
        if source is None:
            continue
        if item.get("class_name") == "Embedding" and config.get("mask_zero"):
            zero_masked.add(source)
        if item.get("class_name") == "Masking":
            value_masked.add((source, config.get("mask_value", 0.0)))
    found: set[str] = set()
    ops = {i.get("name"): i for i in items if isinstance(i, dict) and i.get("class_name") in MASK_OPS}
    for name, item in ops.items():
        compared = _compared(item, "NotEqual", 2)
        if compared is not None and (
            (compared in zero_masked and _node_args(item)[1] == 0) or ((compared, _node_args(item)[1]) in value_masked)
        ):
            found.add(str(name))
    for name, item in ops.items():
        reduced, config = _compared(item, "Any", 1), item.get("config") or {}
        if reduced in found and config.get("axis") == -1 and not config.get("keepdims"):
            found.add(str(name))
    return found


def _compared(item: dict[str, Any], cls: str, count: int) -> str | None:
    """The reference an operation node of class `cls` with `count` arguments reads first, if it is one."""
    args = _node_args(item)
    history = _history(args[0]) if item.get("class_name") == cls and len(args) == count else None
    return ref(history) if history is not None else None


def _node_args(item: dict[str, Any]) -> list[Any]:
    nodes = item.get("inbound_nodes")
    if not isinstance(nodes, list) or len(nodes) != 1 or not isinstance(nodes[0], dict):
        return []
    args = nodes[0].get("args")
    return args if isinstance(args, list) else []


def _first_source(item: dict[str, Any]) -> str | None:
    args = _node_args(item)
    history = _history(args[0]) if len(args) == 1 else None
    return ref(history) if history is not None else None


class CallReader:
    """Reads each layer's node into a `Call`; `masks` are the mask-computing operation nodes to drop."""

    def __init__(self, where: str, masks: set[str]) -> None:
        self.where = where
        self.masks = masks
        self.later: list[dict[str, Any]] = []  # share entries: the further calls of shared layers

    def read(self, layer: dict[str, Any]) -> Call:
        """The layer's first call; its further calls (a shared layer) are kept as share entries (`share_entries`)."""
        nodes = layer.get("inbound_nodes")
        label = f"layer {layer['name']!r} ({layer['class_name']})"
        if not isinstance(nodes, list) or not nodes or not all(isinstance(n, dict) for n in nodes):
            raise ModelRefused(self.where, f"{label} is never called in the model's graph")
        for index, node in enumerate(nodes[1:], start=1):
            again = self._node(layer, node, label)
            entry: dict[str, Any] = {"share": layer["name"], "name": call_name(layer["name"], index)}
            entry["inputs"] = again.sources[0] if len(again.sources) == 1 else again.sources
            self.later.append(entry | ({"call": again.call} if again.call else {}))
        return self._node(layer, nodes[0], label)

    def share_entries(self, taken: set[str]) -> list[dict[str, Any]]:
        """The further calls of shared layers, after every layer entry (the graph orders them)."""
        for entry in self.later:
            if entry["name"] in taken:
                raise ModelRefused(
                    self.where,
                    f"layer {entry['share']!r} is called again, and that call's name {entry['name']!r} is taken by "
                    "another layer: rename that layer to import the model",
                )
        return self.later

    def _node(self, layer: dict[str, Any], node: dict[str, Any], label: str) -> Call:
        args, kwargs = node.get("args") or [], node.get("kwargs") or {}
        tensors = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        sources = [self._tensor(t, label) for t in tensors]
        call: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key == "key" and layer["class_name"] in ATTENTION_KEY and value is not None:
                sources.append(self._tensor(value, label))
            else:
                self._keyword(layer, label, key, value, call)
        return Call(sources, call)

    def _tensor(self, value: Any, label: str) -> str:
        history = _history(value)
        if history is None:
            raise ModelRefused(self.where, f"{label} reads something that is not a layer's output: {value!r:.80}")
        return ref(history)

    def _keyword(self, layer: dict[str, Any], label: str, key: str, value: Any, call: dict[str, Any]) -> None:
        if key == "training":
            if value is not None and value != training_default(layer["class_name"]):
                raise ModelRefused(
                    self.where,
                    f"{label} is called with training={value!r}: a spec leaves `training` to Keras (fit trains, "
                    "predict infers), so it cannot write a layer fixed in one mode",
                )
            return
        if key == "mask":
            history = _history(value)
            if value is not None and (history is None or history[0] not in self.masks):
                raise ModelRefused(
                    self.where,
                    f"{label} is called with a mask that no Embedding(mask_zero) or Masking layer makes: a spec "
                    "passes only the masks Keras propagates",
                )
            return
        if value is None:
            return
        fields = call_fields(layer["class_name"])
        if key not in fields:
            raise ModelRefused(
                self.where,
                f"{label} is called with {key}={value!r:.80}, a call argument layerspec's {layer['class_name']} "
                f"does not take (it takes {', '.join(sorted(fields)) or 'none'})",
            )
        tensors = value if isinstance(value, list) else [value]
        if fields[key]:
            refs = [self._tensor(t, label) for t in tensors]
            call[key] = refs if isinstance(value, list) else refs[0]
        elif value != _call_default(layer["class_name"], key):
            call[key] = value


def call_fields(cls: str) -> dict[str, bool]:
    """The `call:` arguments of a registry type, each with whether it names tensors."""
    model = REGISTRY[cls].call_schema()
    return {name: name in model.tensor_fields for name in model.model_fields}


def _call_default(cls: str, key: str) -> Any:
    fields = REGISTRY[cls].call_schema().model_fields
    return fields[key].default if key in fields else None


def training_default(cls: str) -> Any:
    """The default of `training` in the Keras class's `call` signature (read from Keras's own class, which the
    registry names; nothing the model file names is imported)."""
    from layerspec.compile import keras_module

    parameter = inspect.signature(getattr(keras_module().layers, cls).call).parameters.get("training")
    return None if parameter is None else parameter.default


def strip_wrapper_names(layer: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """A Bidirectional as a person writes it: Keras saves its layer renamed `forward_NAME` and the backward copy it
    made itself (`backward_NAME`, go_backwards); the spec names the layer NAME and leaves the copy to Keras."""
    if layer["class_name"] != "Bidirectional" or "layer" not in entry:
        return entry
    base = str(entry["layer"].get("name", "")).removeprefix("forward_")
    forward = {**entry["layer"], "name": base}
    made = {**forward, "go_backwards": True, "name": f"backward_{base.removeprefix('backward_')}"}
    backward = entry.get("backward_layer")
    entry = {**entry, "layer": forward}
    if backward == made:
        entry.pop("backward_layer")
    return entry


# Config keys of sequence layers the schema does not have, with the value that means Keras's default behaviour.
UNWRITTEN = {"zero_output_for_mask": False, "rms_scaling": False}


def without_keras_own(layer: dict[str, Any], wrapper: str | None = None) -> dict[str, Any]:
    """The layer's config without the UNWRITTEN keys where they hold Keras's value: their default, and within a
    Bidirectional `zero_output_for_mask` equal to the layer's `return_sequences` (the wrapper sets it so)."""
    config = layer.get("config") or {}
    own = dict(UNWRITTEN)
    if wrapper == "Bidirectional":
        own["zero_output_for_mask"] = bool(config.get("return_sequences", False))
    dropped = [k for k, v in own.items() if k in config and config[k] == v]
    if not dropped:
        return layer
    return {**layer, "config": {k: v for k, v in config.items() if k not in dropped}}


def schema_field(cls: type[LayerSpec], key: str) -> FieldInfo | None:
    """The registry field of Keras's argument `key`: by its name, or by its alias where the name clashes with a
    LayerSpec method (MultiHeadAttention's `output_shape`)."""
    field = cls.model_fields.get(key)
    if field is not None:
        return field
    return next((f for f in cls.model_fields.values() if f.alias == key), None)
