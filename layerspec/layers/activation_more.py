"""Activation layers with a parameter: ELU, and PReLU with its learned slopes.

MACs: an element-wise activation counts 0, as ReLU and LeakyReLU do (a compare and at most one multiply per
element is not the multiply-accumulate work the count measures).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    ACTIVATION,
    IMAGE,
    LayerSpec,
    Masking,
    Shape,
    ShapeError,
    Weight,
    example,
    format_shape,
    register,
)
from layerspec.layers.fields import AlphaInitializer, Constraint, Finite, Regularizer

SharedAxis = Annotated[int, Field(ge=1, le=64)]


@register(ACTIVATION)
class ELU(LayerSpec):
    """Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise."""

    masking: ClassVar[Masking] = "pass"  # passes a mask on (Keras's supports_masking)

    examples = (example((6,)), example(IMAGE, alpha=0.5))
    type: Literal["ELU"] = Field(description="The Keras layer class.")
    alpha: Finite = Field(default=1.0, description="Scale of the negative part.")


@register(ACTIVATION)
class PReLU(LayerSpec):
    """Leaky ReLU whose negative slope is learned, one per element unless axes share it."""

    masking: ClassVar[Masking] = "pass"  # passes a mask on (Keras's supports_masking)

    examples = (
        example((6,)),
        example(IMAGE, shared_axes=[1, 2]),
        example(IMAGE, shared_axes=3, alpha_initializer="ones"),
        example((5, 7), trainable=False),
    )
    type: Literal["PReLU"] = Field(description="The Keras layer class.")
    alpha_initializer: AlphaInitializer = Field(
        default="Zeros",
        description="Initializer of the learned slopes (an id, or a mapping with arguments).",
    )
    alpha_regularizer: Regularizer = Field(default=None, description="Regularizer of the slopes; null for none.")
    alpha_constraint: Constraint = Field(
        default=None, description="Constraint applied to the slopes after each update; null for none."
    )
    shared_axes: SharedAxis | list[SharedAxis] | None = Field(
        default=None,
        description="Axes (batch axis = 0) along which one slope is shared, e.g. [1, 2] for one per channel.",
    )

    def alpha_shape(self, shape: Shape) -> tuple[int, ...]:
        shared = [self.shared_axes] if isinstance(self.shared_axes, int) else list(self.shared_axes or [])
        if any(a > len(shape) for a in shared):
            raise ShapeError(
                f"`shared_axes` {self.shared_axes} names an axis the input (None, {format_shape(shape)[1:]} lacks: "
                f"use axes between 1 and {len(shape)}",
                "shared_axes",
            )
        dims = [1 if i + 1 in shared else d for i, d in enumerate(shape)]
        if any(d is None for d in dims):
            raise ShapeError(
                f"PReLU learns a slope per element, so it needs every unshared axis known; received "
                f"{format_shape(shape)}: share the unknown axes with `shared_axes`",
                "shared_axes",
            )
        return tuple(d for d in dims if d is not None)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        self.alpha_shape(inputs[0])
        return inputs[0]

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        return [Weight("alpha", self.alpha_shape(inputs[0]), self.trainable)]
