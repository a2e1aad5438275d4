"""Layers that move values without weights: Identity, Permute, RepeatVector. MACs: 0 (nothing is computed)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    IMAGE,
    RESHAPE,
    FieldRule,
    LayerSpec,
    Masking,
    Shape,
    ShapeError,
    example,
    format_shape,
    register,
)
from layerspec.layers.fields import PositiveInt

PermuteAxis = Annotated[int, Field(ge=1, le=64)]


@register(RESHAPE)
class Identity(LayerSpec):
    """Returns its input unchanged (a placeholder, or a named point in the graph)."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # each position alone (a crop only moves positions)
    masking: ClassVar[Masking] = "pass"  # passes a mask on (Keras's supports_masking)

    examples = (example((6,)), example(IMAGE))
    type: Literal["Identity"] = Field(description="The Keras layer class.")


@register(RESHAPE)
class Permute(LayerSpec):
    """Reorders the axes (batch axis excluded): dims [2, 1] swaps the first two."""

    receptive: ClassVar[FieldRule | None] = FieldRule.UNKNOWN  # it may move or mix positions across axes

    examples = (example((5, 6), dims=[2, 1]), example(IMAGE, dims=[3, 1, 2]), example((None, 4), dims=[1, 2]))
    type: Literal["Permute"] = Field(description="The Keras layer class.")
    dims: Annotated[list[PermuteAxis], Field(min_length=1, max_length=64)] = Field(
        description="The new order of the axes, numbered from 1 (the batch axis stays first)."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        if sorted(self.dims) != list(range(1, len(shape) + 1)):
            raise ShapeError(
                f"`dims` {self.dims} must order every axis of the input {format_shape(shape)} once: "
                f"a permutation of {list(range(1, len(shape) + 1))}",
                "dims",
            )
        return tuple(shape[d - 1] for d in self.dims)


@register(RESHAPE)
class RepeatVector(LayerSpec):
    """Repeats a vector n times: (features,) becomes (n, features)."""

    receptive: ClassVar[FieldRule | None] = FieldRule.NONE  # no input positions to follow

    rank: ClassVar[int] = 0
    examples = (example((6,), n=3), example((1,), n=10))
    type: Literal["RepeatVector"] = Field(description="The Keras layer class.")
    n: PositiveInt = Field(description="Number of repetitions.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if len(inputs[0]) != 1:
            raise ShapeError(
                f"RepeatVector expects an input of rank 2 (batch, features); received shape {format_shape(inputs[0])}"
            )
        return (self.n, inputs[0][0])
