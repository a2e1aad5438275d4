"""Preprocessing layers: Rescaling, and the image augmentations that act only while training."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from layerspec.layers.base import LayerSpec, Shape, register, spatial
from layerspec.layers.fields import FactorOrRange, FillMode, Finite, Interpolation, Seed


@register("preprocessing")
class Rescaling(LayerSpec):
    """Multiplies by `scale` and adds `offset` (1/255 maps pixels to [0, 1])."""

    type: Literal["Rescaling"] = Field(description="The Keras layer class.")
    scale: Finite = Field(description="Multiplier, e.g. 0.00392156862745098 for 1/255.")
    offset: Finite = Field(default=0.0, description="Added after scaling.")


ContrastFactor = Annotated[float, Field(ge=0.0, le=1.0)]
# RandomZoom refuses -1 (a zoom to nothing), unlike the other factors (found by tests/fuzz).
ZoomFactor = Annotated[float, Field(gt=-1.0, le=1.0)]
ZoomFactorOrRange = ZoomFactor | Annotated[list[ZoomFactor], Field(min_length=2, max_length=2)]


class _Augmentation(LayerSpec):
    seed: Seed = Field(default=None, description="Random seed.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        spatial(inputs[0], 2, self.type)
        return inputs[0]


class _Geometric(_Augmentation):
    fill_mode: FillMode = Field(default="reflect", description="How points outside the image are filled.")
    interpolation: Interpolation = Field(default="bilinear", description="Resampling method.")
    fill_value: Finite = Field(default=0.0, description="Fill value when fill_mode is 'constant'.")


@register("augmentation")
class RandomFlip(_Augmentation):
    """Flips images at random while training."""

    type: Literal["RandomFlip"] = Field(description="The Keras layer class.")
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = Field(
        default="horizontal_and_vertical", description="Which flips are drawn: horizontal, vertical or both."
    )


@register("augmentation")
class RandomRotation(_Geometric):
    """Rotates images by a random fraction of a full turn while training."""

    type: Literal["RandomRotation"] = Field(description="The Keras layer class.")
    factor: FactorOrRange = Field(description="Fraction of 2*pi: 0.1 means rotations in [-36, 36] degrees.")


@register("augmentation")
class RandomZoom(_Geometric):
    """Zooms images in or out at random while training."""

    type: Literal["RandomZoom"] = Field(description="The Keras layer class.")
    height_factor: ZoomFactorOrRange = Field(description="Zoom range for the height, as a fraction.")
    width_factor: ZoomFactorOrRange | None = Field(default=None, description="Zoom range for the width.")


@register("augmentation")
class RandomTranslation(_Geometric):
    """Shifts images at random while training."""

    type: Literal["RandomTranslation"] = Field(description="The Keras layer class.")
    height_factor: FactorOrRange = Field(description="Vertical shift range, as a fraction of the height.")
    width_factor: FactorOrRange = Field(description="Horizontal shift range, as a fraction of the width.")


@register("augmentation")
class RandomContrast(_Augmentation):
    """Adjusts contrast by a random factor while training."""

    type: Literal["RandomContrast"] = Field(description="The Keras layer class.")
    factor: ContrastFactor | Annotated[list[ContrastFactor], Field(min_length=2, max_length=2)] = Field(
        description="Contrast change range: 0.2 means [0.8, 1.2]."
    )
    value_range: Annotated[list[Finite], Field(min_length=2, max_length=2)] = Field(
        default=[0.0, 255.0], description="Range of the incoming pixel values, e.g. [0, 1] after Rescaling."
    )
