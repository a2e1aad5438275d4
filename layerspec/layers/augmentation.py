"""Image augmentations that change colours, mix images or erase parts of them while training, and pass images
through unchanged at inference (Keras's `training=False`), so their output shape is their input's.

Each needs an image (rank 4 with the batch axis) and has no weights. MACs: 0, as for the other augmentations:
the work happens only while training and is not the multiply-accumulate work the count measures. Those that
convert an integer image to float (found by running each on int32 images) set casts_input; RandomGrayscale keeps
an integer dtype and RandomSaturation refuses one, so they do not, nor do those that keep an integer image
integer at inference (MixUp, RandomBrightness, RandomColorDegeneration, RandomColorJitter, RandomHue,
RandomInvert, RandomPosterization: the next layer then fails on it, found by tests/fuzz).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from layerspec.layers.base import (
    AUGMENTATION,
    IMAGE,
    FieldRule,
    LayerSpec,
    Shape,
    ShapeError,
    example,
    format_shape,
    register,
    spatial,
)
from layerspec.layers.fields import DataFormat, FactorOrRange, Finite, PositiveInt, Seed

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
UnitOrRange = Unit | Annotated[list[Unit], Field(min_length=2, max_length=2)]
ValueRange = Annotated[list[Finite], Field(min_length=2, max_length=2)]
VALUE_RANGE = "Range of the incoming pixel values, e.g. [0, 1] after a Rescaling by 1/255."
COLOUR = (9, 11, 3)


def _odd(size: int) -> int:
    if size % 2 == 0:
        raise ValueError("must be an odd number (the kernel has a centre)")
    return size


# Keras refuses an even blur kernel (found by tests/fuzz).
OddSize = Annotated[PositiveInt, AfterValidator(_odd)]  # the colour augmentations need three channels


# What Keras says when an operation drawn at random needs colour: it may pass a few times before it fails, so
# `check` refuses such images every time (tests/fuzz/test_differential.py counts it as deliberate).
RANDOM_OPERATIONS = "fails on them whenever its random choice of operations needs colour"
# Said of what Keras builds but fails on when the model runs (so the checker refuses it on purpose, even where
# Keras cannot yet tell: a spec with unknown sizes is built, never run, by tests/fuzz/test_differential.py).
FAILS_WHEN_RUN = "Keras builds it and fails when the model runs"


class _Image(LayerSpec):
    rank: ClassVar[int] = 2
    casts_input: ClassVar[bool] = True
    # The channel counts Keras runs the layer on (found by running it on 1 to 6 channels); None for any.
    channels: ClassVar[tuple[int, ...] | None] = None

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _, channels = spatial(inputs[0], self.rank, self.type)
        allowed = self.needed_channels()
        if allowed is not None and channels is not None and channels not in allowed:
            wanted = " or ".join(str(c) for c in allowed)
            raise ShapeError(
                f"{self.type} works on {'RGB' if allowed == (3,) else 'RGB or grayscale'} images, with {wanted} "
                f"channels; received shape {format_shape(inputs[0])}"
                + (f" (Keras {RANDOM_OPERATIONS})" if len(allowed) > 1 else f" ({FAILS_WHEN_RUN})")
            )
        return inputs[0]

    def needed_channels(self) -> tuple[int, ...] | None:
        return self.channels


# The arguments only some of them take, as mixins so that each class has exactly Keras's.
class _Format(LayerSpec):
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")


class _Seed(LayerSpec):
    seed: Seed = Field(default=None, description="Random seed.")


class _Range(LayerSpec):
    value_range: ValueRange = Field(default=[0.0, 255.0], description=VALUE_RANGE)


class _Seeded(_Image, _Format, _Seed):
    pass


class _Valued(_Image, _Range, _Format, _Seed):
    pass


class _PerPixelColour(_Valued):
    """A colour change of each pixel (the identity at inference) that keeps an integer image integer when the
    model runs, so the next layer fails on it (found by tests/fuzz): integer images go through Rescaling first."""

    casts_input: ClassVar[bool] = False
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE


@register(AUGMENTATION)
class AutoContrast(_Image, _Range):
    """Stretches each image's values to the whole value range."""

    receptive: ClassVar[FieldRule | None] = FieldRule.GLOBAL  # at inference too: statistics of the image (or tiles)

    examples = (example(COLOUR), example(IMAGE, value_range=[0.0, 1.0]))
    type: Literal["AutoContrast"] = Field(description="The Keras layer class.")


@register(AUGMENTATION)
class ContrastLimitedAdaptiveHistogramEqualization(_Image, _Range, _Format):
    """Equalises histograms tile by tile, with the contrast amplification clipped (CLAHE)."""

    receptive: ClassVar[FieldRule | None] = FieldRule.GLOBAL  # at inference too: statistics of the image (or tiles)
    # Keras says float32 for its output but returns an integer image as it came when the tiles leave nothing to
    # equalise (a 4 x 4 image, default tiles: found by tests/fuzz), and a convolution after it then fails.
    casts_input: ClassVar[bool] = False

    examples = (example(COLOUR), example((16, 16, 1), clip_limit=2.0, tile_grid_size=[4, 4]))
    type: Literal["ContrastLimitedAdaptiveHistogramEqualization"] = Field(description="The Keras layer class.")
    clip_limit: Annotated[Finite, Field(gt=0)] = Field(default=4.0, description="Contrast limit per tile.")
    tile_grid_size: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] = Field(
        default=[8, 8], description="Number of tiles: [rows, columns]."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = super().output_shape(inputs)
        # Keras pads each side to a whole number of tiles by mirroring, which cannot add more than the side has.
        for size, tiles, side in zip(shape[:2], self.tile_grid_size, ("rows", "columns"), strict=True):
            if size is not None and (-size) % tiles > size:
                raise ShapeError(
                    f"{self.type} cannot split {size} {side} into {tiles} tiles (Keras mirrors the image to pad "
                    f"it to a multiple of the tiles, and {size} {side} cannot be mirrored to {size + (-size) % tiles})"
                    f": use fewer tiles in `tile_grid_size` ({FAILS_WHEN_RUN})",
                    "tile_grid_size",
                )
        return shape


@register(AUGMENTATION)
class AugMix(_Valued):
    """Mixes several chains of random augmentations of each image (AugMix)."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR), example(COLOUR, num_chains=2, chain_depth=1, factor=0.5, all_ops=False, seed=1))
    channels: ClassVar[tuple[int, ...] | None] = (3, 1)
    type: Literal["AugMix"] = Field(description="The Keras layer class.")
    num_chains: PositiveInt = Field(default=3, description="Number of augmentation chains mixed.")
    chain_depth: PositiveInt = Field(default=3, description="Augmentations per chain.")
    factor: Unit = Field(default=0.3, description="Strength of each augmentation, in [0, 1].")
    alpha: Annotated[Finite, Field(gt=0)] = Field(default=1.0, description="Dirichlet and Beta mixing parameter.")
    all_ops: bool = Field(default=True, description="Use every operation, including colour ones.")
    interpolation: Literal["nearest", "bilinear"] = Field(default="bilinear", description="Resampling method.")


@register(AUGMENTATION)
class RandAugment(_Valued):
    """Applies num_ops augmentations drawn at random to each image (RandAugment)."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR), example(COLOUR, num_ops=1, factor=[0.1, 0.4], seed=3))
    channels: ClassVar[tuple[int, ...] | None] = (3, 1)
    type: Literal["RandAugment"] = Field(description="The Keras layer class.")
    num_ops: PositiveInt = Field(default=2, description="Augmentations applied to each image.")
    factor: UnitOrRange = Field(default=0.5, description="Strength of the augmentations, in [0, 1].")
    interpolation: Literal["nearest", "bilinear"] = Field(default="bilinear", description="Resampling method.")


@register(AUGMENTATION)
class CutMix(_Seeded):
    """Pastes a random patch of another image of the batch into each image (labels mixed likewise)."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR), example(IMAGE, factor=0.5, seed=2))
    type: Literal["CutMix"] = Field(description="The Keras layer class.")
    factor: (
        Annotated[Finite, Field(ge=0)]
        | Annotated[list[Annotated[Finite, Field(ge=0)]], Field(min_length=2, max_length=2)]
    ) = Field(default=1.0, description="Parameter of the Beta distribution the patch size is drawn from.")


@register(AUGMENTATION)
class MixUp(_Seeded):
    """Blends each image with another image of the batch (labels blended likewise)."""

    # Keeps an integer image integer when the model runs, so the next layer fails on it (found by tests/fuzz).
    casts_input: ClassVar[bool] = False

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR), example(IMAGE, alpha=0.4, seed=5))
    type: Literal["MixUp"] = Field(description="The Keras layer class.")
    alpha: Annotated[Finite, Field(gt=0)] = Field(default=0.2, description="Parameter of the Beta mixing distribution.")


@register(AUGMENTATION)
class RandomBrightness(_Image, _Range, _Seed):
    """Adds a random brightness change, as a fraction of the value range."""

    # Keeps an integer image integer when the model runs, so the next layer fails on it (found by tests/fuzz).
    casts_input: ClassVar[bool] = False

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR, factor=0.2), example(IMAGE, factor=[-0.3, 0.1], value_range=[0.0, 1.0]))
    type: Literal["RandomBrightness"] = Field(description="The Keras layer class.")
    factor: FactorOrRange = Field(description="Brightness change range, in [-1, 1]: 0.2 means [-0.2, 0.2].")


@register(AUGMENTATION)
class RandomColorDegeneration(_PerPixelColour):
    """Blends each image with its grayscale version by a random factor."""

    examples = (example(COLOUR, factor=0.2), example(COLOUR, factor=[0.1, 0.5], seed=1))
    channels: ClassVar[tuple[int, ...] | None] = (3,)
    type: Literal["RandomColorDegeneration"] = Field(description="The Keras layer class.")
    factor: UnitOrRange = Field(description="Degeneration range, in [0, 1].")


@register(AUGMENTATION)
class RandomColorJitter(_PerPixelColour):
    """Changes brightness, contrast, saturation and hue at random."""

    examples = (
        example(COLOUR, brightness_factor=0.2),
        example(COLOUR, contrast_factor=0.3, saturation_factor=[0.2, 0.6], hue_factor=0.1, seed=2),
    )
    type: Literal["RandomColorJitter"] = Field(description="The Keras layer class.")
    brightness_factor: FactorOrRange | None = Field(default=None, description="As RandomBrightness's factor.")
    contrast_factor: UnitOrRange | None = Field(default=None, description="As RandomContrast's factor.")
    saturation_factor: UnitOrRange | None = Field(default=None, description="As RandomSaturation's factor.")
    hue_factor: UnitOrRange | None = Field(default=None, description="As RandomHue's factor.")

    def needed_channels(self) -> tuple[int, ...] | None:
        return (3,) if self.saturation_factor is not None or self.hue_factor is not None else None


@register(AUGMENTATION)
class RandomErasing(_Valued):
    """Erases a random rectangle of each image (fills it with noise or fill_value)."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR), example(IMAGE, factor=0.5, scale=[0.1, 0.2], fill_value=0.0, seed=1))
    type: Literal["RandomErasing"] = Field(description="The Keras layer class.")
    factor: UnitOrRange = Field(default=1.0, description="Probability of erasing, in [0, 1].")
    scale: Annotated[list[Unit], Field(min_length=2, max_length=2)] = Field(
        default=[0.02, 0.33], description="Range of the erased area, as a fraction of the image."
    )
    fill_value: Finite | None = Field(default=None, description="Value of the erased pixels; null for noise.")


@register(AUGMENTATION)
class RandomGaussianBlur(_Valued):
    """Blurs images with a Gaussian kernel of random strength."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR), example(IMAGE, factor=0.5, kernel_size=5, sigma=[0.2, 0.8], seed=3))
    type: Literal["RandomGaussianBlur"] = Field(description="The Keras layer class.")
    factor: UnitOrRange = Field(default=1.0, description="Blur strength range, in [0, 1].")
    kernel_size: OddSize | Annotated[list[OddSize], Field(min_length=2, max_length=2)] = Field(
        default=3, description="Size of the blur kernel, odd (or a range of odd sizes)."
    )
    sigma: UnitOrRange = Field(default=1.0, description="Standard deviation of the kernel, in [0, 1] (or a range).")


@register(AUGMENTATION)
class RandomGrayscale(_Seeded):
    """Turns images to grayscale (keeping their channels) with probability factor."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    casts_input: ClassVar[bool] = False  # an integer image stays integer
    examples = (example(COLOUR), example(COLOUR, factor=0.2, seed=4))
    channels: ClassVar[tuple[int, ...] | None] = (3, 1)
    type: Literal["RandomGrayscale"] = Field(description="The Keras layer class.")
    factor: Unit = Field(default=0.5, description="Probability of turning an image to grayscale.")


@register(AUGMENTATION)
class RandomHue(_PerPixelColour):
    """Shifts the hue of images at random."""

    examples = (example(COLOUR, factor=0.2), example(COLOUR, factor=[0.1, 0.9], seed=1))
    channels: ClassVar[tuple[int, ...] | None] = (3,)
    type: Literal["RandomHue"] = Field(description="The Keras layer class.")
    factor: UnitOrRange = Field(description="Hue shift range, in [0, 1].")


@register(AUGMENTATION)
class RandomInvert(_PerPixelColour):
    """Inverts images (value_range max - value) with probability factor."""

    examples = (example(COLOUR), example(IMAGE, factor=0.5, seed=2))
    type: Literal["RandomInvert"] = Field(description="The Keras layer class.")
    factor: UnitOrRange = Field(default=1.0, description="Probability of inverting an image.")


@register(AUGMENTATION)
class RandomPosterization(_PerPixelColour):
    """Reduces each colour channel to a random number of bits."""

    examples = (example(COLOUR, factor=[1, 8]), example(COLOUR, factor=4, seed=1))
    type: Literal["RandomPosterization"] = Field(description="The Keras layer class.")
    factor: (
        Annotated[int, Field(ge=1, le=8)]
        | Annotated[list[Annotated[int, Field(ge=1, le=8)]], Field(min_length=2, max_length=2)]
    ) = Field(description="Bits kept per channel, in [1, 8] (or a range of them).")


@register(AUGMENTATION)
class RandomSaturation(_Valued):
    """Changes the saturation of images at random."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    casts_input: ClassVar[bool] = False  # Keras refuses an integer image here
    examples = (example(COLOUR, factor=0.2), example(COLOUR, factor=[0.3, 0.7], seed=1))
    channels: ClassVar[tuple[int, ...] | None] = (3,)
    type: Literal["RandomSaturation"] = Field(description="The Keras layer class.")
    factor: UnitOrRange = Field(description="Saturation range, in [0, 1] (0.5 keeps the image).")


@register(AUGMENTATION)
class RandomSharpness(_Valued):
    """Sharpens or blurs images by a random factor."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR, factor=0.2), example(IMAGE, factor=[0.1, 0.8], seed=1))
    type: Literal["RandomSharpness"] = Field(description="The Keras layer class.")
    factor: UnitOrRange = Field(description="Sharpness range, in [0, 1] (0.5 keeps the image).")


@register(AUGMENTATION)
class Solarization(_Image, _Range, _Seed):
    """Inverts the pixels above a random threshold, after adding a random amount."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # the identity at inference

    examples = (example(COLOUR, addition_factor=0.2), example(IMAGE, threshold_factor=[0.1, 0.5], seed=1))
    type: Literal["Solarization"] = Field(description="The Keras layer class.")
    addition_factor: UnitOrRange = Field(default=0.0, description="Added amount, as a fraction of the range.")
    threshold_factor: UnitOrRange = Field(default=0.0, description="Threshold, as a fraction of the range.")
