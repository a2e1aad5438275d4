"""Memory estimates from the static summary: weights, gradients, optimizer state, and the activations alive at the
peak of a training step.

A training step holds the weights (float32 variables, also under mixed precision), one gradient per trainable
weight (all of them alive at the end of the backward pass, when the optimizer applies them), the optimizer's slots
(Adam and AdamW two per weight, SGD with momentum one, RMSprop one plus one with momentum), a second copy of the
trainable weights for the moving average (`use_ema`), under mixed precision a copy of the trainable weights in the
compute dtype (layers cast them for every call, and the gradient for a layer's input reads the cast kernel), and
the activations. Which activations the backward pass keeps follows from the gradients
(layerspec/memory_rules.py), and how long each stays alive from the order in which a step runs
(layerspec/memory_trace.py): the estimate counts the activations and activation gradients alive at the step's
peak, for the whole batch, each in the compute dtype of the policy (the batch in its own). tests/bench/
bench_memory.py holds this against TensorFlow's allocator; docs/benchmarks.md has the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from layerspec.layers import LayerSpec
from layerspec.layers.base import split_ref
from layerspec.memory_rules import (
    CELL_STATES,
    IN_PLACE_FAMILIES,
    VIEWS,
    Needs,
    elements,
    loop_gradient_bytes,
    needs,
)
from layerspec.memory_trace import Node, peak
from layerspec.shapes import LayerRecord, ModelSummary
from layerspec.spec.train import TrainSpec

VARIABLE_BYTES = 4  # variables stay float32 under mixed precision
DTYPE_BYTES = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int32": 4, "int64": 8, "uint8": 1, "bool": 1}


# Not frozen (treat it as read-only): one is made per layer, and a frozen dataclass's __init__ costs several
# times more (a 60,000-layer spec spends a tenth of a second more in them). Slots: no dict per instance,
# so less memory to fill and a faster __init__.
@dataclass(slots=True)
class LayerMemory:
    name: str
    # One example's output, in the compute dtype; None when a dimension is unknown.
    activation_bytes: int | None
    # What the backward pass keeps of it and of the layer's own (a mask, the value before an activation).
    kept_bytes: int | None


@dataclass(frozen=True)
class MemoryEstimate:
    compute_dtype: str
    batch_size: int
    optimizer: str
    layers: tuple[LayerMemory, ...]
    parameter_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    ema_bytes: int
    # The trainable weights cast to the compute dtype (mixed precision only).
    cast_bytes: int
    # Per example: every kept activation, and the activations and their gradients alive at the peak of a step
    # (with the batch itself); None when a size is unknown.
    activations_per_example: int | None
    peak_per_example: int | None
    peak_at: str | None
    # The largest recurrent loop's per-step weight gradients (layerspec/memory_rules.py), which do not grow with
    # the batch. Loops' gradients run one layer after another, so only the largest counts; it is added to the
    # peak as if it fell there (an upper bound: it falls in that layer's gradient).
    loop_gradient_bytes: int = 0

    @property
    def activation_bytes(self) -> int | None:
        """Activations and activation gradients alive at the step's peak, for the whole batch."""
        return None if self.peak_per_example is None else self.batch_size * self.peak_per_example

    @property
    def total_bytes(self) -> int | None:
        if self.activation_bytes is None:
            return None
        weights = self.parameter_bytes + self.gradient_bytes + self.optimizer_bytes + self.ema_bytes + self.cast_bytes
        return weights + self.activation_bytes + self.loop_gradient_bytes

    def to_json(self) -> dict[str, object]:
        """`check --json`'s `memory` object."""
        return {
            "compute_dtype": self.compute_dtype,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "parameter_bytes": self.parameter_bytes,
            "gradient_bytes": self.gradient_bytes,
            "optimizer_bytes": self.optimizer_bytes,
            "ema_bytes": self.ema_bytes,
            "cast_bytes": self.cast_bytes,
            "activations_per_example_bytes": self.activations_per_example,
            "peak_per_example_bytes": self.peak_per_example,
            "peak_at": self.peak_at,
            "activation_bytes": self.activation_bytes,
            "loop_gradient_bytes": self.loop_gradient_bytes,
            "total_bytes": self.total_bytes,
            "layers": [
                {"name": m.name, "activation_bytes": m.activation_bytes, "kept_bytes": m.kept_bytes}
                for m in self.layers
            ],
        }


def compute_dtype(train: TrainSpec) -> str:
    """The policy's compute dtype; `auto` depends on the machine that trains, so it is counted as float32 (the
    larger, so the estimate errs on the safe side)."""
    return "float32" if train.mixed_precision == "auto" else train.mixed_precision


def optimizer_slots(train: TrainSpec) -> int:
    """Variables the optimizer keeps per trainable weight."""
    spec = train.optimizer
    if spec.type in ("adam", "adamw"):
        return 2
    if spec.type == "rmsprop":
        return 1 + (spec.momentum > 0)
    return int(spec.momentum > 0)


def fused_batchnorm(layer: LayerSpec, rank: int, train: TrainSpec) -> bool:
    """Whether training runs this BatchNormalization as TensorFlow's fused kernel (layerspec/fused.py)."""
    if layer.type != "BatchNormalization":
        return False
    # Fields read from the instance's dict: a missing attribute costs pydantic a slow lookup, for every layer.
    values = layer.__dict__
    axis = values.get("axis", -1)
    plain = not values.get("renorm", False) and not values.get("synchronized", False)
    return train.fused_batchnorm and plain and axis in (-1, rank)


def _node(
    record: LayerRecord,
    layer: LayerSpec | None,
    shapes: Mapping[str, LayerRecord],
    dtype: int,
    train: TrainSpec,
    input_bytes: int,
) -> Node | None:
    """The timeline's view of one layer; None when its output's size is unknown."""
    shape = record.output_shape
    if None in shape:
        return None
    count = math.prod(shape)  # type: ignore[arg-type]  # no None left
    if layer is None:
        return Node(record.name, record.inputs, count * input_bytes, model_input=True)
    # `enc[1]` (another output of a layer) is read as the layer: one node of the timeline. The join skips the
    # per-name walk for the common case of plain names (none holds a "]").
    sources = record.inputs
    if "]" in "".join(sources):
        sources = tuple(name if not name.endswith("]") else split_ref(name)[0] for name in sources)
    inputs = [shapes[name].output_shape for name in sources]
    kind = layer.type
    fused = kind == "BatchNormalization" and fused_batchnorm(layer, len(shape), train)
    found = needs(record, layer, inputs, fused, count)
    scaled = (
        found
        if not (found.extra or found.scratch)
        else Needs(found.inputs, found.output, found.extra * dtype, found.scratch * dtype)
    )
    view = kind in VIEWS
    # `in_place` written out: one call fewer per layer.
    overwrites = (layer.family.name in IN_PLACE_FAMILIES and kind != "Softmax") or kind == "Rescaling"
    return Node(
        record.name, sources, 0 if view else count * dtype, scaled, record.trainable_params > 0, view, False, overwrites
    )


def _output_bytes(record: LayerRecord, node: Node | None, dtype: int) -> int | None:
    """One example's output (a view's too, though it shares its input's buffer)."""
    if node is None:
        return None
    if not node.view:
        return node.size
    return (elements(record.output_shape) or 0) * dtype


def estimate(
    summary: ModelSummary,
    layers: Mapping[str, LayerSpec],
    train: TrainSpec,
    batch_size: int | None = None,
    input_dtypes: Mapping[str, str] | None = None,
) -> MemoryEstimate:
    """The memory of training `summary` with `train`'s recipe; `layers` maps names to their specs (inputs absent)."""
    dtype = compute_dtype(train)
    shapes = {record.name: record for record in summary.layers}
    size, dtypes, get_layer = DTYPE_BYTES[dtype], input_dtypes or {}, layers.get
    nodes = [
        _node(record, get_layer(record.name), shapes, size, train, DTYPE_BYTES[dtypes.get(record.name, "float32")])
        for record in summary.layers
    ]
    known = [node for node in nodes if node is not None]
    # A layer's several outputs are one node of the timeline: `enc[1]` is read as `enc`.
    outputs = [split_ref(name)[0] for name in summary.outputs]
    found = peak(known, outputs) if len(known) == len(nodes) else None
    kept = {} if found is None else found.kept
    per_layer = tuple(
        LayerMemory(
            r.name,
            # `_output_bytes` written out for the commonest case, a node that is no view.
            None if node is None else node.size if not node.view else _output_bytes(r, node, size),
            None if found is None else kept[r.name],
        )
        for r, node in zip(summary.layers, nodes, strict=True)
    )
    trainable = summary.trainable_params * VARIABLE_BYTES
    return MemoryEstimate(
        compute_dtype=dtype,
        batch_size=train.batch_size if batch_size is None else batch_size,
        optimizer=train.optimizer.type,
        layers=per_layer,
        parameter_bytes=summary.params * VARIABLE_BYTES,
        gradient_bytes=trainable,
        optimizer_bytes=trainable * optimizer_slots(train),
        ema_bytes=trainable if train.optimizer.use_ema else 0,
        cast_bytes=0 if dtype == "float32" else summary.trainable_params * DTYPE_BYTES[dtype],
        activations_per_example=None if found is None else sum(found.kept.values()),
        peak_per_example=None if found is None else found.per_example,
        peak_at=None if found is None else found.at,
        loop_gradient_bytes=_loop_gradients(summary, layers, shapes),
    )


def _loop_gradients(summary: ModelSummary, layers: Mapping[str, LayerSpec], shapes: Mapping[str, LayerRecord]) -> int:
    """The largest recurrent layer's per-step weight gradients held at once (0 without a recurrent layer)."""
    found = 0
    for record in summary.layers:
        layer = layers.get(record.name)
        if (
            layer is not None
            and record.trainable_params
            and (layer.type in CELL_STATES or layer.type == "Bidirectional")
        ):
            inputs = [shapes[split_ref(name)[0]].output_shape for name in record.inputs]
            found = max(found, loop_gradient_bytes(record, layer, inputs))
    return found


def format_bytes(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
