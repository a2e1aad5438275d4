"""Regularisation layers: Dropout and SpatialDropout2D (identity at inference)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import IMAGE, REGULARIZATION, FieldRule, LayerSpec, Shape, example, register, spatial
from layerspec.layers.fields import DataFormat, PositiveInt, Rate, Seed


@register(REGULARIZATION)
class Dropout(LayerSpec):
    """Randomly sets a fraction `rate` of its inputs to zero while training."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    examples = (
        example(IMAGE, rate=0.5),
        example((6,), rate=0.0, seed=3),
        example((6, 4), rate=0.2, noise_shape=[None, 1, 4]),
    )
    type: Literal["Dropout"] = Field(description="The Keras layer class.")
    rate: Rate
    noise_shape: list[PositiveInt | None] | None = Field(default=None, description="Shape of the dropout mask.")
    seed: Seed = Field(default=None, description="Random seed.")


@register(REGULARIZATION)
class SpatialDropout2D(LayerSpec):
    """Drops whole feature maps instead of single values."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    rank: ClassVar[int] = 2
    examples = (example(IMAGE, rate=0.2), example(IMAGE, rate=0.5, seed=1))
    type: Literal["SpatialDropout2D"] = Field(description="The Keras layer class.")
    # Keras's SpatialDropout2D constructor takes no `trainable` (and no **kwargs), so it is no argument here
    # either (found by tests/fuzz); it has no weights to freeze anyway.
    trainable: ClassVar[bool] = True  # type: ignore[misc]
    rate: Rate
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")
    seed: Seed = Field(default=None, description="Random seed.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        spatial(inputs[0], self.rank, self.type)
        return inputs[0]
