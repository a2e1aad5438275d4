"""Preprocessing layers that need no `adapt()`: CategoryEncoding, Discretization (with bin_boundaries), Hashing,
Resizing, CenterCrop.

They read integer inputs (casts_input); Discretization and Hashing in `int` mode return integers, which only a
layer that casts may read next (LayerSpec.output_dtype). MACs: 0 (encoding, bucketing, hashing and resampling do
no multiply-accumulate work worth counting, as for UpSampling2D).
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    FAILS_WHEN_RUN,
    IMAGE,
    PREPROCESSING,
    AxisWindow,
    FieldRule,
    LayerSpec,
    Shape,
    ShapeError,
    example,
    format_shape,
    register,
    spatial,
)
from layerspec.layers.fields import DataFormat, Finite, PositiveInt

OutputMode = Literal["one_hot", "multi_hot", "count"]


# Said of inputs with more than one axis besides the batch (tests/fuzz/test_differential.py counts it as deliberate).
SHAPE_DIFFERS = "for more axes Keras 3.15 promises one output shape and returns another when the model runs"


def values_only(shape: Shape, layer: str) -> None:
    """The encoders read (batch, values) only: Keras's shapes for more axes are not its own at run time."""
    if len(shape) != 1:
        raise ShapeError(
            f"{layer} expects an input of rank 2 (batch, values); received shape {format_shape(shape)}: flatten it "
            f"first ({SHAPE_DIFFERS})"
        )


def encoded_shape(shape: Shape, mode: str, depth: int) -> Shape:
    """Keras's encoded output: one_hot adds an axis of `depth` (replacing a last axis of 1); multi_hot and
    count replace the last axis by `depth`."""
    if mode == "one_hot" and not (shape and shape[-1] == 1):
        return (*shape, depth)
    return (*shape[:-1], depth)


class _Encoding(LayerSpec):
    casts_input: ClassVar[bool] = True
    rank: ClassVar[int] = 0
    # Sparse tensors are not something a spec's next layer can be checked against.
    sparse: Literal[False] = Field(default=False, description="Sparse outputs are not supported.")


@register(PREPROCESSING)
class CategoryEncoding(_Encoding):
    """Encodes integer category indices in [0, num_tokens) as one-hot, multi-hot or count vectors."""

    receptive: ClassVar[FieldRule | None] = FieldRule.NONE  # no input positions to follow

    examples = (
        example((4,), num_tokens=10),
        example((4,), num_tokens=5, output_mode="one_hot"),
        example((1,), num_tokens=3, output_mode="one_hot"),
        example((4,), num_tokens=6, output_mode="count"),
        example((None,), num_tokens=4, output_mode="one_hot"),
    )
    type: Literal["CategoryEncoding"] = Field(description="The Keras layer class.")
    # Keras's default (None) is refused by Keras itself: the number of categories must be given.
    num_tokens: PositiveInt = Field(description="Number of categories; inputs must lie in [0, num_tokens).")
    output_mode: OutputMode = Field(
        default="multi_hot", description="one_hot: a vector per value; multi_hot or count: one per example."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        values_only(inputs[0], self.type)
        return encoded_shape(inputs[0], self.output_mode, self.num_tokens)

    @property  # the dtypes it refuses depend on output_mode here
    def refused_dtypes(self) -> tuple[str, ...]:  # type: ignore[override]
        """multi_hot and count count with TensorFlow's bincount, which takes int32 and int64 ids but not uint8 (the
        model builds and fails when it runs; found by tests/fuzz); one_hot takes uint8."""
        return () if self.output_mode == "one_hot" else ("uint8",)


@register(PREPROCESSING)
class Discretization(_Encoding):
    """Buckets values by the given boundaries: bin i holds values in [boundaries[i-1], boundaries[i])."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # each position alone (a crop only moves positions)

    examples = (
        example((6,), bin_boundaries=[0.0, 1.0, 2.0]),
        example((6,), bin_boundaries=[0.5], output_mode="one_hot"),
        example((6,), bin_boundaries=[-1.0, 1.0], output_mode="multi_hot"),
        example((None,), bin_boundaries=[0.25, 0.5, 0.75]),
    )
    type: Literal["Discretization"] = Field(description="The Keras layer class.")
    # Keras's Discretization constructor takes no `trainable` (and no **kwargs); it has no weights to freeze.
    trainable: ClassVar[bool] = True  # type: ignore[misc]
    bin_boundaries: Annotated[list[Finite], Field(min_length=1, max_length=100_000)] = Field(
        description="Increasing bucket boundaries (required here: Keras's num_bins needs adapt() on data)."
    )
    num_bins: None = Field(
        default=None, description="Not accepted: it needs adapt() on data; write bin_boundaries instead."
    )
    epsilon: Annotated[Finite, Field(gt=0)] = Field(
        default=0.01, description="Error tolerance of adapt(); unused with bin_boundaries."
    )
    output_mode: Literal["int", OutputMode] = Field(
        default="int", description="int: the bucket index; one_hot, multi_hot or count: encoded buckets."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        values_only(inputs[0], self.type)
        bounds = self.bin_boundaries
        if any(low > high for low, high in itertools.pairwise(bounds)):
            raise ShapeError(
                f"`bin_boundaries` must be in increasing order; received {bounds} ({FAILS_WHEN_RUN})", "bin_boundaries"
            )
        if self.output_mode == "int":
            return inputs[0]
        return encoded_shape(inputs[0], self.output_mode, len(bounds) + 1)

    def output_dtype(self) -> str | None:
        return "int32" if self.output_mode == "int" else None


@register(PREPROCESSING)
class Hashing(_Encoding):
    """Hashes values (integers or their text) into num_bins buckets."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # each position alone (a crop only moves positions)

    examples = (
        example((6,), num_bins=5),
        example((6,), num_bins=3, salt=7),
        example((6,), num_bins=4, mask_value=0, output_mode="multi_hot"),
        example((1,), num_bins=8, salt=[1, 2], output_mode="one_hot"),
    )
    # Keras hashes integers and text but fails on a boolean tensor (found by tests/fuzz).
    refused_dtypes: ClassVar[tuple[str, ...]] = ("bool",)
    type: Literal["Hashing"] = Field(description="The Keras layer class.")
    num_bins: PositiveInt = Field(description="Number of hash buckets (one of them the mask bucket, if any).")
    mask_value: int | str | None = Field(default=None, description="Value that goes to bucket 0; null for none.")
    salt: (
        Annotated[int, Field(ge=0, le=2**63 - 1)]
        | Annotated[list[Annotated[int, Field(ge=0, le=2**63 - 1)]], Field(min_length=2, max_length=2)]
        | None
    ) = Field(default=None, description="Key of a keyed hash (one integer or two); null for the plain hash.")
    output_mode: Literal["int", OutputMode] = Field(
        default="int", description="int: the bucket index; one_hot, multi_hot or count: encoded buckets."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        values_only(inputs[0], self.type)
        if self.output_mode == "int":
            return inputs[0]
        if self.output_mode == "one_hot" and inputs[0] != (1,):
            # Keras 3.15's Hashing declares (batch, num_bins) and returns (batch, values, num_bins) (found by
            # tests/fuzz): the next layer would be built for the wrong shape.
            raise ShapeError(
                f"Hashing with `output_mode: one_hot` reads one value per example, shape (1,); received "
                f"{format_shape(inputs[0])} ({SHAPE_DIFFERS}): use multi_hot or count, or hash to int and "
                "encode with CategoryEncoding(output_mode: one_hot)",
                "output_mode",
            )
        return encoded_shape(inputs[0], self.output_mode, self.num_bins)

    def output_dtype(self) -> str | None:
        return "int64" if self.output_mode == "int" else None


class _FixedSize(LayerSpec):
    rank: ClassVar[int] = 2
    casts_input: ClassVar[bool] = True
    height: PositiveInt = Field(description="Height of the output images.")
    width: PositiveInt = Field(description="Width of the output images.")
    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _, channels = spatial(inputs[0], self.rank, self.type)
        return (self.height, self.width, channels)


@register(PREPROCESSING)
class Resizing(_FixedSize):
    """Resizes images to height x width."""

    # Keeps an integer image integer when the model runs (or fails on it), so the next layer fails (found by
    # tests/fuzz).
    casts_input: ClassVar[bool] = False

    examples = (
        example(IMAGE, height=5, width=7),
        example(IMAGE, height=20, width=3, interpolation="nearest"),
        example((None, None, 3), height=8, width=8, crop_to_aspect_ratio=True),
        example(IMAGE, height=6, width=6, pad_to_aspect_ratio=True, fill_value=1.0),
    )
    type: Literal["Resizing"] = Field(description="The Keras layer class.")
    interpolation: Literal["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5", "area"] = Field(
        default="bilinear", description="Resampling method."
    )
    crop_to_aspect_ratio: bool = Field(default=False, description="Crop to the target aspect ratio first.")
    pad_to_aspect_ratio: bool = Field(default=False, description="Pad to the target aspect ratio first.")
    fill_mode: Literal["constant"] = Field(default="constant", description="How the padding is filled.")
    fill_value: Finite = Field(default=0.0, description="Value of the padding.")
    antialias: bool = Field(default=False, description="Filter out aliasing when downsampling.")

    def field_rule(self, inputs: list[Shape], output: Shape) -> FieldRule | tuple[AxisWindow, ...]:
        """Each output pixel reads the few input pixels its interpolation takes around a point that moves
        in / out input pixels per output pixel (without antialiasing, as Keras resizes)."""
        sizes = [(n, k) for n, k in zip(inputs[0][:2], output[:2], strict=True) if n is not None and k is not None]
        if len(sizes) != 2 or self.crop_to_aspect_ratio or self.pad_to_aspect_ratio:
            return FieldRule.UNKNOWN
        taps = {"nearest": 1, "bilinear": 2, "bicubic": 4, "lanczos3": 6, "lanczos5": 10}.get(self.interpolation)
        if taps is None:  # area: an average over the whole footprint
            return tuple(AxisWindow(-(-n // k), Fraction(n, k)) for n, k in sizes)
        return tuple(AxisWindow(taps, Fraction(n, k)) for n, k in sizes)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ShapeError(
                "crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be true: choose one", "pad_to_aspect_ratio"
            )
        return super().output_shape(inputs)


@register(PREPROCESSING)
class CenterCrop(_FixedSize):
    """Crops the centre of each image to height x width (resizing first where the image is smaller)."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # each position alone (a crop only moves positions)

    examples = (
        example(IMAGE, height=5, width=7),
        example(IMAGE, height=12, width=4),
        example((None, 8, 1), height=3, width=3),
    )
    type: Literal["CenterCrop"] = Field(description="The Keras layer class.")
