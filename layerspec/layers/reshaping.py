"""Layers that move values around without weights: padding, cropping, upsampling, flattening, reshaping."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    IMAGE,
    RESHAPE,
    AxisWindow,
    FieldRule,
    LayerSpec,
    Shape,
    ShapeError,
    check_positive,
    example,
    format_shape,
    register,
    spatial,
)
from layerspec.layers.fields import MAX_DIM, DataFormat, IntOrPair, Padding2D


def _pairs(value: int | list[int | list[int]]) -> tuple[tuple[int, int], tuple[int, int]]:
    """ZeroPadding2D/Cropping2D's spellings (n, or [rows, cols], each n or [before, after]) as
    ((top, bottom), (left, right))."""
    if isinstance(value, int):
        return (value, value), (value, value)
    rows, cols = ((v, v) if isinstance(v, int) else (v[0], v[1]) for v in value)
    return rows, cols


@register(RESHAPE)
class ZeroPadding2D(LayerSpec):
    """Adds rows and columns of zeros around an image."""

    rank: ClassVar[int] = 2
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # positions move; each still reads one (or zero)
    examples = (
        example(IMAGE),
        example(IMAGE, padding=3),
        example(IMAGE, padding=[1, 2]),
        example(IMAGE, padding=[[1, 2], [3, 0]]),
        example((None, 4, 1), padding=2),
        example(IMAGE, padding=[1, [0, 2]]),
        example(IMAGE, padding=[[2, 0], 3]),
    )
    type: Literal["ZeroPadding2D"] = Field(description="The Keras layer class.")
    padding: Padding2D = Field(
        default=1,
        description="n, or [rows, cols] with each entry n or [before, after] (e.g. [[1, 2], [3, 0]] or [1, [0, 2]]): "
        "zeros to add.",
    )
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (h, w), channels = spatial(inputs[0], self.rank, self.type)
        (top, bottom), (left, right) = _pairs(self.padding)
        return (None if h is None else h + top + bottom, None if w is None else w + left + right, channels)


@register(RESHAPE)
class Cropping2D(LayerSpec):
    """Removes rows and columns from the edges of an image."""

    rank: ClassVar[int] = 2
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE
    examples = (
        example(IMAGE, cropping=1),
        example(IMAGE, cropping=[1, 2]),
        example(IMAGE, cropping=[[0, 1], [2, 3]]),
        example(IMAGE, cropping=[1, [0, 2]]),
        example(IMAGE, cropping=[[2, 1], 0]),
    )
    type: Literal["Cropping2D"] = Field(description="The Keras layer class.")
    cropping: Padding2D = Field(
        default=0,
        description="n, or [rows, cols] with each entry n or [before, after] (e.g. [[0, 1], [2, 3]] or [1, [0, 2]]): "
        "pixels to remove.",
    )
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (h, w), channels = spatial(inputs[0], self.rank, self.type)
        (top, bottom), (left, right) = _pairs(self.cropping)
        out = (None if h is None else h - top - bottom, None if w is None else w - left - right)
        check_positive(out, self.type, "it crops away the whole image: crop less", "cropping")
        return (*out, channels)


@register(RESHAPE)
class UpSampling2D(LayerSpec):
    """Repeats rows and columns (or interpolates) to enlarge an image."""

    rank: ClassVar[int] = 2
    examples = (
        example(IMAGE),
        example(IMAGE, size=[2, 3], interpolation="bilinear"),
        example((None, 4, 1), size=3),
    )
    type: Literal["UpSampling2D"] = Field(description="The Keras layer class.")
    size: IntOrPair = Field(default=2, description="Upsampling factors for rows and columns.")
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"] = Field(
        default="nearest", description="How the new pixels are computed from the input's."
    )
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")

    def field_rule(self, inputs: list[Shape], output: Shape) -> tuple[AxisWindow, ...]:
        sizes = (self.size,) * self.rank if isinstance(self.size, int) else tuple(self.size)
        # An output position reads this many neighbouring input positions at most (1 for nearest).
        taps = {"nearest": 1, "bilinear": 2, "bicubic": 4, "lanczos3": 6, "lanczos5": 10}[self.interpolation]
        return tuple(AxisWindow(taps if s > 1 else 1, Fraction(1, s)) for s in sizes)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (h, w), channels = spatial(inputs[0], self.rank, self.type)
        sh, sw = (self.size, self.size) if isinstance(self.size, int) else self.size
        return (None if h is None else h * sh, None if w is None else w * sw, channels)


@register(RESHAPE)
class Flatten(LayerSpec):
    """Flattens everything but the batch axis."""

    receptive: ClassVar[FieldRule | None] = FieldRule.NONE
    examples = (example(IMAGE), example((6,)), example((5, 7)))
    type: Literal["Flatten"] = Field(description="The Keras layer class.")
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        return (None,) if any(d is None for d in shape) else (math.prod(d for d in shape if d is not None),)


TargetDim = Annotated[int, Field(ge=-1, le=MAX_DIM)]


@register(RESHAPE)
class Reshape(LayerSpec):
    """Reshapes to `target_shape` (batch axis excluded); one dimension may be -1."""

    # Unknown on purpose: which output position comes from which input position depends on how the axes are
    # regrouped; an output without spatial axes says "none" anyway.
    receptive: ClassVar[FieldRule | None] = FieldRule.UNKNOWN
    examples = (
        example(IMAGE, target_shape=[-1]),
        example(IMAGE, target_shape=[11, -1]),
        example((24,), target_shape=[2, 3, 4]),
        example((24,), target_shape=[-1, 2, 3]),
        example((None, 4), target_shape=[-1, 2, 2]),
    )
    type: Literal["Reshape"] = Field(description="The Keras layer class.")
    target_shape: Annotated[list[TargetDim], Field(min_length=1, max_length=16)] = Field(
        description="The new shape without the batch axis; -1 once for 'whatever is left'."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        target = list(self.target_shape)
        if target.count(-1) > 1 or 0 in target:
            raise ShapeError(f"`target_shape` {target} may hold -1 at most once and no 0", "target_shape")
        if any(d is None for d in inputs[0]):
            return tuple(None if d == -1 else d for d in target)
        total = math.prod(d for d in inputs[0] if d is not None)
        known = math.prod(d for d in target if d != -1)
        if (-1 in target and total % known) or (-1 not in target and known != total):
            raise ShapeError(
                f"cannot reshape {format_shape(inputs[0])} ({total:,} values) to {format_shape(target)}: "
                "the number of values must stay the same",
                "target_shape",
            )
        return tuple(total // known if d == -1 else d for d in target)
