"""Regularisation layers that add noise or a penalty while training and pass values through at inference:
AlphaDropout, GaussianDropout, GaussianNoise, ActivityRegularization.

MACs: 0 (an element-wise random mask or sum is not multiply-accumulate work, as for Dropout).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.augmentation import FAILS_WHEN_RUN
from layerspec.layers.base import (
    IMAGE,
    REGULARIZATION,
    LayerSpec,
    Masking,
    Shape,
    ShapeError,
    example,
    format_shape,
    register,
)
from layerspec.layers.fields import Finite, PositiveInt, Rate, Seed

NonNegative = Annotated[Finite, Field(ge=0)]


@register(REGULARIZATION)
class AlphaDropout(LayerSpec):
    """Dropout that keeps the mean and variance of self-normalising (SELU) activations while training."""

    masking: ClassVar[Masking] = "pass"  # passes a mask on (Keras's supports_masking)

    examples = (
        example((6,), rate=0.2),
        example(IMAGE, rate=0.5, seed=2),
        example((6, 4), rate=0.1, noise_shape=[None, 1, 4]),
    )
    type: Literal["AlphaDropout"] = Field(description="The Keras layer class.")
    rate: Rate
    noise_shape: list[PositiveInt | None] | None = Field(
        default=None, description="Shape of the dropout mask, batch axis included (None for the input's)."
    )
    seed: Seed = Field(default=None, description="Random seed.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        # Keras multiplies by a mask of this shape only while training, and fails then if it does not broadcast.
        full = (None, *inputs[0])
        mask = self.noise_shape
        if mask is not None and (
            len(mask) != len(full)
            or any(m not in (None, 1, d) and d is not None for m, d in zip(mask, full, strict=False))
        ):
            raise ShapeError(
                f"`noise_shape` {mask} does not fit the input {format_shape(full)}: give one size per axis, batch "
                f"included, each null, 1 or the input's size ({FAILS_WHEN_RUN} in training)",
                "noise_shape",
            )
        return inputs[0]


@register(REGULARIZATION)
class GaussianDropout(LayerSpec):
    """Multiplies by noise of mean 1 and variance rate / (1 - rate) while training."""

    masking: ClassVar[Masking] = "pass"  # passes a mask on (Keras's supports_masking)

    examples = (example((6,), rate=0.2), example(IMAGE, rate=0.5, seed=1))
    type: Literal["GaussianDropout"] = Field(description="The Keras layer class.")
    rate: Rate
    seed: Seed = Field(default=None, description="Random seed.")


@register(REGULARIZATION)
class GaussianNoise(LayerSpec):
    """Adds noise of mean 0 and standard deviation `stddev` while training."""

    masking: ClassVar[Masking] = "pass"  # passes a mask on (Keras's supports_masking)

    examples = (example((6,), stddev=0.1), example(IMAGE, stddev=1.0, seed=4))
    type: Literal["GaussianNoise"] = Field(description="The Keras layer class.")
    # Keras refuses a standard deviation above 1 (found by tests/fuzz).
    stddev: Annotated[Finite, Field(ge=0, le=1)] = Field(
        description="Standard deviation of the added noise, in [0, 1]."
    )
    seed: Seed = Field(default=None, description="Random seed.")


@register(REGULARIZATION)
class ActivityRegularization(LayerSpec):
    """Passes its input through and adds l1 * sum(|x|) + l2 * sum(x^2) to the training loss."""

    masking: ClassVar[Masking] = "pass"  # passes a mask on (Keras's supports_masking)

    examples = (example((6,), l1=0.01), example(IMAGE, l2=0.001), example((5, 7), l1=0.1, l2=0.2))
    type: Literal["ActivityRegularization"] = Field(description="The Keras layer class.")
    l1: NonNegative = Field(default=0.0, description="Weight of the L1 penalty on the output.")
    l2: NonNegative = Field(default=0.0, description="Weight of the L2 penalty on the output.")
