"""What kind of work a layer type does: its family (with the diagram colour), and how its output positions read
its input's positions (for receptive fields, layerspec/receptive.py)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Family:
    """A group of layer types that do the same kind of work; the diagram fills their nodes with `colour`."""

    name: str
    # Light enough for black text, distinct enough to tell the stages of a network apart.
    colour: str

    def __str__(self) -> str:
        return self.name


INPUT = Family("input", "#e9ecef")  # the model's inputs (no registered type: they are not layer entries)
CONVOLUTION = Family("convolution", "#a5d8ff")
NORMALIZATION = Family("normalization", "#ffec99")
ACTIVATION = Family("activation", "#ffc9c9")
POOLING = Family("pooling", "#b2f2bb")
DENSE = Family("dense", "#d0bfff")
MERGE = Family("merge", "#ffd8a8")
RESHAPE = Family("reshape", "#99e9f2")
REGULARIZATION = Family("regularization", "#dee2e6")
AUGMENTATION = Family("augmentation", "#fcc2d7")
PREPROCESSING = Family("preprocessing", "#c3fae8")
EMBEDDING = Family("embedding", "#eebefa")
RECURRENT = Family("recurrent", "#d8f5a2")
ATTENTION = Family("attention", "#ffd43b")
WRAPPER = Family("wrapper", "#ced4da")
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        INPUT,
        CONVOLUTION,
        NORMALIZATION,
        ACTIVATION,
        POOLING,
        DENSE,
        MERGE,
        RESHAPE,
        REGULARIZATION,
        AUGMENTATION,
        PREPROCESSING,
        EMBEDDING,
        RECURRENT,
        ATTENTION,
        WRAPPER,
    )
}


class FieldRule(enum.Enum):
    """How a layer's output positions read its input's positions, for receptive fields (layerspec/receptive.py),
    when that is not a window per axis (`AxisWindow`). The model is taken as it runs at inference."""

    # Each output position reads the same position of each input (activations, normalisation per position,
    # element-wise merges, padding and cropping, which only move positions).
    POINTWISE = "pointwise"
    # Each output position reads every input position (a softmax or normalisation over a spatial axis, global
    # pooling kept as (1, 1, C)): the field is the whole input.
    GLOBAL = "global"
    # The output has no positions to speak of (Flatten, global pooling, a recurrent layer's last state).
    NONE = "none"
    # The type says nothing: a number would be a guess.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class AxisWindow:
    """How one spatial axis of a layer's output reads its input: one output position reads `kernel` consecutive
    input positions (dilation included), and the window moves `stride` input positions per output step; a
    layer that enlarges (upsampling, transposed convolution) moves a fraction of a position."""

    kernel: int
    stride: Fraction


# Families whose types are element-wise unless they say otherwise: an undeclared type of these that keeps its
# input's shape gets FieldRule.POINTWISE, any other undeclared type FieldRule.UNKNOWN.
ELEMENTWISE_FAMILIES = frozenset({"activation", "regularization"})
