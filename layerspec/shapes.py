"""The shapes stage: every layer's output shape, weights and MACs, inferred without TensorFlow."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from layerspec.errors import Diagnostic, SpecError
from layerspec.graph import Graph, Node
from layerspec.layers import Shape, ShapeError, Weight, format_shape
from layerspec.layers.base import INPUT, Family, split_ref
from layerspec.receptive import UNKNOWN, ReceptiveField, input_field, largest, layer_field


# Not frozen (treat it as read-only): one is made per layer, and a frozen dataclass's __init__ costs several
# times more (a 60,000-layer spec spends a tenth of a second more in them). Slots: no dict per instance,
# so less memory to fill and a faster __init__.
@dataclass(slots=True)
class LayerRecord:
    """What one node of the model is: the figures `check` prints and `build` proves."""

    name: str
    type: str
    inputs: tuple[str, ...]
    output_shape: Shape
    weights: tuple[Weight, ...]
    macs: int
    family: Family
    block: str | None = None
    field: ReceptiveField = UNKNOWN
    # Every output's shape, the first being `output_shape`; set from it for a layer of one output.
    output_shapes: tuple[Shape, ...] = ()
    # References among the call arguments (an RNN's initial state): drawn, but not in `check --json`'s `inputs`.
    call_inputs: tuple[str, ...] = ()
    # For another call of a shared layer (`share: NAME`): NAME, whose record holds the weights.
    shares: str | None = None
    # Counted once from `weights`: the table, the totals and the memory estimate read them
    # for every layer, and a cached_property costs more than the sum of a layer's few weights.
    params: int = dataclasses.field(init=False, repr=False, compare=False)
    trainable_params: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.output_shapes or self.output_shapes[0] != self.output_shape:
            self.output_shapes = (self.output_shape, *self.output_shapes[1:])
        weights = self.weights
        self.params = sum(w.size for w in weights) if weights else 0
        self.trainable_params = sum(w.size for w in weights if w.trainable) if weights else 0

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    def to_json(self) -> dict[str, Any]:
        """One entry of `check --json`'s `layers`: exactly these keys (a contract; `output_shapes` lists every output,
        `output_shape` is the first)."""
        return {
            "name": self.name,
            "type": self.type,
            "inputs": list(self.inputs),
            "output_shape": [None, *self.output_shape],
            "output_shapes": [[None, *shape] for shape in self.output_shapes],
            "params": self.params,
            "trainable_params": self.trainable_params,
            "macs": self.macs,
            "receptive_field": self.field.sizes(),
            "effective_stride": self.field.strides(),
        }


@dataclass(frozen=True)
class ModelSummary:
    name: str
    layers: tuple[LayerRecord, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @cached_property
    def params(self) -> int:
        return sum(r.params for r in self.layers)

    @cached_property
    def trainable_params(self) -> int:
        return sum(r.trainable_params for r in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params  # the sum of each layer's difference

    @cached_property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @cached_property
    def _by_name(self) -> dict[str, LayerRecord]:
        return {r.name: r for r in self.layers}

    def record(self, name: str) -> LayerRecord:
        """The record of layer (or input) `name`; KeyError if the model has none."""
        return self._by_name[name]

    def output_shape_of(self, ref: str) -> Shape:
        """The shape of output `NAME` or `NAME[i]` (the i-th output of a layer with several)."""
        name, index = split_ref(ref)
        return self.record(name).output_shapes[index]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "inputs": [{"name": n, "shape": [None, *self.record(n).output_shape]} for n in self.inputs],
            "outputs": [{"name": n, "shape": [None, *self.output_shape_of(n)]} for n in self.outputs],
            "layers": [r.to_json() for r in self.layers],
        }


def infer(graph: Graph) -> ModelSummary:
    """Infer every node in order; a failed node's readers are skipped so each error is reported once."""
    shapes: dict[str, tuple[Shape, ...]] = {}
    fields: dict[str, ReceptiveField] = {}
    records: list[LayerRecord] = []
    weights: dict[str, tuple[Weight, ...]] = {}
    errors: list[Diagnostic] = []
    for node in graph.nodes:
        refs = node.inputs
        if node.plain:  # most layers: one name, its first output
            if refs[0] not in shapes:
                continue
            inputs, read = [shapes[refs[0]][0]], [fields[refs[0]]]
        else:
            if any(name not in shapes for name in node.sources):
                continue
            split = [split_ref(ref) for ref in refs]
            inputs, read = [shapes[name][index] for name, index in split], [fields[name] for name, _ in split]
        try:
            record = _infer_node(node, inputs, shapes, read)
            if node.shares is not None:
                record = _another_call(node, record, weights[node.shares])
        except ShapeError as exc:
            errors.append(_shape_diagnostic(graph, node, exc, inputs))
            continue
        shapes[node.name] = record.output_shapes
        weights[node.name] = record.weights
        fields[node.name] = record.field
        records.append(record)
    if errors:
        raise SpecError(errors)
    return ModelSummary(
        graph.loaded.spec.name,
        tuple(records),
        tuple(n.name for n in graph.input_nodes),
        tuple(graph.outputs),
    )


def _shape_of(ref: str, shapes: dict[str, tuple[Shape, ...]]) -> Shape:
    """The shape `NAME` or `NAME[i]` refers to (the graph checked that the output exists)."""
    name, index = split_ref(ref)
    return shapes[name][index]


def _another_call(node: Node, record: LayerRecord, shared: tuple[Weight, ...]) -> LayerRecord:
    """Another call of a shared layer: its weights are the layer's, so they must fit, and are not counted again."""
    wanted, made = [w.shape for w in record.weights], [w.shape for w in shared]
    if wanted != made:
        raise ShapeError(
            f"calls '{node.shares}' again on inputs its weights do not fit: this call needs weights of shapes "
            f"{wanted}, '{node.shares}' made {made} (Keras refuses such a call): give it inputs of the same sizes",
            "share",
        )
    return dataclasses.replace(record, weights=(), shares=node.shares)


def _infer_node(
    node: Node, inputs: list[Shape], shapes: dict[str, tuple[Shape, ...]], fields: list[ReceptiveField]
) -> LayerRecord:
    if node.layer is None:
        assert node.input_spec is not None
        shape = tuple(node.input_spec.shape)
        return LayerRecord(node.name, "InputLayer", (), shape, (), 0, INPUT, field=input_field(shape))
    layer = node.layer
    if layer.call is not None:
        tensors = {arg: [_shape_of(r, shapes) for r in refs] for arg, refs in layer.call.tensor_refs().items()}
        layer.check_call(inputs, tensors)
    outputs = tuple(layer.output_shapes(inputs))
    weights = tuple(layer.weights(inputs))
    macs = layer.macs(inputs, outputs[0])
    field = layer_field(layer, inputs, outputs[0], fields)
    origin = node.origin  # `node.block` written out: a property call per layer
    return LayerRecord(
        node.name,
        layer.type,
        node.inputs,
        outputs[0],
        weights,
        macs,
        layer.family,
        origin.block if origin is not None else None,
        field,
        output_shapes=outputs,
        call_inputs=node.call_refs,
    )


def _shape_diagnostic(graph: Graph, node: Node, exc: ShapeError, inputs: list[Shape]) -> Diagnostic:
    message = f"{node.label()}: {exc}"
    if exc.clash is not None:
        (a, b) = exc.clash
        message += (
            f": '{node.inputs[a]}' has shape {format_shape(inputs[a])} "
            f"but '{node.inputs[b]}' has shape {format_shape(inputs[b])}"
        )
    elif "received" not in str(exc) or len(inputs) > 1:
        received = ", ".join(f"'{ref}' {format_shape(s)}" for ref, s in zip(node.inputs, inputs, strict=True))
        message += f" (input{'s' if len(inputs) > 1 else ''}: {received})"
    if exc.field is None:
        path = node.path
    else:
        # A nested layer's argument is a dotted path: `layer.kernel_size` inside a wrapper.
        first, *rest = exc.field.split(".")
        top = node.origin.field_path(first) if node.origin is not None else (*node.path, first)
        path = (*top, *rest)
    return graph.loaded.source.diagnostic(path, message, key=exc.field is not None)


def check_expectations(graph: Graph, summary: ModelSummary) -> None:
    """Compare the spec's `expect:` figures with `summary`; every mismatch is one error."""
    expect = graph.loaded.spec.expect
    if expect is None:
        return
    errors: list[Diagnostic] = []

    def mismatch(key: str, expected: Any, actual: Any, how: str = "expected") -> None:
        errors.append(
            graph.loaded.source.diagnostic(
                ("expect", key), f"expect.{key}: {how} {expected}, but the model has {actual}"
            )
        )

    exact = {
        "params": summary.params,
        "trainable_params": summary.trainable_params,
        "non_trainable_params": summary.non_trainable_params,
    }
    for key, actual in exact.items():
        expected = getattr(expect, key)
        if expected is not None and expected != actual:
            mismatch(key, f"{expected:,}", f"{actual:,}")
    if expect.output_shape is not None:
        actual_shape = summary.output_shape_of(summary.outputs[0])
        if tuple(expect.output_shape) != actual_shape:
            mismatch("output_shape", format_shape(expect.output_shape), format_shape(actual_shape))
    if expect.max_params is not None and summary.params > expect.max_params:
        mismatch("max_params", f"at most {expect.max_params:,}", f"{summary.params:,}", "allowed")
    if expect.max_macs is not None and summary.macs > expect.max_macs:
        mismatch("max_macs", f"at most {expect.max_macs:,}", f"{summary.macs:,}", "allowed")
    if expect.min_receptive_field is not None:
        problem = field_shortfall(summary, expect.min_receptive_field)
        if problem is not None:
            errors.append(graph.loaded.source.diagnostic(("expect", "min_receptive_field"), problem))
    if errors:
        raise SpecError(errors)


def field_shortfall(summary: ModelSummary, minimum: int | list[int]) -> str | None:
    """Why the model's largest receptive field falls short of `expect.min_receptive_field`, or None if it does not.
    A layer whose positions each read the whole input ("all") meets any minimum."""
    key = "expect.min_receptive_field"
    if any(r.field.kind == "global" for r in summary.layers):
        return None
    found = largest([(r.name, r.field) for r in summary.layers])
    sizes = [] if found is None else found[1].sizes() or []
    wanted = [minimum] * len(sizes) if isinstance(minimum, int) else list(minimum)
    if found is not None and all(s >= w for s, w in zip(sizes, wanted, strict=True)) and len(wanted) == len(sizes):
        return None
    # A layer without a rule may be where the field would have grown large enough.
    unknown = [r for r in summary.layers if r.field.kind == "unknown"]
    if unknown or found is None:
        why = (
            f"layer '{unknown[0].name}' ({unknown[0].type}) has no receptive-field rule"
            if unknown
            else ("no layer has spatial axes")
        )
        return f"{key}: cannot be checked: {why}; remove the expectation"
    name, field = found
    if len(wanted) != len(sizes):
        return f"{key}: received {len(wanted)} sizes, but the model's fields have {len(sizes)} spatial axes"
    want = "x".join(map(str, wanted))
    return (
        f"{key}: expected at least {want}, but the largest receptive field is {field.label()} (layer '{name}'): "
        "add layers, strides, pooling or dilation, or lower the expectation"
    )
