"""Activation layers: Activation, ReLU, LeakyReLU, Softmax."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import ACTIVATION, IMAGE, FieldRule, LayerSpec, Shape, ShapeError, example, register
from layerspec.layers.convolution import CPU_KERNEL
from layerspec.layers.fields import Activation as ActivationName
from layerspec.layers.fields import Finite
from layerspec.layers.normalization import normalized_axes

NonNegative = Annotated[Finite, Field(ge=0)]


@register(ACTIVATION)
class Activation(LayerSpec):
    """Applies a named activation function."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    examples = (
        example(IMAGE, activation="relu"),
        example((6, 3), activation="softmax"),
        example((6,), activation="swish"),
    )
    type: Literal["Activation"] = Field(description="The Keras layer class.")
    activation: ActivationName = Field(description="Name of the activation, e.g. relu, softmax, swish.")


@register(ACTIVATION)
class ReLU(LayerSpec):
    """Rectified linear unit, optionally capped (ReLU6 is max_value: 6)."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    examples = (example(IMAGE), example(IMAGE, max_value=6.0), example((6,), negative_slope=0.1, threshold=0.5))
    type: Literal["ReLU"] = Field(description="The Keras layer class.")
    max_value: NonNegative | None = Field(default=None, description="Upper bound of the output.")
    negative_slope: NonNegative = Field(default=0.0, description="Slope below the threshold.")
    # Keras refuses a negative threshold (found by tests/fuzz).
    threshold: NonNegative = Field(default=0.0, description="Values below it are damped.")


@register(ACTIVATION)
class LeakyReLU(LayerSpec):
    """Leaky rectified linear unit."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    examples = (example(IMAGE), example((6,), negative_slope=0.2))
    type: Literal["LeakyReLU"] = Field(description="The Keras layer class.")
    negative_slope: NonNegative = Field(default=0.3, description="Slope for negative inputs.")


@register(ACTIVATION)
class Softmax(LayerSpec):
    """Softmax over an axis."""

    # Keras builds it, but its call then applies the mask (one axis fewer than the input) and fails when run.
    masking = "fails"
    examples = (example((6,)), example((6, 3), axis=1), example(IMAGE, axis=[1, 2]))
    type: Literal["Softmax"] = Field(description="The Keras layer class.")
    axis: Annotated[int, Field(ge=-64, le=64)] | list[Annotated[int, Field(ge=-64, le=64)]] = Field(
        default=-1, description="Axis the softmax normalises over."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        # Keras builds a Softmax over an axis its input lacks and fails only when the model runs (found by
        # tests/fuzz); the batch axis (0) is refused too, as for the normalisations.
        axes = normalized_axes(self.axis, inputs[0], self.type)
        if len(axes) == 1 and len(inputs[0]) + 1 > 5:
            # One axis goes to tf.nn.softmax, which oneDNN runs only up to rank 5; several axes take another path
            # (found by tests/fuzz: "Input dims must be <= 5").
            raise ShapeError(
                f"Softmax over one axis of an input of rank {len(inputs[0]) + 1} (batch included) cannot run: "
                f"{CPU_KERNEL} for it takes rank 5 at most; reshape to fewer axes first, or give `axis` a list of "
                "several axes",
                "axis",
            )
        return inputs[0]

    def field_rule(self, inputs: list[Shape], output: Shape) -> FieldRule:
        # Over the channel axis it is per position; over a spatial axis every position reads all of them.
        last = len(inputs[0]) - 1
        return FieldRule.POINTWISE if normalized_axes(self.axis, inputs[0], self.type) == [last] else FieldRule.GLOBAL

    def softmax_axes(self) -> tuple[str, list[int]] | None:
        return "softmax", [self.axis] if isinstance(self.axis, int) else list(self.axis)
