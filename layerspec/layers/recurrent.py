"""Recurrent layers: SimpleRNN, LSTM and GRU, each optionally returning its final states as further outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    FAILS_WHEN_RUN,
    RECURRENT,
    SEQUENCE,
    CallArgs,
    FieldRule,
    LayerSpec,
    Shape,
    ShapeError,
    TensorRef,
    Weight,
    example,
    format_shape,
    register,
)
from layerspec.layers.fields import (
    Activation,
    Constraint,
    Initializer,
    PositiveInt,
    Rate,
    Regularizer,
    Seed,
    VectorInitializer,
)

# Keras raises at call time when use_cudnn=True meets a machine without a GPU or a configuration cuDNN cannot run:
# accepted (it is Keras's own switch) with a check warning (layerspec.rules.kernels.cudnn_forced).
UseCudnn = Literal["auto", True, False]


class RecurrentCall(CallArgs):
    """Call arguments of a recurrent layer."""

    tensor_fields = ("initial_state",)

    initial_state: TensorRef | list[TensorRef] | None = Field(
        default=None,
        description="Layers whose outputs start the recurrence, one per state (`NAME[i]` for a layer's i-th output).",
    )


def check_initial_state(layer: str, states: list[Shape], given: list[Shape] | None) -> None:
    """The tensors under `call: {initial_state: ...}` must be one per state, each of the state's shape."""
    if given is None:
        return
    if len(given) != len(states):
        raise ShapeError(
            f"{layer} has {len(states)} state(s), so `initial_state` takes {len(states)} tensor(s); "
            f"received {len(given)} ({FAILS_WHEN_RUN})",
            "call",
        )
    for i, (want, got) in enumerate(zip(states, given, strict=True)):
        if tuple(got) != tuple(want):
            raise ShapeError(
                f"initial state {i} of {layer} must have shape {format_shape(want)}; received {format_shape(got)} "
                f"({FAILS_WHEN_RUN})",
                "call",
            )


# Keras refuses `stateful=True` on an input of unknown batch size ("the batch size must be static"); a spec's inputs
# have none (`fit`, `evaluate` and `predict` feed batches of any size, the last one smaller), so it is refused.
STATEFUL = (
    "`stateful: true` is not supported: a stateful layer carries its states from one batch to the next, so Keras "
    "needs a fixed batch size (keras.Input(batch_size=...)), and a spec's inputs leave it open (training, evaluate "
    "and predict feed batches of any size); remove `stateful`"
)


class RecurrentBase(LayerSpec):
    """What every recurrent layer shares (the LSTM-like convolutions too): a sequence in, the last step's output
    or every step's out, and the final states as further outputs with `return_state`."""

    receptive: ClassVar[FieldRule | None] = (
        FieldRule.NONE
    )  # step t reads every step before it: a field that grows along the sequence

    masking = "consume"  # the recurrence skips masked steps; the sequence output keeps the mask
    reads_masks = True
    # Gate blocks in the kernels (4 for LSTM, 3 for GRU) and the number of states the layer carries.
    gates: ClassVar[int] = 1
    states: ClassVar[int] = 1

    activation: Activation = Field(default="tanh", description="Activation of the candidate state.")
    use_bias: bool = Field(default=True, description="Whether to add a bias vector.")
    kernel_initializer: Initializer = Field(
        default="glorot_uniform",
        description="Initializer of the input kernel (an id, or a mapping with arguments).",
    )
    recurrent_initializer: Initializer = Field(
        default="orthogonal",
        description="Initializer of the recurrent kernel (an id, or a mapping with arguments).",
    )
    bias_initializer: VectorInitializer = Field(
        default="zeros",
        description="Initializer of the bias vector (an id, or a mapping with arguments).",
    )
    kernel_regularizer: Regularizer = Field(default=None, description="Regularizer of the input kernel; null for none.")
    recurrent_regularizer: Regularizer = Field(
        default=None, description="Regularizer of the recurrent kernel; null for none."
    )
    bias_regularizer: Regularizer = Field(default=None, description="Regularizer of the bias vector; null for none.")
    activity_regularizer: Regularizer = Field(
        default=None, description="Regularizer of the layer's output; null for none."
    )
    kernel_constraint: Constraint = Field(default=None, description="Constraint on the input kernel; null for none.")
    recurrent_constraint: Constraint = Field(
        default=None, description="Constraint on the recurrent kernel; null for none."
    )
    bias_constraint: Constraint = Field(default=None, description="Constraint on the bias vector; null for none.")
    dropout: Rate = Field(default=0.0, description="Fraction of the input units dropped while training.")
    recurrent_dropout: Rate = Field(default=0.0, description="Fraction of the recurrent units dropped while training.")
    seed: Seed = Field(default=None, description="Seed of the dropout masks; null for a random one.")
    return_sequences: bool = Field(
        default=False, description="Whether to output every step (steps, ...) rather than the last one only."
    )
    return_state: bool = Field(
        default=False, description="Whether to return the final states too, as outputs NAME[1], NAME[2], ..."
    )
    go_backwards: bool = Field(default=False, description="Whether to read the sequence backwards.")
    stateful: bool = Field(
        default=False,
        description="Not supported (true is refused): a stateful layer carries its states from one batch to the "
        "next, which needs a fixed batch size, and a spec's inputs leave the batch size open.",
    )
    call: RecurrentCall | None = Field(
        default=None, description="Call arguments: `initial_state`, the layers whose outputs start the recurrence."
    )

    def step_output(self, inputs: list[Shape]) -> tuple[int | None, Shape]:
        """The number of steps and the shape of one step's output (which is also each state's shape)."""
        raise NotImplementedError

    def output_count(self) -> int:
        return 1 + self.states if self.return_state else 1

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if self.stateful:
            raise ShapeError(STATEFUL, "stateful")
        steps, out = self.step_output(inputs)
        return (steps, *out) if self.return_sequences else out

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        states = [self.step_output(inputs)[1]] * self.states if self.return_state else []
        return [self.output_shape(inputs), *states]

    def output_masks(self, masked: bool) -> list[bool]:
        return [masked and self.return_sequences] + [False] * (self.output_count() - 1)

    def check_call(self, inputs: list[Shape], tensors: Mapping[str, list[Shape]]) -> None:
        states = [self.step_output(inputs)[1]] * self.states
        check_initial_state(self.type, states, tensors.get("initial_state"))


class Recurrent(RecurrentBase):
    """A recurrence over vectors: (steps, features) in, `units` per step out."""

    rank: ClassVar[int | None] = 1

    units: PositiveInt = Field(description="Dimensionality of the output and of each state.")
    unroll: bool = Field(default=False, description="Whether to unroll the loop (needs a known number of steps).")

    def features(self, shape: Shape) -> tuple[int | None, int]:
        if len(shape) != 2:
            raise ShapeError(
                f"{self.type} expects a sequence of rank 3 (batch, steps, features); received shape "
                f"{format_shape(shape)}"
            )
        steps, features = shape
        if features is None:
            raise ShapeError(f"{self.type} needs a known number of features; the last dimension is unknown")
        if self.unroll and steps is None:
            raise ShapeError(f"{self.type} can only unroll a known number of steps; the steps are unknown", "unroll")
        return steps, features

    def step_output(self, inputs: list[Shape]) -> tuple[int | None, Shape]:
        steps, _ = self.features(inputs[0])
        return steps, (self.units,)

    def bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        _, features = self.features(inputs[0])
        width = self.gates * self.units
        found = [
            Weight("kernel", (features, width), self.trainable),
            Weight("recurrent_kernel", (self.units, width), self.trainable),
        ]
        return found + ([Weight("bias", self.bias_shape(), self.trainable)] if self.use_bias else [])

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        steps, features = self.features(inputs[0])
        return (steps or 1) * (features + self.units) * self.gates * self.units


@register(RECURRENT)
class SimpleRNN(Recurrent):
    """Fully connected recurrence: the output of each step is fed back as the next step's state."""

    examples = (
        example(SEQUENCE, units=5),
        example(SEQUENCE, units=3, return_sequences=True, use_bias=False),
        example((None, 4), units=2, return_state=True),
        example(SEQUENCE, units=4, return_sequences=True, return_state=True, go_backwards=True),
    )
    type: Literal["SimpleRNN"] = Field(description="The Keras layer class.")


class _Gated(Recurrent):
    recurrent_activation: Activation = Field(default="sigmoid", description="Activation of the gates.")
    use_cudnn: UseCudnn = Field(
        default="auto",
        description="'auto' runs cuDNN's kernel where the configuration and the machine allow; false never does; "
        "true always does, so the model fails wherever cuDNN cannot run it, a CPU included (`check` warns).",
    )


@register(RECURRENT)
class LSTM(_Gated):
    """Long short-term memory: two states (the output h and the carry c) and four gate blocks."""

    gates = 4
    states = 2
    examples = (
        example(SEQUENCE, units=8),
        example(SEQUENCE, units=4, return_sequences=True),
        example(SEQUENCE, units=3, return_state=True),
        example((None, 5), units=2, return_sequences=True, return_state=True, use_bias=False),
        example(SEQUENCE, units=4, trainable=False, dropout=0.25, recurrent_dropout=0.1, unit_forget_bias=False),
        example(SEQUENCE, units=3, use_cudnn=True),
        example((None, 5), units=2, return_sequences=True, use_cudnn=False),
    )
    type: Literal["LSTM"] = Field(description="The Keras layer class.")
    unit_forget_bias: bool = Field(
        default=True, description="Whether the forget gate's bias starts at 1 (Jozefowicz et al.)."
    )


@register(RECURRENT)
class GRU(_Gated):
    """Gated recurrent unit: one state and three gate blocks."""

    gates = 3
    examples = (
        example(SEQUENCE, units=8),
        example(SEQUENCE, units=4, reset_after=False),
        example(SEQUENCE, units=3, return_sequences=True, return_state=True),
        example((None, 5), units=2, use_bias=False, go_backwards=True),
        example(SEQUENCE, units=4, use_cudnn=True, return_state=True),
        example(SEQUENCE, units=3, reset_after=False, use_cudnn=False),
    )
    type: Literal["GRU"] = Field(description="The Keras layer class.")
    reset_after: bool = Field(
        default=True,
        description="Whether the reset gate applies after the recurrent matmul (cuDNN's convention, two biases).",
    )

    def bias_shape(self) -> tuple[int, ...]:
        # With reset_after, the input and the recurrent matmul each have their own bias.
        return (2, self.gates * self.units) if self.reset_after else (self.gates * self.units,)
