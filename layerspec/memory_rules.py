"""What each layer's gradient reads, the rules behind the memory estimate (no TensorFlow).

TensorFlow keeps a tensor of the forward pass for as long as some gradient still has to read it. Which ones those
are follows from TensorFlow's gradient functions, for the operations Keras builds each layer from:
- a convolution (also depthwise, separable, transposed) or a matrix product (Dense, EinsumDense, attention) reads
  its input again for the kernel's gradient (the gradient for the input needs only the kernel);
- batch normalisation reads its input (the fused kernel also keeps per-channel statistics, negligible); Keras's
  composed normalisation (layer, group and RMS normalisation, or batch normalisation TensorFlow's fused kernel
  does not run) also keeps the normalised value, a tensor of the same size;
- ReLU, ReLU6, sigmoid, tanh, softmax, ELU and SELU read their own output; other activations (swish, GELU,
  softplus, ...) the value before them; LeakyReLU and PReLU their input; a fused `activation:` adds what its own
  function reads to the layer's;
- max pooling reads its input and its output, and its gradient (oneDNN's) runs the pooling again for the
  positions of the maxima: three temporaries of the output's size while it runs (measured on single operations
  with the allocator); average pooling, global average pooling, padding, cropping,
  upsampling, Add, Subtract, Average and Concatenate read no tensor at all (only shapes); Multiply, Dot, Maximum
  and Minimum read their inputs;
- dropout keeps its mask (of the output's size, in the compute dtype), GaussianDropout and AlphaDropout their
  noise; SpatialDropout's mask has one value per channel and is left out;
- a recurrent layer runs a loop whose gradient keeps, for every step, the step's input and the states its cell's
  gradient reads: LSTM the previous h and c, the four gates and tanh(c) (7 state-sized tensors), GRU the previous
  h, the two gates, 1 - z, the candidate and the recurrent term the reset gate scales (6), SimpleRNN the previous
  h and the output (2); Bidirectional doubles it, and while its gradient runs each direction has its own
  gradient for the input sequence (they are added afterwards);
- Flatten, Reshape and Identity return a view of their input, no new buffer.
A recurrent layer's loop also costs memory that does not grow with the batch: each step's gradient makes a
gradient for all the cell's weights, which the loop adds to an accumulator, and as Keras's `while_loop` lets up to
32 iterations run at once (`parallel_iterations=32` in keras/src/backend/tensorflow/rnn.py), up to min(steps, 32)
of them are alive together (an unrolled loop keeps all of them for one sum). Measured with the allocator: an LSTM
of 64 units over 32 steps peaked 2.6 MiB (32 x its 81 KiB of weights) above its state at batch 1; with
`parallel_iterations=1` 0.2 MiB. How many of the 32 are really alive depends on the order the executor runs the
iterations in, so `loop_gradient_bytes` counts the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from layerspec.layers import LayerSpec
from layerspec.shapes import LayerRecord

VIEWS = frozenset({"Flatten", "Reshape", "Identity"})
# Functions whose gradient reads their own output (TensorFlow's Relu, Relu6, Sigmoid, Tanh, Softmax, Elu, Selu).
FROM_OUTPUT = frozenset({"relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax", "elu", "selu", "exponential"})
LINEAR = frozenset({None, "linear"})
READS_INPUT_FAMILIES = frozenset({"convolution", "dense", "attention", "normalization"})
READS_INPUT_TYPES = frozenset({"Multiply", "Dot", "Maximum", "Minimum", "LeakyReLU", "PReLU", "ActivityRegularization"})
MAX_POOLING = ("MaxPooling", "GlobalMaxPooling", "AdaptiveMaxPooling")
# Normalisations Keras composes from separate operations, which keep the normalised value too.
COMPOSED_NORMALIZATION = frozenset({"LayerNormalization", "GroupNormalization", "RMSNormalization"})
KEEPS_NOISE = frozenset({"Dropout", "GaussianDropout", "AlphaDropout"})
# State-sized tensors a cell's gradient reads per step (see the module's docstring).
# Iterations Keras's `while_loop` lets run at once (keras/src/backend/tensorflow/rnn.py).
PARALLEL_ITERATIONS = 32
CELL_STATES = {"LSTM": 7, "GRU": 6, "SimpleRNN": 2, "ConvLSTM1D": 7, "ConvLSTM2D": 7, "ConvLSTM3D": 7}


# Activation layers and the function each one runs (`Activation`: the one its `activation` names).
ACTIVATION_TYPES: dict[str, str | None] = {"Activation": None, "ReLU": "relu", "Softmax": "softmax", "ELU": "elu"}


# Layers whose gradient is element-wise (TensorFlow's ReluGrad, SigmoidGrad, Mul by the mask, ...): it is
# written into the buffer of the gradient it receives.
IN_PLACE_FAMILIES = frozenset({"activation", "regularization"})


def in_place(layer: LayerSpec) -> bool:
    return (layer.family.name in IN_PLACE_FAMILIES and layer.type != "Softmax") or layer.type == "Rescaling"


@dataclass(frozen=True)
class Needs:
    """What a layer's gradient reads: its inputs, its own output, and `extra` elements per example of tensors
    of its own (masks, the value before an activation, a loop's per-step states); `scratch` elements are
    temporaries alive only while the gradient runs."""

    inputs: bool = False
    output: bool = False
    extra: int = 0
    scratch: int = 0


NOTHING = Needs()  # one instance for the many layers whose gradient reads nothing
READS_OUTPUT = Needs(output=True)  # and one for the many whose gradient reads only their output (ReLU)


def elements(shape: tuple[int | None, ...]) -> int | None:
    return None if None in shape else math.prod(shape)  # type: ignore[arg-type]  # no None left


def activation_needs(activation: str | None, size: int) -> Needs:
    """What an activation function's gradient reads, for an output of `size` elements."""
    if activation in LINEAR:
        return NOTHING
    if activation in FROM_OUTPUT:
        return READS_OUTPUT
    return Needs(extra=size)


def needs(
    record: LayerRecord,
    layer: LayerSpec,
    input_shapes: list[tuple[int | None, ...]],
    fused_bn: bool,
    size: int | None = None,
) -> Needs:
    """What the gradient of this layer reads; `fused_bn`: batch normalisation runs TensorFlow's fused kernel;
    `size`: the output's elements per example, when the caller has counted them already."""
    kind = layer.type
    if kind in VIEWS:
        return NOTHING
    if size is None:
        size = elements(record.output_shape) or 0
    family = layer.family.name
    if kind in ("Bidirectional", "TimeDistributed", "SpectralNormalization"):
        return _wrapped(record, layer, input_shapes, fused_bn)
    if kind in CELL_STATES:
        return _recurrent(kind, record, input_shapes, 1)
    if kind in ACTIVATION_TYPES:
        return activation_needs(ACTIVATION_TYPES[kind] or _act(layer), size)
    if kind.startswith(MAX_POOLING):
        return Needs(inputs=True, output=True, scratch=3 * size if kind.startswith("MaxPooling") else 0)
    if kind in KEEPS_NOISE:
        return Needs(extra=size)
    if family in READS_INPUT_FAMILIES or kind in READS_INPUT_TYPES:
        composed = kind in COMPOSED_NORMALIZATION or (kind == "BatchNormalization" and not fused_bn)
        fused = activation_needs(_act(layer), size) if family != "normalization" else Needs()
        return Needs(inputs=True, output=fused.output, extra=fused.extra + (size if composed else 0))
    return NOTHING


def _act(layer: LayerSpec) -> str | None:
    value = layer.__dict__.get("activation")  # a missing attribute costs pydantic a slow lookup, for every layer
    return value if isinstance(value, str) or value is None else str(value)


def _recurrent(
    kind: str, record: LayerRecord, input_shapes: list[tuple[int | None, ...]], directions: int = 1, split: int = 1
) -> Needs:
    """Per example: every step's input and the cell's states, for each direction; a state is one step of the
    output (the whole output of a layer that returns only the last), divided by `split` (2: a concatenation)."""
    shape = input_shapes[0] if input_shapes else ()
    steps, step_input = (shape[0], elements(shape[1:])) if shape else (None, None)
    out = record.output_shape
    state = elements(out[1:]) if len(out) == len(shape) else elements(out)
    if steps is None or step_input is None or state is None:
        return Needs(inputs=True)
    return Needs(extra=directions * steps * (step_input + CELL_STATES[kind] * (state // split)))


def _wrapped(record: LayerRecord, layer: LayerSpec, input_shapes: list[tuple[int | None, ...]], fused: bool) -> Needs:
    """A wrapper's gradient reads what its layer's does (Bidirectional: for both directions)."""
    inner = getattr(layer, "layer", None)
    if not isinstance(inner, LayerSpec):
        return Needs(inputs=True)
    if layer.type == "Bidirectional" and inner.type in CELL_STATES:
        split = 2 if getattr(layer, "merge_mode", "concat") == "concat" else 1
        found = _recurrent(inner.type, record, input_shapes, directions=2, split=split)
        second = (elements(input_shapes[0]) or 0) if input_shapes else 0  # the other direction's input gradient
        return Needs(found.inputs, extra=found.extra, scratch=second)
    return needs(record, inner, input_shapes, fused)


def loop_gradient_bytes(record: LayerRecord, layer: LayerSpec, input_shapes: list[tuple[int | None, ...]]) -> int:
    """The most bytes of per-step weight gradients a recurrent layer's loop holds at once (the module's
    docstring): min(steps, 32) gradients of all its trainable weights (float32; all steps' when unrolled), whatever
    the batch; 0 for a layer that runs no loop."""
    inner = getattr(layer, "layer", None) if layer.type == "Bidirectional" else layer
    if not isinstance(inner, LayerSpec) or inner.type not in CELL_STATES or not input_shapes:
        return 0
    steps = input_shapes[0][0] if input_shapes[0] else None
    if steps is None:
        steps = PARALLEL_ITERATIONS  # an unknown length: the bound for a long sequence
    at_once = steps if getattr(inner, "unroll", False) else min(steps, PARALLEL_ITERATIONS)  # unrolled: one sum
    return at_once * record.trainable_params * 4
