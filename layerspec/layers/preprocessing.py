"""Preprocessing layers: Rescaling, and the image augmentations that act only while training."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    AUGMENTATION,
    IMAGE,
    PREPROCESSING,
    FieldRule,
    LayerSpec,
    Shape,
    example,
    register,
    spatial,
)
from layerspec.layers.fields import FactorOrRange, FillMode, Finite, Interpolation, Seed


@register(PREPROCESSING)
class Rescaling(LayerSpec):
    """Multiplies by `scale` and adds `offset` (1/255 maps pixels to [0, 1])."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    masking = "pass"  # passes a mask on (Keras's supports_masking)
    casts_input: ClassVar[bool] = True
    examples = (example(IMAGE, scale=1 / 255), example((6,), scale=2.0, offset=-1.0))
    type: Literal["Rescaling"] = Field(description="The Keras layer class.")
    scale: Finite = Field(description="Multiplier, e.g. 0.00392156862745098 for 1/255.")
    offset: Finite = Field(default=0.0, description="Added after scaling.")

    def input_scale(self) -> float | None:
        return self.scale


ContrastFactor = Annotated[float, Field(ge=0.0, le=1.0)]
# RandomZoom refuses -1 (a zoom to nothing), unlike the other factors (found by tests/fuzz).
ZoomFactor = Annotated[float, Field(gt=-1.0, le=1.0)]
ZoomFactorOrRange = ZoomFactor | Annotated[list[ZoomFactor], Field(min_length=2, max_length=2)]


class _Augmentation(LayerSpec):
    rank: ClassVar[int] = 2
    seed: Seed = Field(default=None, description="Random seed.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        spatial(inputs[0], self.rank, self.type)
        return inputs[0]


class _Geometric(_Augmentation):
    fill_mode: FillMode = Field(default="reflect", description="How points outside the image are filled.")
    interpolation: Interpolation = Field(default="bilinear", description="Resampling method.")
    fill_value: Finite = Field(default=0.0, description="Fill value when fill_mode is 'constant'.")


@register(AUGMENTATION)
class RandomFlip(_Augmentation):
    """Flips images at random while training."""

    # The identity at inference, where receptive fields are taken.
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    examples = (example(IMAGE), example(IMAGE, mode="horizontal", seed=1))
    type: Literal["RandomFlip"] = Field(description="The Keras layer class.")
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = Field(
        default="horizontal_and_vertical", description="Which flips are drawn: horizontal, vertical or both."
    )


@register(AUGMENTATION)
class RandomRotation(_Geometric):
    """Rotates images by a random fraction of a full turn while training."""

    # The identity at inference, where receptive fields are taken.
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    examples = (example(IMAGE, factor=0.1), example(IMAGE, factor=[-0.2, 0.3], fill_mode="constant"))
    type: Literal["RandomRotation"] = Field(description="The Keras layer class.")
    factor: FactorOrRange = Field(description="Fraction of 2*pi: 0.1 means rotations in [-36, 36] degrees.")


@register(AUGMENTATION)
class RandomZoom(_Geometric):
    """Zooms images in or out at random while training."""

    # The identity at inference, where receptive fields are taken.
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    examples = (example(IMAGE, height_factor=0.1), example(IMAGE, height_factor=[-0.2, 0.2], width_factor=0.1))
    type: Literal["RandomZoom"] = Field(description="The Keras layer class.")
    height_factor: ZoomFactorOrRange = Field(description="Zoom range for the height, as a fraction.")
    width_factor: ZoomFactorOrRange | None = Field(default=None, description="Zoom range for the width.")


@register(AUGMENTATION)
class RandomTranslation(_Geometric):
    """Shifts images at random while training."""

    # The identity at inference, where receptive fields are taken.
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    examples = (
        example(IMAGE, height_factor=0.1, width_factor=0.1),
        example(IMAGE, height_factor=[-0.1, 0.2], width_factor=0.3, fill_mode="nearest"),
    )
    type: Literal["RandomTranslation"] = Field(description="The Keras layer class.")
    height_factor: FactorOrRange = Field(description="Vertical shift range, as a fraction of the height.")
    width_factor: FactorOrRange = Field(description="Horizontal shift range, as a fraction of the width.")


@register(AUGMENTATION)
class RandomContrast(_Augmentation):
    """Adjusts contrast by a random factor while training."""

    # The identity at inference, where receptive fields are taken.
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE

    examples = (example(IMAGE, factor=0.2), example(IMAGE, factor=[0.1, 0.3], value_range=[0.0, 1.0]))
    type: Literal["RandomContrast"] = Field(description="The Keras layer class.")
    factor: ContrastFactor | Annotated[list[ContrastFactor], Field(min_length=2, max_length=2)] = Field(
        description="Contrast change range: 0.2 means [0.8, 1.2]."
    )
    value_range: Annotated[list[Finite], Field(min_length=2, max_length=2)] = Field(
        default=[0.0, 255.0], description="Range of the incoming pixel values, e.g. [0, 1] after Rescaling."
    )
