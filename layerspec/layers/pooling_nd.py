"""3-D pooling, and adaptive pooling (to a given output size) in 1, 2 and 3 dimensions.

The local and global rules are the 1-D/2-D ones (layerspec/layers/pooling.py) at rank 3. Adaptive pooling is
Keras's own composition of two fixed-window poolings per axis, whose limit is checked here (see _window_fits).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    IMAGE,
    POOLING,
    SEQUENCE,
    AxisWindow,
    FieldRule,
    LayerSpec,
    Shape,
    ShapeError,
    as_tuple,
    example,
    register,
    spatial,
)
from layerspec.layers.convolution_nd import VOLUME
from layerspec.layers.fields import DataFormat, IntOrPair, IntOrSingle, IntOrTriple
from layerspec.layers.pooling import _GlobalPooling, _Pooling

# Said by the refusal of adaptive pooling that Keras builds and even runs eagerly, but not in a tf.function: such a
# pooling of an axis of size 1 runs when called directly (tests/fuzz calls models so), yet fit cannot train it.
COMPILED_STEP = "in a compiled step"
# Said when adaptive pooling gets an input of another rank: Keras's adaptive poolings declare no input rank, so Keras
# builds them on any input (and runs the average ones) although they pool the wrong axes (found by tests/fuzz).
UNCHECKED_RANK = "Keras does not check this layer's input rank"


class _Pooling3D(_Pooling):
    rank: ClassVar[int] = 3
    cpu_float16: ClassVar[bool] = False  # TensorFlow registers MaxPool3D and AvgPool3D for float16 on GPUs only
    strides: IntOrTriple | None = Field(default=None, description="Step of the window; default: pool_size.")


@register(POOLING)
class MaxPooling3D(_Pooling3D):
    """Maximum over 3D windows."""

    aliases = ("MaxPool3D",)
    examples = (
        example(VOLUME),
        example(VOLUME, pool_size=3, strides=[1, 2, 1], padding="same"),
        example(VOLUME, pool_size=[1, 2, 3], strides=1),
        example((None, 4, 4, 3), pool_size=2),
    )
    type: Literal["MaxPooling3D"] = Field(description="The Keras layer class.")
    pool_size: IntOrTriple = Field(default=2, description="Depth, height and width of the pooling window.")


@register(POOLING)
class AveragePooling3D(_Pooling3D):
    """Average over 3D windows."""

    aliases = ("AvgPool3D",)
    examples = (
        example(VOLUME, pool_size=2),
        example(VOLUME, pool_size=3, strides=[2, 1, 2], padding="same"),
        example(VOLUME, pool_size=[2, 1, 3]),
    )
    type: Literal["AveragePooling3D"] = Field(description="The Keras layer class.")
    pool_size: IntOrTriple = Field(
        description="Depth, height and width of the pooling window (Keras has no default for it)."
    )


@register(POOLING)
class GlobalAveragePooling3D(_GlobalPooling):
    """Average over all positions of a volume."""

    rank: ClassVar[int] = 3
    aliases = ("GlobalAvgPool3D",)
    examples = (example(VOLUME), example(VOLUME, keepdims=True), example((None, None, 4, 3)))
    type: Literal["GlobalAveragePooling3D"] = Field(description="The Keras layer class.")


@register(POOLING)
class GlobalMaxPooling3D(_GlobalPooling):
    """Maximum over all positions of a volume."""

    rank: ClassVar[int] = 3
    aliases = ("GlobalMaxPool3D",)
    examples = (example(VOLUME), example(VOLUME, keepdims=True))
    type: Literal["GlobalMaxPooling3D"] = Field(description="The Keras layer class.")


class _Adaptive(LayerSpec):
    """Pools each spatial axis to `output_size` positions, whatever the input's size."""

    rank: ClassVar[int] = 2
    # The global pooling that does what an output size of 1 would, for the message that refuses it.
    global_type: ClassVar[str] = ""
    output_size: IntOrPair = Field(description="Size of the output along each spatial axis.")

    def field_rule(self, inputs: list[Shape], output: Shape) -> FieldRule | tuple[AxisWindow, ...]:
        """Output position i pools input positions floor(i n / k) to ceil((i + 1) n / k): at most ceil(n / k) + 1
        of them when k does not divide n, and the window moves n / k positions per step."""
        pairs = [(n, k) for n, k in zip(inputs[0][: self.rank], output[: self.rank], strict=True)]
        known = [(n, k) for n, k in pairs if n is not None and k is not None]
        if len(known) != len(pairs):
            return FieldRule.UNKNOWN
        return tuple(AxisWindow(-(-n // k) + (1 if n % k else 0), Fraction(n, k)) for n, k in known)

    data_format: DataFormat = Field(default=None, description="Only channels_last is supported.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        try:
            dims, channels = spatial(inputs[0], self.rank, self.type)
        except ShapeError as exc:
            raise ShapeError(f"{exc}; {UNCHECKED_RANK} (its output would not have the shape Keras reports)") from None
        out = as_tuple(self.output_size, self.rank, "output_size")
        for size, wanted in zip(dims, out, strict=True):
            self._window_fits(size, wanted)
        return (*out, channels)

    def _window_fits(self, size: int | None, wanted: int) -> None:
        """Keras (TensorFlow backend) pools an axis of `size` to `wanted` with windows of ceil(size / wanted) and
        one more, both with padding valid; when the larger window is longer than the axis, Keras builds the model
        but a compiled step fails (traced, the pooling has a negative size). That happens for an output size of 1
        and for an axis of size 1."""
        if size is None:
            return
        window = math.ceil(size / wanted) + 1
        if window <= size:
            return
        local = self.global_type.removeprefix("Global")
        hint = (
            f"to pool a whole axis to 1, use {local} with a pool_size of {size} along it, or {self.global_type} "
            "with `keepdims: true` when every axis goes to 1"
            if wanted == 1
            else "an axis of size 1 cannot be pooled adaptively: upsample it first or pool fewer axes"
        )
        raise ShapeError(
            f"{self.type} cannot pool an axis of size {size} to {wanted} {COMPILED_STEP} (as fit, evaluate and "
            f"predict run it): Keras's TensorFlow implementation pools it with a window of {window}, longer than "
            f"the axis; {hint}",
            "output_size",
        )


class _Adaptive1D(_Adaptive):
    rank: ClassVar[int] = 1
    output_size: IntOrSingle = Field(description="Number of output steps.")


class _Adaptive3D(_Adaptive):
    rank: ClassVar[int] = 3
    cpu_float16: ClassVar[bool] = False  # built from MaxPool3D / AvgPool3D, like the 3-D poolings
    output_size: IntOrTriple = Field(description="Size of the output along depth, height and width.")


@register(POOLING)
class AdaptiveAveragePooling1D(_Adaptive1D):
    """Average pooling to a fixed number of steps."""

    global_type: ClassVar[str] = "GlobalAveragePooling1D"
    examples = (
        example(SEQUENCE, output_size=5),
        example(SEQUENCE, output_size=[7]),
        example(SEQUENCE, output_size=30),
        example((None, 3), output_size=4),
    )
    type: Literal["AdaptiveAveragePooling1D"] = Field(description="The Keras layer class.")


@register(POOLING)
class AdaptiveMaxPooling1D(_Adaptive1D):
    """Max pooling to a fixed number of steps."""

    global_type: ClassVar[str] = "GlobalMaxPooling1D"
    examples = (example(SEQUENCE, output_size=6), example(SEQUENCE, output_size=[3]), example((2, 5), output_size=2))
    type: Literal["AdaptiveMaxPooling1D"] = Field(description="The Keras layer class.")


@register(POOLING)
class AdaptiveAveragePooling2D(_Adaptive):
    """Average pooling to a fixed height and width."""

    global_type: ClassVar[str] = "GlobalAveragePooling2D"
    examples = (
        example(IMAGE, output_size=3),
        example(IMAGE, output_size=[2, 5]),
        example(IMAGE, output_size=[9, 12]),
        example((None, 6, 2), output_size=2),
    )
    type: Literal["AdaptiveAveragePooling2D"] = Field(description="The Keras layer class.")


@register(POOLING)
class AdaptiveMaxPooling2D(_Adaptive):
    """Max pooling to a fixed height and width."""

    global_type: ClassVar[str] = "GlobalMaxPooling2D"
    examples = (example(IMAGE, output_size=4), example(IMAGE, output_size=[3, 2]))
    type: Literal["AdaptiveMaxPooling2D"] = Field(description="The Keras layer class.")


@register(POOLING)
class AdaptiveAveragePooling3D(_Adaptive3D):
    """Average pooling to a fixed depth, height and width."""

    global_type: ClassVar[str] = "GlobalAveragePooling3D"
    examples = (example(VOLUME, output_size=2), example(VOLUME, output_size=[2, 3, 7]))
    type: Literal["AdaptiveAveragePooling3D"] = Field(description="The Keras layer class.")


@register(POOLING)
class AdaptiveMaxPooling3D(_Adaptive3D):
    """Max pooling to a fixed depth, height and width."""

    global_type: ClassVar[str] = "GlobalMaxPooling3D"
    examples = (example(VOLUME, output_size=[2, 3, 4]), example(VOLUME, output_size=3))
    type: Literal["AdaptiveMaxPooling3D"] = Field(description="The Keras layer class.")
