"""Memory estimates from the static summary: activations per layer, weights, gradients, optimizer state.

A training step holds the weights (float32 variables, also under mixed precision), one gradient per trainable
weight, the optimizer's slots (Adam and AdamW two per weight, SGD with momentum one, RMSprop one plus one with
momentum), a second copy of the trainable weights for the moving average (`use_ema`), and the activations the
backward pass reads, for the whole batch in the compute dtype of the policy. Which those are follows the
gradients: a convolution, dense, normalisation, pooling or merge layer reads its input again, an activation (and
pooling) its own output, dropout its mask, the loss the model's output; a tensor no gradient reads (a batch
normalisation's output that only feeds a ReLU) is freed in the forward pass. A fused `activation:` other than
those whose gradient needs only the output (relu, sigmoid, tanh, softmax) also keeps the value before it. On top
come two gradients of the largest activation's size: walking down, the backward pass holds the gradient arriving
at a layer's output and the one it computes for the layer's input. tests/bench/bench_memory.py measures how close
this comes; docs/benchmarks.md has the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from layerspec.layers import LayerSpec
from layerspec.shapes import LayerRecord, ModelSummary
from layerspec.spec.train import TrainSpec

VARIABLE_BYTES = 4  # variables stay float32 under mixed precision
DTYPE_BYTES = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int32": 4, "int64": 8, "uint8": 1, "bool": 1}
# Layers whose output is a view of their input (no new buffer is kept for the backward pass).
VIEWS = frozenset({"Flatten", "Reshape"})
# Families whose gradient reads the layer's input again / its own output (dropout: its mask, of the output's size).
READS_INPUT = frozenset({"convolution", "dense", "normalization", "pooling", "merge", "attention", "recurrent"})
READS_OUTPUT = frozenset({"activation", "pooling", "regularization"})
# Fused activations whose gradient needs only the output, so the value before them is not kept.
FROM_OUTPUT = frozenset({None, "linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax"})


# Not frozen (treat it as read-only): one is made per layer, and a frozen dataclass's __init__ costs several
# times more (a 60,000-layer spec spends a tenth of a second more in them).
@dataclass
class LayerMemory:
    name: str
    # One example's output, in the compute dtype; None when a dimension is unknown.
    activation_bytes: int | None
    # What of it (and of a fused activation's input) the backward pass keeps.
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
    # Per example, every kept activation; None when a size is unknown.
    activations_per_example: int | None
    largest_activation: int | None

    @property
    def activation_bytes(self) -> int | None:
        """Activations kept for the backward pass for the whole batch, plus the two gradients in flight."""
        if self.activations_per_example is None or self.largest_activation is None:
            return None
        return self.batch_size * (self.activations_per_example + 2 * self.largest_activation)

    @property
    def total_bytes(self) -> int | None:
        if self.activation_bytes is None:
            return None
        return (
            self.parameter_bytes + self.gradient_bytes + self.optimizer_bytes + self.ema_bytes + self.activation_bytes
        )

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
            "activations_per_example_bytes": self.activations_per_example,
            "activation_bytes": self.activation_bytes,
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


def output_bytes(record: LayerRecord, layer: LayerSpec | None, dtype_bytes: int, input_bytes: int) -> int | None:
    """One example's output of a layer (a model input: in its own dtype); None when a size is unknown."""
    if None in record.output_shape:
        return None
    elements = math.prod(record.output_shape)  # type: ignore[arg-type]  # no None left
    return elements * (input_bytes if layer is None else dtype_bytes)


def kept_bytes(record: LayerRecord, layer: LayerSpec | None, size: int | None, read_again: bool) -> int | None:
    """What the backward pass keeps of one example's output of this layer (see the module's docstring)."""
    if size is None or (layer is not None and layer.type in VIEWS):
        return None if size is None else 0
    # The field's value where the type has one (a missing attribute costs pydantic a slow lookup per layer).
    activation = layer.__dict__.get("activation") if layer is not None else None
    before = size if layer is not None and layer.type != "Activation" and activation not in FROM_OUTPUT else 0
    reads_own = layer is not None and (layer.family.name in READS_OUTPUT or activation not in (None, "linear"))
    return (size if read_again or reads_own else 0) + before


def _read_again(summary: ModelSummary, layers: Mapping[str, LayerSpec]) -> set[str]:
    """Tensors some gradient reads: inputs of layers whose gradient needs them, and the model's outputs."""
    names = set(summary.outputs)
    for record in summary.layers:
        layer = layers.get(record.name)
        if layer is not None and layer.family.name in READS_INPUT:
            names.update(record.inputs)
    # A view passes the need on to the tensor it views.
    for record in reversed(summary.layers):
        layer = layers.get(record.name)
        if record.name in names and layer is not None and layer.type in VIEWS:
            names.update(record.inputs)
    return names


def estimate(
    summary: ModelSummary,
    layers: Mapping[str, LayerSpec],
    train: TrainSpec,
    batch_size: int | None = None,
    input_dtypes: Mapping[str, str] | None = None,
) -> MemoryEstimate:
    """The memory of training `summary` with `train`'s recipe; `layers` maps names to their specs (inputs absent)."""
    dtype = compute_dtype(train)
    read_again = _read_again(summary, layers)
    per_layer = []
    dtypes, dtype_bytes = input_dtypes or {}, DTYPE_BYTES[dtype]
    for record in summary.layers:
        layer = layers.get(record.name)
        input_bytes = DTYPE_BYTES[dtypes.get(record.name, "float32")]
        size = output_bytes(record, layer, dtype_bytes, input_bytes)
        per_layer.append(LayerMemory(record.name, size, kept_bytes(record, layer, size, record.name in read_again)))
    kept = [m.kept_bytes for m in per_layer]
    sizes = [m.activation_bytes for m in per_layer]
    unknown = any(s is None for s in kept)
    trainable = summary.trainable_params * VARIABLE_BYTES
    return MemoryEstimate(
        compute_dtype=dtype,
        batch_size=train.batch_size if batch_size is None else batch_size,
        optimizer=train.optimizer.type,
        layers=tuple(per_layer),
        parameter_bytes=summary.params * VARIABLE_BYTES,
        gradient_bytes=trainable,
        optimizer_bytes=trainable * optimizer_slots(train),
        ema_bytes=trainable if train.optimizer.use_ema else 0,
        activations_per_example=None if unknown else sum(k for k in kept if k is not None),
        largest_activation=None if unknown else max((s for s in sizes if s is not None), default=0),
    )


def format_bytes(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
