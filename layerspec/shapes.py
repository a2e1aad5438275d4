"""The shapes stage: every layer's output shape, weights and MACs, inferred without TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from layerspec.errors import Diagnostic, SpecError
from layerspec.graph import Graph, Node
from layerspec.layers import Shape, ShapeError, Weight, format_shape
from layerspec.layers.base import INPUT, Family


@dataclass(frozen=True)
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

    # Cached, as the record is frozen: the table and the totals read them several times per layer.
    @cached_property
    def params(self) -> int:
        return sum(w.size for w in self.weights)

    @cached_property
    def trainable_params(self) -> int:
        return sum(w.size for w in self.weights if w.trainable)

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    def to_json(self) -> dict[str, Any]:
        """One entry of `check --json`'s `layers`: exactly these keys (a contract, issue 2)."""
        return {
            "name": self.name,
            "type": self.type,
            "inputs": list(self.inputs),
            "output_shape": [None, *self.output_shape],
            "params": self.params,
            "trainable_params": self.trainable_params,
            "macs": self.macs,
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
        return sum(r.non_trainable_params for r in self.layers)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @cached_property
    def _by_name(self) -> dict[str, LayerRecord]:
        return {r.name: r for r in self.layers}

    def record(self, name: str) -> LayerRecord:
        """The record of layer (or input) `name`; KeyError if the model has none."""
        return self._by_name[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "inputs": [{"name": n, "shape": [None, *self.record(n).output_shape]} for n in self.inputs],
            "outputs": [{"name": n, "shape": [None, *self.record(n).output_shape]} for n in self.outputs],
            "layers": [r.to_json() for r in self.layers],
        }


def infer(graph: Graph) -> ModelSummary:
    """Infer every node in order; a failed node's readers are skipped so each error is reported once."""
    shapes: dict[str, Shape] = {}
    records: list[LayerRecord] = []
    errors: list[Diagnostic] = []
    for node in graph.nodes:
        if any(ref not in shapes for ref in node.inputs):
            continue
        try:
            record = _infer_node(node, [shapes[r] for r in node.inputs])
        except ShapeError as exc:
            errors.append(_shape_diagnostic(graph, node, exc, [shapes[r] for r in node.inputs]))
            continue
        shapes[node.name] = record.output_shape
        records.append(record)
    if errors:
        raise SpecError(errors)
    return ModelSummary(
        graph.loaded.spec.name,
        tuple(records),
        tuple(n.name for n in graph.input_nodes),
        tuple(graph.outputs),
    )


def _infer_node(node: Node, inputs: list[Shape]) -> LayerRecord:
    if node.layer is None:
        assert node.input_spec is not None
        shape = tuple(node.input_spec.shape)
        return LayerRecord(node.name, "InputLayer", (), shape, (), 0, INPUT)
    layer = node.layer
    output = layer.output_shape(inputs)
    weights = tuple(layer.weights(inputs))
    macs = layer.macs(inputs, output)
    return LayerRecord(node.name, layer.type, node.inputs, output, weights, macs, layer.family, node.block)


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
        path = node.origin.field_path(exc.field) if node.origin is not None else (*node.path, exc.field)
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
        actual_shape = summary.record(summary.outputs[0]).output_shape
        if tuple(expect.output_shape) != actual_shape:
            mismatch("output_shape", format_shape(expect.output_shape), format_shape(actual_shape))
    if expect.max_params is not None and summary.params > expect.max_params:
        mismatch("max_params", f"at most {expect.max_params:,}", f"{summary.params:,}", "allowed")
    if expect.max_macs is not None and summary.macs > expect.max_macs:
        mismatch("max_macs", f"at most {expect.max_macs:,}", f"{summary.macs:,}", "allowed")
    if errors:
        raise SpecError(errors)
