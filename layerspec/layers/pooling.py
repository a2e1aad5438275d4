"""Pooling layers, local (1D, 2D) and global; the 3-D and adaptive ones are in pooling_nd.py."""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    IMAGE,
    POOLING,
    SEQUENCE,
    AxisWindow,
    FieldRule,
    LayerSpec,
    Shape,
    as_tuple,
    check_positive,
    conv_length,
    example,
    register,
    spatial,
)
from layerspec.layers.fields import ConvPadding, DataFormat, IntOrPair, IntOrSingle


class _Pooling(LayerSpec):
    rank: ClassVar[int] = 2

    pool_size: IntOrPair = Field(default=2, description="Size of the pooling window.")
    strides: IntOrPair | None = Field(default=None, description="Step of the window; default: pool_size.")
    padding: ConvPadding = Field(default="valid", description="'valid' or 'same'.")
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")

    def field_rule(self, inputs: list[Shape], output: Shape) -> tuple[AxisWindow, ...]:
        pool = as_tuple(self.pool_size, self.rank, "pool_size")
        strides = pool if self.strides is None else as_tuple(self.strides, self.rank, "strides")
        return tuple(AxisWindow(p, Fraction(s)) for p, s in zip(pool, strides, strict=True))

    def output_shape(self, inputs: list[Shape]) -> Shape:
        dims, channels = spatial(inputs[0], self.rank, self.type)
        pool = as_tuple(self.pool_size, self.rank, "pool_size")
        strides = pool if self.strides is None else as_tuple(self.strides, self.rank, "strides")
        out = tuple(conv_length(d, p, s, self.padding) for d, p, s in zip(dims, pool, strides, strict=True))
        check_positive(out, self.type, "the pool window is larger than its input: use `padding: same`", "pool_size")
        return (*out, channels)


class _Pooling1D(_Pooling):
    rank: ClassVar[int] = 1
    pool_size: IntOrSingle = Field(default=2, description="Size of the pooling window.")
    strides: IntOrSingle | None = Field(default=None, description="Step of the window; default: pool_size.")


@register(POOLING)
class MaxPooling2D(_Pooling):
    """Maximum over 2D windows."""

    examples = (
        example(IMAGE),
        example(IMAGE, pool_size=3, strides=2, padding="same"),
        example(IMAGE, pool_size=[2, 3], strides=1),
        example((7, 7, 2), pool_size=3, strides=2),
        example((None, 8, 2), pool_size=2),
    )
    type: Literal["MaxPooling2D"] = Field(description="The Keras layer class.")
    aliases = ("MaxPool2D",)


@register(POOLING)
class AveragePooling2D(_Pooling):
    """Average over 2D windows."""

    examples = (
        example(IMAGE, pool_size=2),
        example(IMAGE, pool_size=3, strides=2, padding="same"),
        example(IMAGE, pool_size=[3, 2], strides=[1, 2]),
    )
    type: Literal["AveragePooling2D"] = Field(description="The Keras layer class.")
    aliases = ("AvgPool2D",)
    pool_size: IntOrPair = Field(description="Size of the pooling window (Keras has no default for it).")


@register(POOLING)
class MaxPooling1D(_Pooling1D):
    """Maximum over 1D windows."""

    examples = (
        example(SEQUENCE),
        example(SEQUENCE, pool_size=3, strides=1, padding="same"),
        example((7, 2), pool_size=[2], strides=[3]),
    )
    type: Literal["MaxPooling1D"] = Field(description="The Keras layer class.")
    aliases = ("MaxPool1D",)


@register(POOLING)
class AveragePooling1D(_Pooling1D):
    """Average over 1D windows."""

    examples = (example(SEQUENCE, pool_size=2), example(SEQUENCE, pool_size=3, strides=2, padding="same"))
    type: Literal["AveragePooling1D"] = Field(description="The Keras layer class.")
    aliases = ("AvgPool1D",)
    pool_size: IntOrSingle = Field(description="Size of the pooling window (Keras has no default for it).")


class _GlobalPooling(LayerSpec):
    rank: ClassVar[int] = 2
    # Every position is read; with keepdims the (1, 1, C) output is the whole input's, without it has no positions.
    receptive: ClassVar[FieldRule | None] = FieldRule.GLOBAL
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")
    keepdims: bool = Field(default=False, description="Keep the pooled spatial axes with size 1.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _, channels = spatial(inputs[0], self.rank, self.type)
        return (*(1,) * self.rank, channels) if self.keepdims else (channels,)


@register(POOLING)
class GlobalAveragePooling2D(_GlobalPooling):
    """Average over all spatial positions."""

    examples = (example(IMAGE), example(IMAGE, keepdims=True), example((None, None, 5)))
    type: Literal["GlobalAveragePooling2D"] = Field(description="The Keras layer class.")
    aliases = ("GlobalAvgPool2D",)


@register(POOLING)
class GlobalMaxPooling2D(_GlobalPooling):
    """Maximum over all spatial positions."""

    examples = (example(IMAGE), example(IMAGE, keepdims=True))
    type: Literal["GlobalMaxPooling2D"] = Field(description="The Keras layer class.")
    aliases = ("GlobalMaxPool2D",)


@register(POOLING)
class GlobalAveragePooling1D(_GlobalPooling):
    """Average over all steps."""

    masking = "consume"  # uses a mask and outputs none
    rank: ClassVar[int] = 1
    examples = (example(SEQUENCE), example(SEQUENCE, keepdims=True))
    type: Literal["GlobalAveragePooling1D"] = Field(description="The Keras layer class.")
    aliases = ("GlobalAvgPool1D",)


@register(POOLING)
class GlobalMaxPooling1D(_GlobalPooling):
    """Maximum over all steps."""

    rank: ClassVar[int] = 1
    examples = (example(SEQUENCE), example(SEQUENCE, keepdims=True))
    type: Literal["GlobalMaxPooling1D"] = Field(description="The Keras layer class.")
    aliases = ("GlobalMaxPool1D",)
