"""Wrappers, which hold another layer written as a nested entry under `layer:`: Bidirectional, TimeDistributed and
SpectralNormalization.

The nested layer is validated as an entry of `layers:` is (its own `type` and arguments), and its static rules
are the wrapper's building blocks: an error inside it is reported at the nested lines (`ShapeError.field` is then
a dotted path such as `layer.kernel_size`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import Field

from layerspec.layers.base import (
    WRAPPER,
    AxisWindow,
    FieldRule,
    LayerSpec,
    Shape,
    ShapeError,
    Weight,
    example,
    format_shape,
    register,
)
from layerspec.layers.fields import PositiveInt
from layerspec.layers.pooling_nd import UNCHECKED_RANK
from layerspec.layers.recurrent import RecurrentBase, RecurrentCall, check_initial_state

if TYPE_CHECKING:
    # At run time `NestedLayer` stays a forward reference until every type is registered (complete_nested_types).
    from layerspec.layers.base import NestedLayer

T = TypeVar("T")
_LSTM = {"type": "LSTM", "units": 4}
_GRU = {"type": "GRU", "units": 3}


def inside(argument: str, layer: LayerSpec, rule: Callable[[], T]) -> T:
    """Run a rule of the nested layer, pointing any error at the nested entry."""
    if layer.inputs is not None or layer.call is not None:
        key = "inputs" if layer.inputs is not None else "call"
        raise ShapeError(
            f"the layer under `{argument}` reads the wrapper's input and is called by it: remove its `{key}`",
            f"{argument}.{key}",
        )
    try:
        return rule()
    except ShapeError as exc:
        field = f"{argument}.{exc.field}" if exc.field else argument
        raise ShapeError(f"in `{argument}` ({layer.type}): {exc}", field) from None


def frozen(weights: list[Weight], trainable: bool) -> list[Weight]:
    """A wrapper that is not trainable freezes every weight of the layer it holds."""
    return weights if trainable else [dataclasses.replace(w, trainable=False) for w in weights]


class _Wrapper(LayerSpec):
    layer: NestedLayer = Field(description="The wrapped layer, written as an entry of `layers:` (without `inputs`).")

    def nested(self) -> dict[str, LayerSpec]:
        return {"layer": self.layer}

    def keras_arguments(self) -> dict[str, Any]:
        """The nested layers stay layer specs here: the builder turns them into Keras layers."""
        args = self.model_dump(exclude_unset=True, exclude={"type", "inputs", "call", *self.nested()})
        return {**args, **self.nested(), "name": self.name}

    def input_kind(self) -> Literal["float", "integer", "any"]:
        return self.layer.input_kind()

    def output_dtype(self) -> str | None:
        return self.layer.output_dtype()  # an integer-valued layer (Hashing) gives integers wrapped too


@register(WRAPPER)
class Bidirectional(_Wrapper):
    """Runs a recurrent layer forwards and a copy of it (or `backward_layer`) backwards, and merges the two."""

    receptive: ClassVar[FieldRule | None] = FieldRule.NONE  # recurrent: the field grows along the sequence

    masking = "consume"  # the recurrences skip masked steps; sequence outputs keep the mask
    reads_masks = True
    examples = (
        example((20, 6), layer={**_LSTM, "return_sequences": True}),
        example((20, 6), layer=_GRU, merge_mode="sum"),
        example((20, 6), layer={**_LSTM, "return_state": True}, merge_mode="ave"),
        example((20, 6), layer={**_LSTM, "return_sequences": True}, merge_mode=None),
        example((None, 5), layer={"type": "SimpleRNN", "units": 2}, merge_mode="mul"),
        example(
            (10, 3),
            layer={**_GRU, "reset_after": False},
            backward_layer={**_GRU, "reset_after": False, "go_backwards": True},
        ),
        example((12, 4), layer={**_GRU, "return_state": True, "return_sequences": True}, merge_mode=None),
    )
    type: Literal["Bidirectional"] = Field(description="The Keras layer class.")
    merge_mode: Literal["concat", "sum", "ave", "mul"] | None = Field(
        default="concat",
        description="How the two directions are combined; null returns both, as outputs NAME[0] and NAME[1].",
    )
    backward_layer: NestedLayer | None = Field(
        default=None,
        description="The backward layer (with `go_backwards: true`); default: a copy of `layer` reading backwards.",
    )
    call: RecurrentCall | None = Field(
        default=None, description="Call arguments: `initial_state`, the forward states then the backward ones."
    )

    def nested(self) -> dict[str, LayerSpec]:
        found = {"layer": self.layer}
        return found if self.backward_layer is None else {**found, "backward_layer": self.backward_layer}

    def directions(self) -> tuple[LayerSpec, LayerSpec]:
        forward = self.layer
        if not isinstance(forward, RecurrentBase):
            raise ShapeError(
                f"Bidirectional wraps a recurrent layer (LSTM, GRU, SimpleRNN); received {forward.type}", "layer"
            )
        if self.backward_layer is None:
            if forward.go_backwards:
                raise ShapeError(
                    "the forward layer reads backwards (`go_backwards: true`) and so would its backward copy: "
                    "remove `go_backwards`, or write a `backward_layer`",
                    "layer.go_backwards",
                )
            return forward, forward.model_copy(update={"go_backwards": True})
        backward = self.backward_layer
        for key in ("return_sequences", "return_state", "go_backwards"):
            same = getattr(backward, key, None) == getattr(forward, key)
            if same == (key == "go_backwards"):
                want = "the opposite of" if key == "go_backwards" else "the same as"
                raise ShapeError(
                    f"`backward_layer` needs `{key}` {want} `layer`'s (Keras refuses it)", "backward_layer"
                )
        return forward, backward

    def state_count(self) -> int:
        return self.layer.output_count() - 1

    def output_count(self) -> int:
        return (2 if self.merge_mode is None else 1) + 2 * self.state_count()

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        forward, backward = self.directions()
        ahead = inside("layer", forward, lambda: forward.output_shapes(inputs))
        behind = inside("backward_layer", backward, lambda: backward.output_shapes(inputs))
        if ahead[0] != behind[0]:
            raise ShapeError(
                f"the backward layer's output {format_shape(behind[0])} differs from the forward one's "
                f"{format_shape(ahead[0])}: give both the same units",
                "backward_layer",
            )
        out = ahead[0]
        merged = [out, out] if self.merge_mode is None else [out]
        if self.merge_mode == "concat" and out[-1] is not None:
            merged = [(*out[:-1], 2 * out[-1])]
        return merged + ahead[1:] + behind[1:]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return self.output_shapes(inputs)[0]

    def output_masks(self, masked: bool) -> list[bool]:
        sequences = 2 if self.merge_mode is None else 1
        keep = masked and isinstance(self.layer, RecurrentBase) and self.layer.return_sequences
        return [keep] * sequences + [False] * (self.output_count() - sequences)

    def check_call(self, inputs: list[Shape], tensors: Mapping[str, list[Shape]]) -> None:
        forward, backward = self.directions()
        states = [
            *forward.model_copy(update={"return_state": True}).output_shapes(inputs)[1:],
            *backward.model_copy(update={"return_state": True}).output_shapes(inputs)[1:],
        ]
        check_initial_state("Bidirectional", states, tensors.get("initial_state"))

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        forward, backward = self.directions()
        found = inside("layer", forward, lambda: forward.weights(inputs))
        found += inside("backward_layer", backward, lambda: backward.weights(inputs))
        return frozen(found, self.trainable)

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        forward, backward = self.directions()
        return sum(d.macs(inputs, d.output_shapes(inputs)[0]) for d in (forward, backward))


@register(WRAPPER)
class TimeDistributed(_Wrapper):
    """Applies its layer to every step of a sequence: (steps, ...) in, (steps, layer's output) out."""

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    reads_masks = True  # and gives it to its layer's call
    examples = (
        example((5, 7), layer={"type": "Dense", "units": 3}),
        example((4, 9, 11, 3), layer={"type": "Conv2D", "filters": 2, "kernel_size": 3}),
        example((None, 8, 8, 2), layer={"type": "MaxPooling2D", "pool_size": 2}),
        example((6, 4), layer={"type": "Dense", "units": 2, "trainable": False}),
    )
    type: Literal["TimeDistributed"] = Field(description="The Keras layer class.")

    def step(self, inputs: list[Shape]) -> tuple[int | None, Shape]:
        shape = inputs[0]
        if len(shape) < 2:
            raise ShapeError(
                f"TimeDistributed expects an input of rank 3 or more (batch, steps, ...); received shape "
                f"{format_shape(shape)}"
            )
        if self.layer.max_inputs != 1 or self.layer.output_count() != 1:
            raise ShapeError(
                f"TimeDistributed wraps a layer of one input and one output; received {self.layer.type}", "layer"
            )
        # A wrapper (Bidirectional) takes the rank of the layer it wraps (found by tests/fuzz).
        held = self.layer
        while held.rank is None and "layer" in held.nested():
            held = held.nested()["layer"]
        rank = held.rank
        if rank is not None and len(shape) - 1 != rank + 1:
            raise ShapeError(
                f"each step has shape {format_shape(shape[1:])}, but {held.type} needs {rank} spatial axes and "
                f"channels ({UNCHECKED_RANK} under TimeDistributed, and computes on the wrong axes)",
                "layer",
            )
        return shape[0], shape[1:]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        steps, step = self.step(inputs)
        return (steps, *inside("layer", self.layer, lambda: self.layer.output_shape([step])))

    def field_rule(self, inputs: list[Shape], output: Shape) -> FieldRule | tuple[AxisWindow, ...]:
        """The steps axis is read position by position; the other axes as the wrapped layer reads a step."""
        _, step = self.step(inputs)
        inner = self.layer.field_rule([step], output[1:])
        if isinstance(inner, tuple):
            return (AxisWindow(1, Fraction(1)), *inner)
        return inner if inner in (FieldRule.POINTWISE, FieldRule.NONE) else FieldRule.UNKNOWN

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        _, step = self.step(inputs)
        return frozen(inside("layer", self.layer, lambda: self.layer.weights([step])), self.trainable)

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        steps, step = self.step(inputs)
        return (steps or 1) * self.layer.macs([step], output[1:])


@register(WRAPPER)
class SpectralNormalization(_Wrapper):
    """Divides its layer's kernel by its largest singular value (estimated by power iteration) while training."""

    examples = (
        example((16,), layer={"type": "Dense", "units": 4}),
        example((9, 11, 4), layer={"type": "Conv2D", "filters": 3, "kernel_size": 3}, power_iterations=2),
        example((6,), layer={"type": "Dense", "units": 2, "use_bias": False}, trainable=False),
    )
    type: Literal["SpectralNormalization"] = Field(description="The Keras layer class.")
    power_iterations: PositiveInt = Field(default=1, description="Power-iteration steps per training step.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inside("layer", self.layer, lambda: self.layer.output_shape(inputs))

    def field_rule(self, inputs: list[Shape], output: Shape) -> FieldRule | tuple[AxisWindow, ...]:
        return self.layer.field_rule(inputs, output)  # it only rescales the wrapped layer's kernel

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        held = inside("layer", self.layer, lambda: self.layer.weights(inputs))
        kernel = next((w for w in held if w.name == self.layer.keras_kernel), None)
        if kernel is None:
            # Keras reads the layer's `kernel` or `embeddings` attribute: an RNN's kernel is its cell's, and a
            # separable convolution has two (found by tests/fuzz).
            raise ShapeError(
                f"SpectralNormalization normalises a kernel, and Keras's {self.layer.type} has no `kernel` or "
                "`embeddings`: wrap a Dense, a convolution (not a separable one) or an Embedding",
                "layer",
            )
        # The estimate of the leading singular vector is state, not a trained weight.
        return [*frozen(held, self.trainable), Weight("vector_u", (1, kernel.shape[-1]), False)]

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return self.layer.macs(inputs, output)
