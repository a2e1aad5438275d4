"""HashedCrossing: crosses two categorical features into one by hashing each pair of values into a bin.

It reads integers (Keras also takes strings, which a spec's inputs cannot hold) of shape (1,) each, and has no
weights and no MACs (hashing is not a multiply-accumulate).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    FAILS_WHEN_RUN,
    PREPROCESSING,
    Example,
    FieldRule,
    LayerSpec,
    Shape,
    ShapeError,
    format_shape,
    register,
)
from layerspec.layers.fields import PositiveInt


@register(PREPROCESSING)
class HashedCrossing(LayerSpec):
    """Hashes each pair of values of two integer features into one of `num_bins` bins: `inputs: [a, b]`."""

    receptive: ClassVar[FieldRule | None] = FieldRule.NONE  # one bin per example: no positions

    min_inputs: ClassVar[int] = 2
    # Keras's output shape takes exactly two (its call would cross more).
    max_inputs: ClassVar[int | None] = 2
    # It reads integer model inputs (which only a layer that casts may read, see LayerSpec.casts_input), and
    # nothing else: the rule `reads_integers` refuses floats, on which Keras fails when the model runs.
    casts_input: ClassVar[bool] = True
    reads_integers: ClassVar[bool] = True
    examples = (
        Example(((1,), (1,)), {"num_bins": 5}, dtype="int32"),
        Example(((1,), (1,)), {"num_bins": 7, "output_mode": "one_hot"}, dtype="int64"),
        Example(((1,), (1,)), {"num_bins": 1000}, dtype="int64"),
    )
    type: Literal["HashedCrossing"] = Field(description="The Keras layer class.")
    num_bins: PositiveInt = Field(description="Number of hash bins.")
    output_mode: Literal["int", "one_hot"] = Field(
        default="int", description="int: the bin index (int64); one_hot: a vector of num_bins with a 1 at the bin."
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        for shape in inputs:
            if shape != (1,):
                raise ShapeError(
                    f"HashedCrossing needs inputs of shape (1,), one value per example; received {format_shape(shape)} "
                    f"({FAILS_WHEN_RUN})",
                    "inputs",
                )
        return (1,) if self.output_mode == "int" else (self.num_bins,)

    def integer_output(self) -> bool:
        """Whether the output holds integers (the bin index) rather than floats."""
        return self.output_mode == "int"
