"""Densely connected layer."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import DENSE, FieldRule, LayerSpec, Shape, ShapeError, Weight, example, prod_known, register
from layerspec.layers.fields import (
    Activation,
    Constraint,
    Initializer,
    KernelRegularizer2D,
    PositiveInt,
    Regularizer,
    VectorInitializer,
)


@register(DENSE)
class Dense(LayerSpec):
    """Fully connected layer applied to the last axis of its input."""

    keras_kernel: ClassVar[str | None] = "kernel"

    # It mixes only the last (channel) axis: on (H, W, C) a 1x1 convolution; on a vector there are no positions.
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    examples = (
        example((16,), units=10),
        example((5, 7), units=3),
        example((16,), units=4, use_bias=False, activation="relu"),
        example((16,), units=4, trainable=False),
        example((None, 7), units=1),
    )
    type: Literal["Dense"] = Field(description="The Keras layer class.")
    units: PositiveInt = Field(description="Number of output units.")
    activation: Activation = Field(default=None, description="Activation applied to the output.")
    use_bias: bool = Field(default=True, description="Whether to add a bias vector.")
    kernel_initializer: Initializer = Field(
        default="glorot_uniform",
        description="Initializer of the kernel (an id, or a mapping with arguments).",
    )
    bias_initializer: VectorInitializer = Field(
        default="zeros",
        description="Initializer of the bias vector (an id, or a mapping with arguments).",
    )
    kernel_regularizer: KernelRegularizer2D = Field(
        default=None, description="Regularizer of the kernel; null for none."
    )
    bias_regularizer: Regularizer = Field(default=None, description="Regularizer of the bias vector; null for none.")
    activity_regularizer: Regularizer = Field(
        default=None, description="Regularizer of the layer's output; null for none."
    )
    kernel_constraint: Constraint = Field(
        default=None, description="Constraint applied to the kernel after each update; null for none."
    )
    bias_constraint: Constraint = Field(
        default=None, description="Constraint applied to the bias vector after each update; null for none."
    )

    def features(self, shape: Shape) -> int:
        if not shape or shape[-1] is None:
            raise ShapeError(
                f"Dense needs an input whose last dimension is known; received shape {shape}. "
                "Add a Flatten or GlobalAveragePooling2D layer before it"
            )
        return shape[-1]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        self.features(inputs[0])
        return (*inputs[0][:-1], self.units)

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        kernel = Weight("kernel", (self.features(inputs[0]), self.units), self.trainable)
        return [kernel, Weight("bias", (self.units,), self.trainable)] if self.use_bias else [kernel]

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return prod_known(inputs[0]) * self.units
