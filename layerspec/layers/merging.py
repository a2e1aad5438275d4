"""Merge layers: element-wise (Add, Subtract, Multiply, Average, Maximum, Minimum) and Concatenate."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import MERGE, FieldRule, LayerSpec, Shape, ShapeError, example, format_shape, register


def broadcast(first: Shape, second: Shape) -> Shape:
    """Keras's element-wise merge rule on shapes without the batch axis: align from the right, size 1 broadcasts.

    Keras gives an input of lower rank leading axes of size 1 when it runs the merge, which is what aligning
    from the right means: (4, 4, 3) and (3,) merge to (4, 4, 3).
    """
    if len(first) < len(second):
        first, second = second, first
    if not second:
        return first
    out = list(first[: len(first) - len(second)])
    for a, b in zip(first[len(first) - len(second) :], second, strict=True):
        if a is None or b is None:
            out.append(None)
        elif a == 1 or b == 1:
            out.append(b if a == 1 else a)
        elif a != b:
            raise ShapeError("")
        else:
            out.append(a)
    return tuple(out)


class _ElementWise(LayerSpec):
    masking = "pass"  # its output is masked where every input is (Keras 3 keeps no mask otherwise)
    max_inputs: ClassVar[int | None] = None
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    def combined_mask(self, masks: list[bool]) -> bool:
        return all(masks)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        result = inputs[0]
        for i, shape in enumerate(inputs[1:], start=1):
            try:
                result = broadcast(result, shape)
            except ShapeError:
                raise ShapeError(
                    f"{self.type} needs inputs of the same shape (or shapes that broadcast: equal or 1 on each axis)",
                    "inputs",
                    clash=(0, i),
                ) from None
        return result


@register(MERGE)
class Add(_ElementWise):
    """Element-wise sum of its inputs (residual connections)."""

    examples = (
        example((4, 4, 3), (4, 4, 3)),
        example((4, 4, 3), (4, 4, 3), (4, 4, 3)),
        example((4, 4, 3), (1, 1, 3)),
        example((4, 4, 3), (3,)),
        example((None, 4, 3), (5, 1, 3)),
    )
    type: Literal["Add"] = Field(description="The Keras layer class.")


@register(MERGE)
class Subtract(_ElementWise):
    """Difference of exactly two inputs."""

    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2
    examples = (example((6,), (6,)), example((4, 4, 3), (1, 4, 1)))
    type: Literal["Subtract"] = Field(description="The Keras layer class.")


@register(MERGE)
class Multiply(_ElementWise):
    """Element-wise product (gating, squeeze-and-excitation)."""

    reads_masks = True  # Keras keeps each input's masked values out of the result
    examples = (example((8, 8, 16), (1, 1, 16)), example((6,), (6,), (6,)), example((5, 1), (1, 7)))
    type: Literal["Multiply"] = Field(description="The Keras layer class.")


@register(MERGE)
class Average(_ElementWise):
    """Element-wise mean of its inputs."""

    examples = (example((6,), (6,)), example((4, 4, 3), (4, 1, 3)))
    type: Literal["Average"] = Field(description="The Keras layer class.")


@register(MERGE)
class Maximum(_ElementWise):
    """Element-wise maximum of its inputs."""

    reads_masks = True  # Keras keeps each input's masked values out of the result
    examples = (example((6,), (6,)), example((4, 4, 3), (3,)))
    type: Literal["Maximum"] = Field(description="The Keras layer class.")


@register(MERGE)
class Minimum(_ElementWise):
    """Element-wise minimum of its inputs."""

    reads_masks = True  # Keras keeps each input's masked values out of the result
    examples = (example((6,), (6,)), example((2, 3), (2, 1)))
    type: Literal["Minimum"] = Field(description="The Keras layer class.")


@register(MERGE)
class Concatenate(LayerSpec):
    """Joins its inputs along one axis (DenseNet, Inception)."""

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    max_inputs: ClassVar[int | None] = None
    # Each output position is one position of one input, also when joining along a spatial axis.
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE
    examples = (
        example((4, 4, 3), (4, 4, 5)),
        example((4, 4, 3), (2, 4, 3), axis=1),
        example((4, 4, 3), (4, 4, 1), (4, 4, 2), axis=3),
        example((4, 2, 3), (4, 5, 3), axis=-2),
        example((None, 4, 3), (None, 4, 2)),
        example((None, 4, 3), (5, 4, 2)),
    )
    type: Literal["Concatenate"] = Field(description="The Keras layer class.")
    axis: Annotated[int, Field(ge=-64, le=64)] = Field(default=-1, description="Axis to join along.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        rank = len(inputs[0])
        if any(len(s) != rank for s in inputs):
            ranks = ", ".join(format_shape(s) for s in inputs)
            raise ShapeError(f"Concatenate needs inputs of the same rank; received {ranks}", "inputs")
        axis = self.axis + rank + 1 if self.axis < 0 else self.axis
        if not 1 <= axis <= rank:
            raise ShapeError(f"`axis` {self.axis} is out of range for inputs of rank {rank + 1}", "axis")
        for j, shape in enumerate(inputs[1:], start=1):
            if any(_clash(a, b) for k, (a, b) in enumerate(zip(inputs[0], shape, strict=True)) if k != axis - 1):
                raise ShapeError(
                    f"Concatenate on axis {self.axis} needs every other dimension equal", "inputs", clash=(0, j)
                )
        # Like Keras, the other dimensions are input 0's (even where input 0's are unknown and another's known).
        joined = [s[axis - 1] for s in inputs]
        total = None if None in joined else sum(d for d in joined if d is not None)
        return (*inputs[0][: axis - 1], total, *inputs[0][axis:])


def _clash(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and a != b
