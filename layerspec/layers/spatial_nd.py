"""1-D and 3-D spatial reshaping and dropout: Cropping1D/3D, ZeroPadding1D/3D, UpSampling1D/3D, SpatialDropout1D/3D.

Each rule works per spatial axis, so one implementation serves every rank: the 1-D and 3-D classes set their rank
and the argument spellings Keras accepts at that rank.
"""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    REGULARIZATION,
    RESHAPE,
    SEQUENCE,
    AxisWindow,
    FieldRule,
    LayerSpec,
    Masking,
    Shape,
    ShapeError,
    check_positive,
    example,
    register,
    spatial,
)
from layerspec.layers.convolution_nd import VOLUME
from layerspec.layers.fields import DataFormat, IntOrTriple, Padding1D, Padding3D, PositiveInt, Rate, Seed

Sides = tuple[tuple[int, int], ...]


def sides(value: int | list[int] | list[int | list[int]], rank: int, what: str) -> Sides:
    """(before, after) per spatial axis from Keras's spellings: n; [before, after] for one axis; or, for several
    axes, one entry per axis, each n or [before, after]."""
    if isinstance(value, int):
        return ((value, value),) * rank
    if rank == 1:
        before, after = value
        assert isinstance(before, int) and isinstance(after, int)  # the field type allows nothing else
        return ((before, after),)
    if len(value) != rank:
        raise ShapeError(f"`{what}` needs one entry per spatial axis ({rank}); received {value}", what)
    return tuple((v, v) if isinstance(v, int) else (v[0], v[1]) for v in value)


def _grown(dims: Shape, amounts: Sides, sign: int) -> Shape:
    return tuple(None if d is None else d + sign * (a + b) for d, (a, b) in zip(dims, amounts, strict=True))


class _ZeroPadding(LayerSpec):
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # positions move; each still reads one (or zero)
    rank: ClassVar[int] = 1
    padding: Padding1D | Padding3D = Field(default=1, description="Zeros to add.")  # each subclass narrows it

    def output_shape(self, inputs: list[Shape]) -> Shape:
        dims, channels = spatial(inputs[0], self.rank, self.type)
        return (*_grown(dims, sides(self.padding, self.rank, "padding"), 1), channels)


class _Cropping(LayerSpec):
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # positions move; each still reads one
    rank: ClassVar[int] = 1
    cropping: Padding1D | Padding3D = Field(default=1, description="Positions to remove.")  # narrowed likewise

    def output_shape(self, inputs: list[Shape]) -> Shape:
        dims, channels = spatial(inputs[0], self.rank, self.type)
        out = _grown(dims, sides(self.cropping, self.rank, "cropping"), -1)
        check_positive(out, self.type, "it crops away a whole axis: crop less", "cropping")
        return (*out, channels)


@register(RESHAPE)
class ZeroPadding1D(_ZeroPadding):
    """Adds zeros at the start and end of a sequence."""

    rank: ClassVar[int] = 1
    examples = (example(SEQUENCE), example(SEQUENCE, padding=3), example((None, 2), padding=[0, 4]))
    type: Literal["ZeroPadding1D"] = Field(description="The Keras layer class.")
    padding: Padding1D = Field(default=1, description="n, or [start, end]: steps of zeros to add.")
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")


@register(RESHAPE)
class ZeroPadding3D(_ZeroPadding):
    """Adds zeros around a volume."""

    rank: ClassVar[int] = 3
    examples = (
        example(VOLUME),
        example(VOLUME, padding=2),
        example(VOLUME, padding=[1, 0, 2]),
        example(VOLUME, padding=[[1, 0], [2, 1], [0, 3]]),
        example((None, 3, 3, 1), padding=[1, [0, 2], 0]),
    )
    type: Literal["ZeroPadding3D"] = Field(description="The Keras layer class.")
    padding: Padding3D = Field(
        default=1,
        description="n, or one entry per axis (depth, height, width), each n or [before, after]: zeros to add "
        "(default: 1 on every side).",
    )
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")


@register(RESHAPE)
class Cropping1D(_Cropping):
    """Removes steps from the start and end of a sequence."""

    rank: ClassVar[int] = 1
    examples = (example(SEQUENCE), example(SEQUENCE, cropping=[2, 0]), example((None, 3), cropping=4))
    type: Literal["Cropping1D"] = Field(description="The Keras layer class.")
    cropping: Padding1D = Field(default=1, description="n, or [start, end]: steps to remove (default: 1 each).")


@register(RESHAPE)
class Cropping3D(_Cropping):
    """Removes positions from the faces of a volume."""

    rank: ClassVar[int] = 3
    examples = (
        example(VOLUME),
        example(VOLUME, cropping=0),
        example(VOLUME, cropping=[1, 2, 0]),
        example(VOLUME, cropping=[[1, 0], [2, 1], [0, 3]]),
        example((None, 4, 5, 2), cropping=[0, [1, 2], 1]),
    )
    type: Literal["Cropping3D"] = Field(description="The Keras layer class.")
    cropping: Padding3D = Field(
        default=1,
        description="n, or one entry per axis (depth, height, width), each n or [before, after]: positions to "
        "remove (default: 1 on every side).",
    )
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")


@register(RESHAPE)
class UpSampling1D(LayerSpec):
    """Repeats each step `size` times."""

    rank: ClassVar[int] = 1
    examples = (example(SEQUENCE), example(SEQUENCE, size=3), example((None, 2), size=1))
    type: Literal["UpSampling1D"] = Field(description="The Keras layer class.")
    size: PositiveInt = Field(default=2, description="How many times each step is repeated.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (steps,), channels = spatial(inputs[0], self.rank, self.type)
        return (None if steps is None else steps * self.size, channels)

    def field_rule(self, inputs: list[Shape], output: Shape) -> tuple[AxisWindow, ...]:
        # Each output position repeats one input position; the window moves 1 / size of a position per step.
        sizes = (self.size,) * self.rank if isinstance(self.size, int) else tuple(self.size)
        return tuple(AxisWindow(1, Fraction(1, s)) for s in sizes)


@register(RESHAPE)
class UpSampling3D(LayerSpec):
    """Repeats each position along depth, height and width."""

    rank: ClassVar[int] = 3
    examples = (example(VOLUME), example(VOLUME, size=[1, 2, 3]), example((None, 2, 2, 1), size=3))
    type: Literal["UpSampling3D"] = Field(description="The Keras layer class.")
    size: IntOrTriple = Field(default=2, description="Upsampling factors for depth, height and width.")
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        dims, channels = spatial(inputs[0], self.rank, self.type)
        factors = (self.size,) * self.rank if isinstance(self.size, int) else tuple(self.size)
        return (*(None if d is None else d * f for d, f in zip(dims, factors, strict=True)), channels)

    def field_rule(self, inputs: list[Shape], output: Shape) -> tuple[AxisWindow, ...]:
        # Each output position repeats one input position; the window moves 1 / size of a position per step.
        sizes = (self.size,) * self.rank if isinstance(self.size, int) else tuple(self.size)
        return tuple(AxisWindow(1, Fraction(1, s)) for s in sizes)


class _SpatialDropout(LayerSpec):
    rank: ClassVar[int] = 1
    masking: ClassVar[Masking] = "pass"  # passes a mask on, as SpatialDropout2D
    # Keras's spatial dropouts take no `trainable` (and no **kwargs), so it is no argument here either (as for
    # SpatialDropout2D, found by tests/fuzz); they have no weights to freeze anyway.
    trainable: ClassVar[bool] = True  # type: ignore[misc]
    rate: Rate
    seed: Seed = Field(default=None, description="Random seed.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        spatial(inputs[0], self.rank, self.type)
        return inputs[0]


@register(REGULARIZATION)
class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of a sequence instead of single values."""

    rank: ClassVar[int] = 1
    examples = (example(SEQUENCE, rate=0.2), example((None, 3), rate=0.5, seed=1))
    type: Literal["SpatialDropout1D"] = Field(description="The Keras layer class.")


@register(REGULARIZATION)
class SpatialDropout3D(_SpatialDropout):
    """Drops whole feature volumes instead of single values."""

    rank: ClassVar[int] = 3
    examples = (example(VOLUME, rate=0.2), example(VOLUME, rate=0.5, seed=1))
    type: Literal["SpatialDropout3D"] = Field(description="The Keras layer class.")
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")
