"""Convolution layers: Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D, and the bases that the
1-D and 3-D ones (convolution_nd.py) share with them: each rule is written once, for any `rank`."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    CONVOLUTION,
    FAILS_WHEN_RUN,
    IMAGE,
    SEQUENCE,
    AxisWindow,
    LayerSpec,
    Shape,
    ShapeError,
    Weight,
    as_tuple,
    check_positive,
    conv_length,
    example,
    format_shape,
    known_channels,
    prod_known,
    register,
    spatial,
)
from layerspec.layers.fields import (
    Activation,
    Constraint,
    ConvPadding,
    DataFormat,
    IntOrPair,
    IntOrSingle,
    KernelInitializer,
    NonNegativeInt,
    NonNegativePair,
    PositiveInt,
    Regularizer,
    VectorInitializer,
)

_TOO_SMALL = "use `padding: same`, a smaller kernel or stride, or a larger input"
# Said by every refusal of something Keras builds but one of TensorFlow's CPU kernels cannot run. Which kernel runs
# depends on the CPU: with oneDNN (on by default on Intel CPUs with AVX-512) these run, without it (AVX2-only CPUs,
# or TF_ENABLE_ONEDNN_OPTS=0) and in float16 they fail, so check refuses them everywhere.
CPU_KERNEL = "TensorFlow's CPU kernel"


class _Conv(LayerSpec):
    """Arguments every Keras convolution takes; `rank` is the number of spatial dimensions."""

    rank: ClassVar[int] = 2
    # Keras's Conv1D/Conv2D/Conv2DTranspose refuse strides > 1 with dilation_rate > 1; its depthwise and separable
    # convolutions accept (and run) the combination (found by tests/fuzz).
    strides_with_dilation: ClassVar[bool] = False
    # TensorFlow's CPU kernel for transposed convolution (Conv2DBackpropInput) has no dilation.
    dilation_runs: ClassVar[bool] = True
    # TensorFlow's CPU kernel for depthwise convolution (DepthwiseConv2dNative) takes one stride for both axes.
    unequal_strides_run: ClassVar[bool] = True

    kernel_size: IntOrPair = Field(description="Height and width of the convolution window.")
    strides: IntOrPair = Field(default=1, description="Step of the window along each spatial axis.")
    # Widest of the subclasses' choices (Conv1D also takes 'causal'); the 2D layers narrow it.
    padding: Literal["valid", "same", "causal"] = Field(default="valid", description="'valid', 'same' or 'causal'.")
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")
    dilation_rate: IntOrPair = Field(default=1, description="Spacing between kernel taps.")
    activation: Activation = Field(default=None, description="Activation applied to the output.")
    use_bias: bool = Field(default=True, description="Whether to add a bias vector.")
    bias_initializer: VectorInitializer = Field(
        default="zeros",
        description="Initializer of the bias vector (an id, or a mapping with arguments).",
    )
    bias_regularizer: Regularizer = Field(default=None, description="Regularizer of the bias vector; null for none.")
    activity_regularizer: Regularizer = Field(
        default=None, description="Regularizer of the layer's output; null for none."
    )
    bias_constraint: Constraint = Field(
        default=None, description="Constraint applied to the bias vector after each update; null for none."
    )

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        strides = as_tuple(self.strides, self.rank, "strides")
        dilation = as_tuple(self.dilation_rate, self.rank, "dilation_rate")
        if max(strides) > 1 and max(dilation) > 1 and not self.strides_with_dilation:
            raise ShapeError("`strides` > 1 cannot be combined with `dilation_rate` > 1 (Keras refuses it)", "strides")
        if not self.unequal_strides_run and len(set(strides)) > 1:
            raise ShapeError(
                f"unequal `strides` {list(strides)} cannot run: {CPU_KERNEL} for {self.type} takes the same "
                f"stride along every spatial axis (it runs only where oneDNN is on); use `strides: {max(strides)}` "
                "or pool one axis separately",
                "strides",
            )
        if not self.dilation_runs and max(dilation) > 1:
            raise ShapeError(
                f"`dilation_rate` {list(dilation)} cannot run: {CPU_KERNEL} for {self.type} has no dilation "
                "(it runs only where oneDNN is on); leave `dilation_rate` at 1",
                "dilation_rate",
            )
        return kernel, strides, dilation

    def field_rule(self, inputs: list[Shape], output: Shape) -> tuple[AxisWindow, ...]:
        kernel, strides, dilation = self.window()
        return tuple(
            AxisWindow(k + (k - 1) * (r - 1), Fraction(s)) for k, s, r in zip(kernel, strides, dilation, strict=True)
        )

    def spatial_out(self, shape: Shape) -> tuple[Shape, int]:
        dims, channels = spatial(shape, self.rank, self.type)
        kernel, strides, dilation = self.window()
        out = tuple(
            conv_length(d, k, s, self.padding, r) for d, k, s, r in zip(dims, kernel, strides, dilation, strict=True)
        )
        span = tuple(k + (k - 1) * (r - 1) for k, r in zip(kernel, dilation, strict=True))
        window = "x".join(map(str, span)) + (" (dilated)" if max(dilation) > 1 else "")
        hint = f"the {window} kernel does not fit in the {format_shape(dims)} input: {_TOO_SMALL}"
        check_positive(out, self.type, hint, "kernel_size")
        return out, known_channels(channels, self.type)

    def bias(self, size: int) -> list[Weight]:
        return [Weight("bias", (size,), self.trainable)] if self.use_bias else []


class _FilterConv(_Conv):
    keras_kernel: ClassVar[str | None] = "kernel"
    filters: PositiveInt = Field(description="Number of output channels.")
    groups: PositiveInt = Field(default=1, description="Number of groups the channels are split into.")
    kernel_initializer: KernelInitializer = Field(
        default="glorot_uniform",
        description="Initializer of the kernel (an id, or a mapping with arguments).",
    )
    kernel_regularizer: Regularizer = Field(default=None, description="Regularizer of the kernel; null for none.")
    kernel_constraint: Constraint = Field(
        default=None, description="Constraint applied to the kernel after each update; null for none."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        out, channels = self.spatial_out(inputs[0])
        self.check_groups(channels)
        return (*out, self.filters)

    def check_groups(self, channels: int) -> None:
        if self.filters % self.groups:
            raise ShapeError(f"`filters` ({self.filters}) must be divisible by `groups` ({self.groups})", "groups")
        if channels % self.groups:
            raise ShapeError(f"the input's {channels} channels must be divisible by `groups` ({self.groups})", "groups")

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        channels = known_channels(inputs[0][-1], self.type)
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        shape = (*kernel, channels // self.groups, self.filters)
        return [Weight("kernel", shape, self.trainable), *self.bias(self.filters)]

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        channels = known_channels(inputs[0][-1], self.type)
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        return prod_known(output) * math.prod(kernel) * (channels // self.groups)


@register(CONVOLUTION)
class Conv1D(_FilterConv):
    """1D convolution (temporal convolution) over inputs of shape (steps, channels)."""

    rank: ClassVar[int] = 1
    examples = (
        example(SEQUENCE, filters=8, kernel_size=3),
        example(SEQUENCE, filters=6, kernel_size=5, strides=2, padding="same", use_bias=False),
        example(SEQUENCE, filters=4, kernel_size=[3], dilation_rate=2, padding="causal"),
        example(SEQUENCE, filters=9, kernel_size=3, groups=3),
        example((None, 6), filters=5, kernel_size=4, strides=3),
    )
    type: Literal["Conv1D"] = Field(description="The Keras layer class.")
    aliases = ("Convolution1D",)
    kernel_size: IntOrSingle = Field(description="Length of the convolution window.")
    strides: IntOrSingle = Field(default=1, description="Step of the window along the sequence axis.")
    dilation_rate: IntOrSingle = Field(default=1, description="Spacing between kernel taps.")


@register(CONVOLUTION)
class Conv2D(_FilterConv):
    """2D convolution over images of shape (height, width, channels)."""

    examples = (
        example(IMAGE, filters=8, kernel_size=3),
        example(IMAGE, filters=8, kernel_size=3, strides=2, padding="same"),
        example(IMAGE, filters=8, kernel_size=[3, 5], strides=[1, 2]),
        example(IMAGE, filters=6, kernel_size=3, dilation_rate=2, use_bias=False),
        example((16, 16, 8), filters=16, kernel_size=3, groups=4, padding="same"),
        example(IMAGE, filters=4, kernel_size=1, trainable=False),
        example((None, None, 3), filters=5, kernel_size=7, strides=2, padding="same"),
        example((15, 15, 3), filters=4, kernel_size=4, strides=3),
    )
    type: Literal["Conv2D"] = Field(description="The Keras layer class.")
    aliases = ("Convolution2D",)
    padding: ConvPadding = Field(default="valid", description="'valid' (no padding) or 'same'.")


class _ConvTranspose(_Conv):
    """A transposed convolution of any rank: the output length per axis follows Keras's
    `compute_conv_transpose_output_shape`."""

    keras_kernel: ClassVar[str | None] = "kernel"

    dilation_runs: ClassVar[bool] = False
    padding: ConvPadding = Field(default="valid", description="'valid' (no padding) or 'same'.")
    filters: PositiveInt = Field(description="Number of output channels.")
    output_padding: NonNegativeInt | NonNegativePair | None = Field(
        default=None,
        description="Extra size added to one side of the output; must be smaller than the stride.",
    )
    kernel_initializer: KernelInitializer = Field(
        default="glorot_uniform",
        description="Initializer of the kernel (an id, or a mapping with arguments).",
    )
    kernel_regularizer: Regularizer = Field(default=None, description="Regularizer of the kernel; null for none.")
    kernel_constraint: Constraint = Field(
        default=None, description="Constraint applied to the kernel after each update; null for none."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        dims, channels = spatial(inputs[0], self.rank, self.type)
        known_channels(channels, self.type)
        kernel, strides, dilation = self.window()
        extra = None if self.output_padding is None else as_tuple(self.output_padding, self.rank, "output_padding")
        out = []
        for i, size in enumerate(dims):
            effective = kernel[i] + (kernel[i] - 1) * (dilation[i] - 1)
            out.append(self.transpose_length(size, effective, strides[i], None if extra is None else extra[i]))
        check_positive(tuple(out), self.type, _TOO_SMALL, "kernel_size")
        return (*out, self.filters)

    def field_rule(self, inputs: list[Shape], output: Shape) -> tuple[AxisWindow, ...]:
        # Output position o gathers input positions i with o = i * stride + tap (- padding): of `kernel` taps at
        # most ceil(kernel / stride) land on input positions, and one input step is `stride` output steps.
        kernel, strides, dilation = self.window()
        spans = (k + (k - 1) * (r - 1) for k, r in zip(kernel, dilation, strict=True))
        return tuple(AxisWindow(-(-k // s), Fraction(1, s)) for k, s in zip(spans, strides, strict=True))

    def transpose_length(self, size: int | None, kernel: int, stride: int, extra: int | None) -> int | None:
        if extra is not None and extra >= stride:
            raise ShapeError(f"`output_padding` ({extra}) must be smaller than `strides` ({stride})", "output_padding")
        if self.padding == "same" and kernel % 2 == 0 and extra == 0:
            # Keras builds this, but the convolution it transposes cannot map that output back onto the input,
            # so the model fails when it runs (found by tests/fuzz).
            raise ShapeError(
                f"`output_padding` 0 with `padding: same` and an even kernel ({kernel}) cannot run ({FAILS_WHEN_RUN}): "
                "use output_padding 1 or more, an odd kernel, or leave output_padding out",
                "output_padding",
            )
        if size is None:
            return None
        if extra is None:
            return size * stride + max(kernel - stride, 0) if self.padding == "valid" else size * stride
        pad = kernel // 2 if self.padding == "same" else 0
        return (size - 1) * stride + kernel - 2 * pad + extra

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        channels = known_channels(inputs[0][-1], self.type)
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        return [Weight("kernel", (*kernel, self.filters, channels), self.trainable), *self.bias(self.filters)]

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        channels = known_channels(inputs[0][-1], self.type)
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        return prod_known(inputs[0][:-1]) * math.prod(kernel) * channels * self.filters


@register(CONVOLUTION)
class Conv2DTranspose(_ConvTranspose):
    """Transposed 2D convolution (sometimes called deconvolution)."""

    type: Literal["Conv2DTranspose"] = Field(description="The Keras layer class.")
    aliases = ("Convolution2DTranspose",)
    examples = (
        example(IMAGE, filters=8, kernel_size=3),
        example(IMAGE, filters=8, kernel_size=3, strides=2, padding="same"),
        example(IMAGE, filters=5, kernel_size=3, strides=2),
        example(IMAGE, filters=5, kernel_size=2, strides=3),
        example(IMAGE, filters=4, kernel_size=3, strides=2, padding="same", output_padding=1),
        # output_padding 0 with an even kernel under padding same builds but cannot run (tests/fuzz): 2, not 0.
        example(IMAGE, filters=4, kernel_size=[3, 4], strides=[2, 3], output_padding=[1, 2], padding="same"),
        example(IMAGE, filters=4, kernel_size=4, strides=2, output_padding=1, use_bias=False),
        # dilation_rate > 1 is refused: TensorFlow's CPU kernel cannot run it (tests/cases/regress/transpose_dilation).
        example((None, 7, 2), filters=3, kernel_size=3, strides=2),
    )


class _DepthwiseBase(_Conv):
    strides_with_dilation: ClassVar[bool] = True
    unequal_strides_run: ClassVar[bool] = False
    padding: ConvPadding = Field(default="valid", description="'valid' (no padding) or 'same'.")
    depth_multiplier: PositiveInt = Field(default=1, description="Output channels per input channel.")
    depthwise_initializer: KernelInitializer = Field(
        default="glorot_uniform",
        description="Initializer of the depthwise kernel (an id, or a mapping with arguments).",
    )
    depthwise_regularizer: Regularizer = Field(
        default=None, description="Regularizer of the depthwise kernel; null for none."
    )
    depthwise_constraint: Constraint = Field(
        default=None, description="Constraint applied to the depthwise kernel after each update; null for none."
    )

    def depthwise_weight(self, channels: int) -> Weight:
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        return Weight("depthwise_kernel", (*kernel, channels, self.depth_multiplier), self.trainable)


class _Depthwise(_DepthwiseBase):
    """A depthwise convolution of any rank."""

    keras_kernel: ClassVar[str | None] = "depthwise_kernel"  # Keras names it `kernel`

    def output_shape(self, inputs: list[Shape]) -> Shape:
        out, channels = self.spatial_out(inputs[0])
        return (*out, channels * self.depth_multiplier)

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        channels = known_channels(inputs[0][-1], self.type)
        return [self.depthwise_weight(channels), *self.bias(channels * self.depth_multiplier)]

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        return prod_known(output) * math.prod(kernel)


@register(CONVOLUTION)
class DepthwiseConv2D(_Depthwise):
    """Depthwise 2D convolution: each input channel is convolved with its own filters."""

    type: Literal["DepthwiseConv2D"] = Field(description="The Keras layer class.")
    examples = (
        example(IMAGE, kernel_size=3),
        example(IMAGE, kernel_size=3, strides=2, padding="same", depth_multiplier=2),
        example(IMAGE, kernel_size=[3, 2], dilation_rate=2, use_bias=False),
        example(IMAGE, kernel_size=5, depth_multiplier=3, padding="same", trainable=False),
    )


class _Separable(_DepthwiseBase):
    """A depthwise convolution followed by a pointwise one, of any rank."""

    filters: PositiveInt = Field(description="Number of output channels of the pointwise step.")
    pointwise_initializer: KernelInitializer = Field(
        default="glorot_uniform",
        description="Initializer of the pointwise (1x1) kernel (an id, or a mapping with arguments).",
    )
    pointwise_regularizer: Regularizer = Field(
        default=None, description="Regularizer of the pointwise kernel; null for none."
    )
    pointwise_constraint: Constraint = Field(
        default=None, description="Constraint applied to the pointwise kernel after each update; null for none."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        out, _ = self.spatial_out(inputs[0])
        return (*out, self.filters)

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        channels = known_channels(inputs[0][-1], self.type)
        depth = channels * self.depth_multiplier
        pointwise = Weight("pointwise_kernel", (*(1,) * self.rank, depth, self.filters), self.trainable)
        return [self.depthwise_weight(channels), pointwise, *self.bias(self.filters)]

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        channels = known_channels(inputs[0][-1], self.type)
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        positions = prod_known(output[:-1])
        depth = channels * self.depth_multiplier
        return positions * (math.prod(kernel) * depth + depth * self.filters)


@register(CONVOLUTION)
class SeparableConv2D(_Separable):
    """Depthwise convolution followed by a pointwise (1x1) convolution."""

    type: Literal["SeparableConv2D"] = Field(description="The Keras layer class.")
    aliases = ("SeparableConvolution2D",)
    examples = (
        example(IMAGE, filters=8, kernel_size=3),
        example(IMAGE, filters=8, kernel_size=3, strides=2, padding="same", depth_multiplier=3),
        example(IMAGE, filters=6, kernel_size=3, dilation_rate=2, use_bias=False),
        example(IMAGE, filters=6, kernel_size=[1, 3], depth_multiplier=2, trainable=False),
    )
