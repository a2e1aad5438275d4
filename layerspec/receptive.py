"""Receptive fields and effective strides per spatial axis, from each layer type's own rule (`field_rule`).

Along one axis, a tensor's field is the number of model-input positions one of its positions reads, and its
stride how far that region moves per step of the tensor. A layer that reads `kernel` consecutive positions of
its input, moving `stride` of them per output step, turns (field, stride) into
(field + (kernel - 1) * stride, stride * step): each further tap reaches one input stride further. An enlarging
layer's step is a fraction, which can leave a fractional field; the field reported is rounded up, since an
output position reads whole input positions. A merge takes the largest field and stride over its inputs.

Fields are taken on the model as it runs at inference, so dropout and random augmentation are the identity, and
batch normalisation a scale and an offset per feature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from layerspec.layers import LayerSpec, Shape, ShapeError
from layerspec.layers.base import AxisWindow, FieldRule

# A field is computed for tensors with 1, 2 or 3 spatial axes (channels last): a rank of 2 to 4 without the batch.
MAX_SPATIAL_AXES = 3

Kind = Literal["field", "global", "none", "unknown"]


@dataclass(frozen=True)
class ReceptiveField:
    """The field of one tensor. `kind` is "field" with a size and stride per spatial axis; "global" when each
    position reads the whole input; "none" when the tensor has no positions the question applies to (after
    Flatten, global pooling, a recurrent layer's state); "unknown" when a layer on the way declares no rule."""

    kind: Kind
    size: tuple[Fraction, ...] = ()
    stride: tuple[Fraction, ...] = ()

    def sizes(self) -> list[int] | None:
        """Field per axis in whole input positions, None unless `kind` is "field"."""
        return [math.ceil(s) for s in self.size] if self.kind == "field" else None

    def strides(self) -> list[int | float] | None:
        """Effective stride per axis: an integer, or a fraction (as a float) after upsampling."""
        if self.kind != "field":
            return None
        return [int(s) if s.denominator == 1 else round(float(s), 6) for s in self.stride]

    def label(self) -> str:
        """For tables: `212x212`, `all` (the whole input), `-` (no meaning) or `?` (unknown)."""
        sizes = self.sizes()
        if sizes is not None:
            return "x".join(map(str, sizes))
        return {"global": "all", "none": "-", "unknown": "?"}[self.kind]

    def stride_label(self) -> str:
        """`2` when every axis has the same stride (`0.5` after upsampling), else `1x2`; empty without numbers."""
        strides = self.strides()
        if strides is None:
            return ""
        text = [f"{s:.3g}" if isinstance(s, float) else str(s) for s in strides]
        return text[0] if len(set(text)) == 1 else "x".join(text)


def largest(fields: list[tuple[str, ReceptiveField]]) -> tuple[str, ReceptiveField] | None:
    """The (layer, field) with the largest computed field (by its smallest axis), or None without one. Fields only
    grow along a path, so this is the field the model's last spatial layers reach."""
    computed = [(name, f) for name, f in fields if f.kind == "field"]
    if not computed:
        return None
    return max(computed, key=lambda item: (min(item[1].size), sum(item[1].size)))


UNKNOWN = ReceptiveField("unknown")
NONE = ReceptiveField("none")
GLOBAL = ReceptiveField("global")


def input_field(shape: Shape) -> ReceptiveField:
    """A model input: each position reads itself, along every spatial axis it has."""
    axes = len(shape) - 1
    if not 1 <= axes <= MAX_SPATIAL_AXES:
        return NONE
    return ReceptiveField("field", (Fraction(1),) * axes, (Fraction(1),) * axes)


def layer_field(layer: LayerSpec, inputs: list[Shape], output: Shape, fields: list[ReceptiveField]) -> ReceptiveField:
    """The field of `layer`'s output, given its inputs' shapes and fields."""
    axes = len(output) - 1
    try:
        rule = layer.field_rule(inputs, output)
    except ShapeError:
        return UNKNOWN  # a rule that cannot read its own arguments; the shape stage has accepted them

    if rule is FieldRule.NONE or not 1 <= axes <= MAX_SPATIAL_AXES:
        return NONE
    if rule is FieldRule.UNKNOWN or any(f.kind == "unknown" for f in fields):
        return UNKNOWN
    # An input without positions (a vector broadcast over an image) carries the whole input into every position.
    if rule is FieldRule.GLOBAL or any(f.kind in ("global", "none") for f in fields):
        return GLOBAL
    if any(len(f.size) != axes for f in fields):
        return UNKNOWN  # the rule does not say how axes of another count map onto these
    size = tuple(max(f.size[i] for f in fields) for i in range(axes))
    stride = tuple(max(f.stride[i] for f in fields) for i in range(axes))
    if rule is FieldRule.POINTWISE:
        return ReceptiveField("field", size, stride)
    return _through_windows(rule, size, stride)


def _through_windows(
    windows: tuple[AxisWindow, ...], size: tuple[Fraction, ...], stride: tuple[Fraction, ...]
) -> ReceptiveField:
    if len(windows) != len(size):
        return UNKNOWN
    grown = tuple(r + (w.kernel - 1) * j for r, j, w in zip(size, stride, windows, strict=True))
    moved = tuple(j * w.stride for j, w in zip(stride, windows, strict=True))
    return ReceptiveField("field", grown, moved)
