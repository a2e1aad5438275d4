"""Normalisation layers: BatchNormalization, LayerNormalization."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    IMAGE,
    NORMALIZATION,
    FieldRule,
    LayerSpec,
    Shape,
    ShapeError,
    Weight,
    example,
    format_shape,
    prod_known,
    register,
)
from layerspec.layers.fields import Constraint, Finite, Regularizer, VectorInitializer

Axis = Annotated[int, Field(ge=-64, le=64)]
Axes = Axis | Annotated[list[Axis], Field(min_length=1, max_length=8)]


def normalized_axes(axis: int | list[int], shape: Shape, layer: str) -> list[int]:
    """Axes as indices into `shape` (which has no batch dimension); Keras's axis counts the batch as 0."""
    rank = len(shape) + 1
    result = []
    for a in [axis] if isinstance(axis, int) else axis:
        full = a + rank if a < 0 else a
        if not 1 <= full < rank:
            raise ShapeError(
                f"`axis` {a} is out of range for {layer} on an input of shape (None, "
                f"{format_shape(shape)[1:]}: use an axis between 1 and {rank - 1} (or -1 for the last)",
                "axis",
            )
        result.append(full - 1)
    if len(set(result)) != len(result):
        raise ShapeError(f"`axis` {axis} names the same axis twice", "axis")
    return sorted(result)


def axes_size(axis: int | list[int], shape: Shape, layer: str) -> tuple[int, ...]:
    dims = [shape[i] for i in normalized_axes(axis, shape, layer)]
    if any(d is None for d in dims):
        raise ShapeError(f"{layer} needs known sizes on the normalised axis {axis}; received {format_shape(shape)}")
    return tuple(d for d in dims if d is not None)


class _Normalization(LayerSpec):
    axis: Axes = Field(default=-1, description="Axis (or axes) normalised; counts the batch axis as 0.")
    epsilon: Annotated[Finite, Field(gt=0)] = Field(default=1e-3, description="Added to the variance.")
    center: bool = Field(default=True, description="Learn an offset (beta).")
    scale: bool = Field(default=True, description="Learn a scale (gamma).")
    beta_initializer: VectorInitializer = Field(default="zeros", description="Initializer of the learned offset beta.")
    gamma_initializer: VectorInitializer = Field(default="ones", description="Initializer of the learned scale gamma.")
    beta_regularizer: Regularizer = Field(default=None, description="Regularizer of beta; null for none.")
    gamma_regularizer: Regularizer = Field(default=None, description="Regularizer of gamma; null for none.")
    beta_constraint: Constraint = Field(
        default=None, description="Constraint applied to beta after each update; null for none."
    )
    gamma_constraint: Constraint = Field(
        default=None, description="Constraint applied to gamma after each update; null for none."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        axes_size(self.axis, inputs[0], self.type)
        return inputs[0]

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        # One multiply-add per element once the statistics are folded into a scale and an offset.
        return prod_known(output)


@register(NORMALIZATION)
class BatchNormalization(_Normalization):
    """Normalises each feature with batch statistics while training and moving averages at inference."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # at inference: a scale and an offset per feature

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    examples = (
        example(IMAGE),
        example(IMAGE, axis=3),
        example(IMAGE, axis=1),
        example(IMAGE, axis=2, center=False),
        example((6, 5), axis=-2),
        example((12,), scale=False, momentum=0.9, epsilon=1e-5),
        example(IMAGE, trainable=False),
    )
    type: Literal["BatchNormalization"] = Field(description="The Keras layer class.")
    # Keras 3 takes exactly one axis here (it calls int(axis)), unlike LayerNormalization.
    axis: Axis = Field(default=-1, description="The features axis; counts the batch axis as 0 (3 for images).")
    momentum: Annotated[Finite, Field(ge=0, le=1)] = Field(default=0.99, description="Moving-average momentum.")
    moving_mean_initializer: VectorInitializer = Field(
        default="zeros", description="Initializer of the moving mean used in inference."
    )
    moving_variance_initializer: VectorInitializer = Field(
        default="ones", description="Initializer of the moving variance used in inference."
    )
    synchronized: bool = Field(
        default=False, description="Compute the batch statistics over all replicas of a distribution strategy."
    )

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        size = axes_size(self.axis, inputs[0], self.type)
        learned = [Weight(n, size, self.trainable) for n, on in (("gamma", self.scale), ("beta", self.center)) if on]
        return [*learned, Weight("moving_mean", size, False), Weight("moving_variance", size, False)]


@register(NORMALIZATION)
class LayerNormalization(_Normalization):
    """Normalises each example over the given axes."""

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    examples = (
        example(IMAGE),
        example(IMAGE, axis=[1, 2, 3]),
        example(IMAGE, axis=[-2, -1], center=False),
        example((6, 5), axis=1, scale=False),
        example((6, 5), axis=[2, 1], trainable=False),
        example((6, 5), center=False, scale=False),
    )
    type: Literal["LayerNormalization"] = Field(description="The Keras layer class.")

    def field_rule(self, inputs: list[Shape], output: Shape) -> FieldRule:
        # Statistics over a spatial axis make every position depend on every other one.
        last = len(inputs[0]) - 1
        return FieldRule.POINTWISE if normalized_axes(self.axis, inputs[0], self.type) == [last] else FieldRule.GLOBAL

    # Keras 3 deprecates `rms_scaling` (it scales by the variance); keras.layers.RMSNormalization replaces it,
    # so it is not accepted here.

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        # One gamma/beta entry per element of the normalised axes, e.g. (H, W, C) for axis [1, 2, 3].
        shape = axes_size(self.axis, inputs[0], self.type)
        return [Weight(n, shape, self.trainable) for n, on in (("gamma", self.scale), ("beta", self.center)) if on]
