"""Normalisation layers: GroupNormalization, RMSNormalization, UnitNormalization, and Normalization with a given
mean and variance.

MACs: one multiply-add per element, as BatchNormalization counts (the statistics folded into a scale and an
offset); Normalization likewise (it subtracts the mean and divides by the deviation).
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.augmentation import FAILS_WHEN_RUN
from layerspec.layers.base import (
    IMAGE,
    NORMALIZATION,
    FieldRule,
    LayerSpec,
    Masking,
    Shape,
    ShapeError,
    Weight,
    example,
    format_shape,
    prod_known,
    register,
)
from layerspec.layers.fields import Finite, PositiveInt
from layerspec.layers.normalization import Axes, Axis, _Normalization, normalized_axes

NonNegative = Annotated[Finite, Field(ge=0)]
FeatureAxis = Annotated[int, Field(ge=1, le=64)] | Annotated[int, Field(ge=-64, le=-1)]
# Keras builds a Normalization without them as an identity (mean 0, variance 1) until adapt() runs or its weights
# are loaded; a spec never runs adapt(), so check warns (layerspec/rules/statistics.py).
NEEDS_ADAPT = "Keras would learn them with adapt() on data, which a spec cannot run"


def _known(shape: Shape, axes: list[int], layer: str, field: str = "axis") -> tuple[int, ...]:
    """The sizes of `axes` (indices into `shape`, batch left out), which must be known: weights have them."""
    dims = [shape[i] for i in axes]
    if any(d is None for d in dims):
        raise ShapeError(f"{layer} needs known sizes on the axis {field} names; received {format_shape(shape)}", field)
    return tuple(d for d in dims if d is not None)


class _PerElement(LayerSpec):
    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return prod_known(output)


@register(NORMALIZATION)
class GroupNormalization(_Normalization):
    """Normalises each example over groups of channels (one group: LayerNormalization over the channels)."""

    receptive: ClassVar[FieldRule | None] = FieldRule.GLOBAL  # statistics over every position of each group
    masking: ClassVar[Masking] = "pass"  # passes a mask on (Keras's supports_masking)

    # Keras converts an integer input to float here (found by running it).
    casts_input: ClassVar[bool] = True
    examples = (
        example(IMAGE, groups=2),
        example(IMAGE, groups=4, center=False),
        example((6, 8), groups=8, axis=-1, scale=False),
        example((6, 8), groups=3, axis=1),
    )
    type: Literal["GroupNormalization"] = Field(description="The Keras layer class.")
    groups: PositiveInt = Field(default=32, description="Number of groups; must divide the number of channels.")
    axis: Axis = Field(default=-1, description="The channels axis; counts the batch axis as 0.")

    def channels(self, shape: Shape) -> int:
        (channels,) = _known(shape, normalized_axes(self.axis, shape, self.type), self.type)
        if self.groups > channels or channels % self.groups:
            raise ShapeError(
                f"`groups` {self.groups} must divide the {channels} channels of the input "
                f"{format_shape(shape)} (and be no more than them)",
                "groups",
            )
        return channels

    def output_shape(self, inputs: list[Shape]) -> Shape:
        self.channels(inputs[0])
        return inputs[0]

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        size = (self.channels(inputs[0]),)
        return [Weight(n, size, self.trainable) for n, on in (("gamma", self.scale), ("beta", self.center)) if on]


@register(NORMALIZATION)
class RMSNormalization(_PerElement):
    """Divides by the root mean square over the axes and multiplies by a learned scale."""

    # Not a casting layer, though Keras's symbolic output says float32: run on integers it returns integers (and a
    # normalisation reading it then fails), so integer inputs go through a Rescaling first.
    casts_input: ClassVar[bool] = False
    examples = (example(IMAGE), example((6, 5), axis=[-2, -1]), example((6, 5), axis=2, epsilon=1e-3))
    type: Literal["RMSNormalization"] = Field(description="The Keras layer class.")
    axis: Axes = Field(default=-1, description="Axis (or axes) normalised; counts the batch axis as 0.")
    epsilon: Annotated[Finite, Field(gt=0)] = Field(default=1e-6, description="Added to the mean square.")

    def scale_shape(self, shape: Shape) -> tuple[int, ...]:
        normalized_axes(self.axis, shape, self.type)  # range and repeats
        # Keras sizes the scale in the order the axes are written, e.g. [2, 1] gives (W, H).
        rank = len(shape) + 1
        order = [(a + rank if a < 0 else a) - 1 for a in ([self.axis] if isinstance(self.axis, int) else self.axis)]
        # The scale multiplies the input from its last axes, so only the last axes, in order, fit it.
        if order != list(range(len(shape) - len(order), len(shape))):
            raise ShapeError(
                f"RMSNormalization's scale fits only the last axes in order: `axis` {self.axis} on an input of shape "
                f"{format_shape(shape)} gives a scale that does not broadcast ({FAILS_WHEN_RUN})",
                "axis",
            )
        return _known(shape, order, self.type)

    def field_rule(self, inputs: list[Shape], output: Shape) -> FieldRule:
        # Over the channel axis alone, each position is normalised by itself; over a spatial axis, by all of it.
        axes = normalized_axes(self.axis, inputs[0], self.type)
        return FieldRule.POINTWISE if axes == [len(inputs[0]) - 1] else FieldRule.GLOBAL

    def output_shape(self, inputs: list[Shape]) -> Shape:
        self.scale_shape(inputs[0])
        return inputs[0]

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        return [Weight("scale", self.scale_shape(inputs[0]), self.trainable)]


@register(NORMALIZATION)
class UnitNormalization(_PerElement):
    """Scales each example to unit L2 norm over the axes."""

    masking: ClassVar[Masking] = "pass"  # passes a mask on (Keras's supports_masking)

    examples = (example((6,)), example(IMAGE, axis=[1, 2]), example((6, 5), axis=1))
    type: Literal["UnitNormalization"] = Field(description="The Keras layer class.")
    # Not the batch axis (0), which Keras would normalise across examples: refused as for the other normalisations.
    axis: FeatureAxis | Annotated[list[FeatureAxis], Field(min_length=1, max_length=8)] = Field(
        default=-1, description="Axis (or axes) normalised; counts the batch axis as 0, which is not allowed."
    )

    def field_rule(self, inputs: list[Shape], output: Shape) -> FieldRule:
        # Over the channel axis alone, each position is normalised by itself; over a spatial axis, by all of it.
        axes = normalized_axes(self.axis, inputs[0], self.type)
        return FieldRule.POINTWISE if axes == [len(inputs[0]) - 1] else FieldRule.GLOBAL

    def output_shape(self, inputs: list[Shape]) -> Shape:
        normalized_axes(self.axis, inputs[0], self.type)
        return inputs[0]


Statistic = Finite | Annotated[list[Finite], Field(min_length=1, max_length=2**20)]


@register(NORMALIZATION)
class Normalization(_PerElement):
    """Subtracts `mean` and divides by sqrt(`variance`) per feature (or the reverse, with invert).

    A spec gives the mean and variance: Keras's `adapt()` learns them from data, which a spec cannot run. Without
    them (as keras.applications' EfficientNets hold it) the layer passes its input unchanged until its statistics
    are loaded with the model's weights, and `check` says so.
    """

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # each position alone (a crop only moves positions)
    masking: ClassVar[Masking] = "pass"  # passes a mask on (Keras's supports_masking)

    casts_input: ClassVar[bool] = True
    examples = (
        example(IMAGE, mean=0.5, variance=0.25),
        example(IMAGE, mean=[0.1, 0.2, 0.3, 0.4], variance=[1.0, 2.0, 3.0, 4.0]),
        example((6, 5), axis=1, mean=[0.0] * 6, variance=[1.0] * 6, invert=True),
        example((6, 5), axis=None, mean=2.0, variance=4.0),
        # Without statistics (EfficientNet's): Keras holds them as non-trainable weights, and a count.
        example(IMAGE),
        example((6, 5), axis=[1, 2]),
    )
    type: Literal["Normalization"] = Field(description="The Keras layer class.")
    axis: Axes | None = Field(
        default=-1, description="Axis (or axes) with a mean and variance each; null for one over all values."
    )
    mean: Statistic | None = Field(
        default=None,
        description="Mean per feature of the kept axes (or one number for all); null: weights (0) that only "
        "loading the model's weights sets.",
    )
    variance: Annotated[list[NonNegative], Field(min_length=1, max_length=2**20)] | NonNegative | None = Field(
        default=None,
        description="Variance per feature of the kept axes (or one number for all); null: weights (1) that only "
        "loading the model's weights sets.",
    )
    invert: bool = Field(default=False, description="Undo the normalisation instead: x * sqrt(variance) + mean.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if (self.mean is None) != (self.variance is None):
            missing = "mean" if self.mean is None else "variance"
            raise ShapeError(f"Normalization needs both `mean` and `variance`, or neither: add `{missing}`", missing)
        size = math.prod(self._features(inputs[0]))
        for field, value in (("mean", self.mean), ("variance", self.variance)):
            if isinstance(value, list) and len(value) != size:
                raise ShapeError(
                    f"`{field}` holds {len(value)} values; the kept axes of the input {format_shape(inputs[0])} "
                    f"have {size} features: write one number, or {size}",
                    field,
                )
        return inputs[0]

    def _features(self, shape: Shape) -> tuple[int, ...]:
        kept = [] if self.axis is None else normalized_axes(self.axis, shape, self.type)
        return _known(shape, kept, self.type)

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        """Without statistics Keras holds them as weights (mean 0, variance 1, the count of adapt's samples),
        set by adapt() or by loading the model's weights; written ones are constants."""
        if self.mean is not None:
            return []
        shape = self._features(inputs[0])
        return [Weight("mean", shape, False), Weight("variance", shape, False), Weight("count", (), False)]
