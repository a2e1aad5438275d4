"""Convolutional LSTMs: ConvLSTM1D, ConvLSTM2D and ConvLSTM3D, an LSTM whose gates are convolutions."""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    RECURRENT,
    Masking,
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
)
from layerspec.layers.fields import Activation, ConvPadding, DataFormat, KernelInitializer, PositiveInt
from layerspec.layers.recurrent import RecurrentBase

Triple = Annotated[list[PositiveInt], Field(min_length=3, max_length=3)]
Pair = Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]
Single = Annotated[list[PositiveInt], Field(min_length=1, max_length=1)]
Window = PositiveInt | Single | Pair | Triple


class _ConvLSTM(RecurrentBase):
    """(steps, *spatial, channels) in; every step is convolved, so the state is a feature map."""

    gates = 4
    states = 2
    conv_rank: ClassVar[int] = 2

    filters: PositiveInt = Field(description="Number of output channels (of the output and of each state).")
    kernel_size: Window = Field(description="Size of the convolution window along each spatial axis.")
    strides: Window = Field(default=1, description="Step of the input convolution along each spatial axis.")
    padding: ConvPadding = Field(default="valid", description="'valid' or 'same' (the input convolution).")
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")
    dilation_rate: Window = Field(default=1, description="Spacing between kernel taps of the input convolution.")
    recurrent_activation: Activation = Field(default="sigmoid", description="Activation of the gates.")
    # Keras's `identity` initializer needs a 2D weight, and these kernels have the window's axes too.
    kernel_initializer: KernelInitializer = Field(
        default="glorot_uniform",
        description="Initializer of the input kernel (an id, or a mapping with arguments).",
    )
    recurrent_initializer: KernelInitializer = Field(
        default="orthogonal",
        description="Initializer of the recurrent kernel (an id, or a mapping with arguments).",
    )
    unit_forget_bias: bool = Field(default=True, description="Whether the forget gate's bias starts at 1.")

    # With a mask, Keras keeps the previous output and states where a step is masked, selecting between them and
    # the new ones, which needs frames of the input's size (found by tests/fuzz: "Incompatible shape for value").
    mask_failure: ClassVar[str] = (
        "with a mask, Keras's ConvLSTM keeps the input's frame where a step is masked, so it runs only with frames "
        "of the input's size (`padding: same` or a kernel of 1, and `strides` 1)"
    )

    @property
    def masking(self) -> Masking:  # type: ignore[override]
        """Masks are consumed when the frames keep their size, and make the model fail when it runs otherwise."""
        kernel = as_tuple(self.kernel_size, self.conv_rank, "kernel_size")
        strides = as_tuple(self.strides, self.conv_rank, "strides")
        keeps = max(strides) == 1 and (self.padding == "same" or max(kernel) == 1)
        return "consume" if keeps else "fails"

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        kernel = as_tuple(self.kernel_size, self.conv_rank, "kernel_size")
        strides = as_tuple(self.strides, self.conv_rank, "strides")
        dilation = as_tuple(self.dilation_rate, self.conv_rank, "dilation_rate")
        if max(strides) > 1 and max(dilation) > 1:
            raise ShapeError("`strides` > 1 cannot be combined with `dilation_rate` > 1 (Keras refuses it)", "strides")
        return kernel, strides, dilation

    def split(self, shape: Shape) -> tuple[int | None, Shape, int]:
        if len(shape) != self.conv_rank + 2:
            raise ShapeError(
                f"{self.type} expects an input of rank {self.conv_rank + 3} (batch, steps, {self.conv_rank} spatial "
                f"dimension(s), channels); received shape {format_shape(shape)}"
            )
        if None in shape[1:-1]:
            raise ShapeError(
                f"{self.type} needs every frame size known (Keras builds its states from them); received shape "
                f"{format_shape(shape)}: give the input's spatial sizes"
            )
        return shape[0], shape[1:-1], known_channels(shape[-1], self.type)

    def step_output(self, inputs: list[Shape]) -> tuple[int | None, Shape]:
        steps, dims, _ = self.split(inputs[0])
        kernel, strides, dilation = self.window()
        out = tuple(
            conv_length(d, k, s, self.padding, r) for d, k, s, r in zip(dims, kernel, strides, dilation, strict=True)
        )
        hint = f"the kernel {list(kernel)} does not fit in the {format_shape(dims)} frames: use `padding: same`"
        check_positive(out, self.type, hint, "kernel_size")
        return steps, (*out, self.filters)

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        _, _, channels = self.split(inputs[0])
        kernel, _, _ = self.window()
        width = self.gates * self.filters
        found = [
            Weight("kernel", (*kernel, channels, width), self.trainable),
            Weight("recurrent_kernel", (*kernel, self.filters, width), self.trainable),
        ]
        return found + ([Weight("bias", (width,), self.trainable)] if self.use_bias else [])

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        steps, _, channels = self.split(inputs[0])
        kernel, _, _ = self.window()
        _, frame = self.step_output(inputs)
        per_position = math.prod(kernel) * (channels + self.filters) * self.gates * self.filters
        return (steps or 1) * prod_known(frame[:-1]) * per_position


@register(RECURRENT)
class ConvLSTM1D(_ConvLSTM):
    """Convolutional LSTM over sequences of 1-D signals: (steps, length, channels)."""

    rank = 2
    conv_rank = 1
    examples = (
        example((5, 12, 3), filters=4, kernel_size=3),
        example((5, 12, 3), filters=2, kernel_size=3, padding="same", return_sequences=True, return_state=True),
        example((None, 10, 2), filters=3, kernel_size=[2], strides=2, use_bias=False),
    )
    type: Literal["ConvLSTM1D"] = Field(description="The Keras layer class.")


@register(RECURRENT)
class ConvLSTM2D(_ConvLSTM):
    """Convolutional LSTM over video frames: (steps, height, width, channels)."""

    rank = 3
    conv_rank = 2
    examples = (
        example((4, 9, 11, 3), filters=4, kernel_size=3),
        example((4, 9, 11, 3), filters=2, kernel_size=[3, 2], padding="same", return_sequences=True),
        example((None, 8, 8, 2), filters=3, kernel_size=3, dilation_rate=2, return_state=True),
    )
    type: Literal["ConvLSTM2D"] = Field(description="The Keras layer class.")


@register(RECURRENT)
class ConvLSTM3D(_ConvLSTM):
    """Convolutional LSTM over sequences of volumes: (steps, depth, height, width, channels)."""

    rank = 4
    conv_rank = 3
    examples = (
        example((3, 6, 7, 8, 2), filters=2, kernel_size=3),
        example((3, 6, 7, 8, 2), filters=3, kernel_size=[1, 3, 3], strides=[1, 2, 2], return_sequences=True),
    )
    type: Literal["ConvLSTM3D"] = Field(description="The Keras layer class.")
