"""Dot: the dot product of two inputs along one axis of each (Keras's batch_dot).

MACs: one multiply-accumulate per output value and per element of the axes multiplied (the output's size times
their length); the L2 normalisation of `normalize` is not counted. An unknown dimension counts as 1.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    FAILS_WHEN_RUN,
    MERGE,
    FieldRule,
    LayerSpec,
    Masking,
    Shape,
    ShapeError,
    example,
    prod_known,
    register,
)

DotAxis = Annotated[int, Field(ge=-64, le=64)]


@register(MERGE)
class Dot(LayerSpec):
    """Dot product of two inputs along `axes` (cosine similarity with `normalize`): the output has the first
    input's other axes, then the second's."""

    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2
    masking: ClassVar[Masking] = "consume"  # Keras takes the masks and gives the product none
    receptive: ClassVar[FieldRule | None] = FieldRule.NONE  # the product collapses the axes it sums over
    examples = (
        example((8,), (8,), axes=1),
        example((3, 5), (10, 3), axes=[1, 2]),
        example((4, 6), (7, 6), axes=-1, normalize=True),
        example((6,), (5, 6), axes=-1),
        example((2, 3, 4), (3, 4, 5), axes=[2, 1]),
        example((None, 8), (None, 8), axes=1),
    )
    type: Literal["Dot"] = Field(description="The Keras layer class.")
    axes: DotAxis | Annotated[list[DotAxis], Field(min_length=2, max_length=2)] = Field(
        description="Axis of each input to multiply along (one integer: the same for both); the batch axis is 0 "
        "and cannot be one.",
    )
    normalize: bool = Field(
        default=False, description="L2-normalise both inputs along the axes first (the output is then a cosine)."
    )

    def resolved_axes(self, inputs: list[Shape]) -> tuple[int, int]:
        """Each input's axis as an index into its shape without the batch axis."""
        ranks = [len(s) + 1 for s in inputs]
        if isinstance(self.axes, int):
            written = [self.axes, self.axes]
            axes = [self.axes % r if self.axes < 0 else self.axes for r in ranks]
        else:
            written = list(self.axes)
            axes = [a % r if a < 0 else a for a, r in zip(self.axes, ranks, strict=True)]
        for a, w, r in zip(axes, written, ranks, strict=True):
            if a == 0:  # Keras's output shape drops the batch axis, and its batch_dot refuses it when it runs
                raise ShapeError(
                    f"`axes` {self.axes}: axis {w} is the batch axis, which Dot cannot multiply along; use an axis "
                    f"between 1 and {r - 1} ({FAILS_WHEN_RUN})",
                    "axes",
                )
            if a >= r:
                raise ShapeError(
                    f"`axes` {self.axes}: axis {w} is out of range for an input of rank {r}; use an axis between 1 "
                    f"and {r - 1}",
                    "axes",
                )
        return axes[0] - 1, axes[1] - 1

    def output_shape(self, inputs: list[Shape]) -> Shape:
        first, second = inputs
        a, b = self.resolved_axes(inputs)
        # Keras compares the two sizes as they are: an unknown size fits only another unknown one.
        if first[a] != second[b]:
            raise ShapeError(
                f"Dot needs the axes it multiplies along to have the same size: {first[a]} and {second[b]}",
                "axes",
                clash=(0, 1),
            )
        out = (*first[:a], *first[a + 1 :], *second[:b], *second[b + 1 :])
        return out or (1,)

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        a, _ = self.resolved_axes(inputs)
        return prod_known(output) * prod_known(inputs[0][a : a + 1])
