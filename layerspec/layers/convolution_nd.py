"""1-D and 3-D convolutions: Conv1DTranspose, Conv3D, Conv3DTranspose, DepthwiseConv1D, SeparableConv1D.

The rules are the 2-D ones (layerspec/layers/convolution.py), written for any `rank`; each class here only sets its
rank, the argument types of that rank and its examples. TensorFlow's CPU kernels were probed for each of them (with
oneDNN on and off; float32, bfloat16 and float16; forward and gradient): the transposed ones cannot dilate without
oneDNN, as in 2-D (tests/cases/regress/transpose{1d,3d}_dilation), everything else the examples write runs.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import CONVOLUTION, SEQUENCE, example, register
from layerspec.layers.convolution import _ConvTranspose, _Depthwise, _FilterConv, _Separable
from layerspec.layers.fields import (
    ConvPadding,
    IntOrSingle,
    IntOrTriple,
    NonNegativeInt,
    NonNegativeSingle,
    NonNegativeTriple,
)

# A small volume (depth, height, width, channels): a short clip or a scan.
VOLUME = (5, 6, 7, 2)


@register(CONVOLUTION)
class Conv3D(_FilterConv):
    """3D convolution over volumes of shape (depth, height, width, channels)."""

    rank: ClassVar[int] = 3
    aliases = ("Convolution3D",)
    examples = (
        example(VOLUME, filters=4, kernel_size=3),
        example(VOLUME, filters=4, kernel_size=2, strides=2, padding="same", use_bias=False),
        example(VOLUME, filters=3, kernel_size=[1, 3, 2], strides=[1, 2, 3]),
        example(VOLUME, filters=4, kernel_size=2, dilation_rate=[1, 2, 2], padding="same"),
        example(VOLUME, filters=6, kernel_size=2, groups=2, trainable=False),
        example((None, 8, 8, 3), filters=5, kernel_size=3, strides=2, padding="same"),
    )
    type: Literal["Conv3D"] = Field(description="The Keras layer class.")
    padding: ConvPadding = Field(default="valid", description="'valid' (no padding) or 'same'.")
    kernel_size: IntOrTriple = Field(description="Depth, height and width of the convolution window.")
    strides: IntOrTriple = Field(default=1, description="Step of the window along each spatial axis.")
    dilation_rate: IntOrTriple = Field(default=1, description="Spacing between kernel taps.")


@register(CONVOLUTION)
class Conv1DTranspose(_ConvTranspose):
    """Transposed 1D convolution over inputs of shape (steps, channels)."""

    rank: ClassVar[int] = 1
    aliases = ("Convolution1DTranspose",)
    examples = (
        example(SEQUENCE, filters=4, kernel_size=3),
        example(SEQUENCE, filters=4, kernel_size=3, strides=2, padding="same"),
        example(SEQUENCE, filters=5, kernel_size=2, strides=3, use_bias=False),
        example(SEQUENCE, filters=3, kernel_size=[3], strides=[2], output_padding=1),
        example(SEQUENCE, filters=3, kernel_size=4, strides=2, output_padding=[1], padding="same"),
        example((None, 3), filters=2, kernel_size=5, strides=2, trainable=False),
    )
    type: Literal["Conv1DTranspose"] = Field(description="The Keras layer class.")
    kernel_size: IntOrSingle = Field(description="Length of the convolution window.")
    strides: IntOrSingle = Field(default=1, description="Step of the window along the sequence axis.")
    dilation_rate: IntOrSingle = Field(default=1, description="Spacing between kernel taps.")
    output_padding: NonNegativeInt | NonNegativeSingle | None = Field(
        default=None, description="Extra steps added to the end of the output; must be smaller than the stride."
    )


@register(CONVOLUTION)
class Conv3DTranspose(_ConvTranspose):
    """Transposed 3D convolution over volumes of shape (depth, height, width, channels)."""

    rank: ClassVar[int] = 3
    aliases = ("Convolution3DTranspose",)
    examples = (
        example(VOLUME, filters=4, kernel_size=3),
        example(VOLUME, filters=4, kernel_size=2, strides=2, padding="same"),
        example(VOLUME, filters=3, kernel_size=3, strides=[1, 2, 3], output_padding=[0, 1, 2]),
        example(VOLUME, filters=2, kernel_size=[2, 3, 4], strides=2, output_padding=1, padding="same"),
        example((None, 4, 4, 2), filters=3, kernel_size=2, strides=2, use_bias=False),
    )
    type: Literal["Conv3DTranspose"] = Field(description="The Keras layer class.")
    kernel_size: IntOrTriple = Field(description="Depth, height and width of the convolution window.")
    strides: IntOrTriple = Field(default=1, description="Step of the window along each spatial axis.")
    dilation_rate: IntOrTriple = Field(default=1, description="Spacing between kernel taps.")
    output_padding: NonNegativeInt | NonNegativeTriple | None = Field(
        default=None,
        description="Extra size added to one side of the output per axis; must be smaller than the stride.",
    )


@register(CONVOLUTION)
class DepthwiseConv1D(_Depthwise):
    """Depthwise 1D convolution: each input channel is convolved with its own filters."""

    # One stride only, so the unequal-strides limit of TensorFlow's depthwise kernel cannot arise (Keras runs the
    # 1-D case as a 2-D one with the same stride on both axes).
    rank: ClassVar[int] = 1
    examples = (
        example(SEQUENCE, kernel_size=3),
        example(SEQUENCE, kernel_size=3, strides=2, padding="same", depth_multiplier=2),
        example(SEQUENCE, kernel_size=[2], strides=2, dilation_rate=2, use_bias=False),
        example((None, 4), kernel_size=5, depth_multiplier=3, padding="same", trainable=False),
    )
    type: Literal["DepthwiseConv1D"] = Field(description="The Keras layer class.")
    kernel_size: IntOrSingle = Field(description="Length of the convolution window.")
    strides: IntOrSingle = Field(default=1, description="Step of the window along the sequence axis.")
    dilation_rate: IntOrSingle = Field(default=1, description="Spacing between kernel taps.")


@register(CONVOLUTION)
class SeparableConv1D(_Separable):
    """Depthwise 1D convolution followed by a pointwise (size 1) convolution."""

    rank: ClassVar[int] = 1
    aliases = ("SeparableConvolution1D",)
    examples = (
        example(SEQUENCE, filters=8, kernel_size=3),
        example(SEQUENCE, filters=4, kernel_size=3, strides=2, padding="same", depth_multiplier=2),
        example(SEQUENCE, filters=5, kernel_size=2, strides=2, dilation_rate=3, use_bias=False),
        example((None, 4), filters=3, kernel_size=[4], depth_multiplier=3, trainable=False),
    )
    type: Literal["SeparableConv1D"] = Field(description="The Keras layer class.")
    kernel_size: IntOrSingle = Field(description="Length of the convolution window.")
    strides: IntOrSingle = Field(default=1, description="Step of the window along the sequence axis.")
    dilation_rate: IntOrSingle = Field(default=1, description="Spacing between kernel taps.")
