"""Image augmentations that move pixels while training: RandomElasticTransform, RandomPerspective, RandomShear.

As the other augmentations: images in, images of the same shape out, identity at inference, no weights, MACs 0
(the resampling happens only while training). Each converts an integer image to float (found by running it).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.augmentation import FAILS_WHEN_RUN, VALUE_RANGE, UnitOrRange, ValueRange, _Seeded
from layerspec.layers.base import AUGMENTATION, IMAGE, FieldRule, Shape, ShapeError, example, format_shape, register
from layerspec.layers.fields import FillMode, Finite, Interpolation

COLOUR = (9, 11, 3)


@register(AUGMENTATION)
class RandomElasticTransform(_Seeded):
    """Distorts images with a random smooth displacement field."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR), example(IMAGE, factor=0.5, scale=0.3, fill_mode="constant", seed=1))
    type: Literal["RandomElasticTransform"] = Field(description="The Keras layer class.")
    factor: UnitOrRange = Field(default=1.0, description="Probability of transforming an image, in [0, 1].")
    scale: UnitOrRange = Field(default=1.0, description="Strength of the displacement, in [0, 1].")
    interpolation: Interpolation = Field(default="bilinear", description="Resampling method.")
    fill_mode: FillMode = Field(default="reflect", description="How points outside the image are filled.")
    fill_value: Finite = Field(default=0.0, description="Fill value when fill_mode is 'constant'.")
    value_range: ValueRange = Field(default=[0.0, 255.0], description=VALUE_RANGE)


@register(AUGMENTATION)
class RandomPerspective(_Seeded):
    """Applies a random perspective warp to images."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR), example(IMAGE, factor=0.5, scale=0.2, interpolation="nearest", seed=2))
    type: Literal["RandomPerspective"] = Field(description="The Keras layer class.")
    factor: UnitOrRange = Field(default=1.0, description="Probability of warping an image, in [0, 1].")
    scale: Annotated[Finite, Field(ge=0.0, le=1.0)] = Field(default=1.0, description="Strength of the warp, in [0, 1].")
    interpolation: Interpolation = Field(default="bilinear", description="Resampling method.")
    fill_value: Finite = Field(default=0.0, description="Value of the pixels outside the image.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = super().output_shape(inputs)
        # The warp is solved from the image's corners, which coincide on a side of one pixel (Keras fails to run).
        if any(d == 1 for d in shape[:2]):
            raise ShapeError(
                f"RandomPerspective needs images at least 2 pixels high and wide; received shape {format_shape(shape)} "
                f"({FAILS_WHEN_RUN})"
            )
        return shape


@register(AUGMENTATION)
class RandomShear(_Seeded):
    """Shears images along x and y by random amounts."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR, x_factor=0.2), example(IMAGE, x_factor=[0.1, 0.3], y_factor=0.2, seed=3))
    type: Literal["RandomShear"] = Field(description="The Keras layer class.")
    x_factor: UnitOrRange = Field(default=0.0, description="Horizontal shear range, in [0, 1].")
    y_factor: UnitOrRange = Field(default=0.0, description="Vertical shear range, in [0, 1].")
    interpolation: Interpolation = Field(default="bilinear", description="Resampling method.")
    fill_mode: FillMode = Field(default="reflect", description="How points outside the image are filled.")
    fill_value: Finite = Field(default=0.0, description="Fill value when fill_mode is 'constant'.")
