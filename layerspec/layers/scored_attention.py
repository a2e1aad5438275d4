"""Attention without projections: Attention (dot-product, Luong) and AdditiveAttention (Bahdanau).

Keras calls them on a list `[query, value]` or `[query, value, key]` (the key defaults to the value), written as
`inputs:` in that order. Query (..., T, d), key (..., S, d) and value (..., S, dv) give (..., T, dv): each query
position takes a softmax-weighted sum of the values, weighted by its scores against the keys.

MACs count the multiply-accumulates of the matrix products: T*S*d for dot-product scores (none for `concat` scores,
which add, squash and sum without a product), T*S*d for additive scores with `use_scale` (the scale multiplies each
term of the sum), and T*S*dv for the weighted sum of the values, with T all query positions (every axis but the
last) and S the key's positions (its second-to-last axis). The softmax and the dropout are not counted; an unknown
dimension counts as 1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from layerspec.layers.attention import AttentionBase, compatible, no_positions, query_value_key
from layerspec.layers.base import (
    ATTENTION,
    FAILS_WHEN_RUN,
    Shape,
    ShapeError,
    Weight,
    example,
    prod_known,
    register,
)
from layerspec.layers.convolution import CPU_KERNEL
from layerspec.layers.fields import Rate, Seed


class _Scored(AttentionBase):
    dropout: Rate = Field(default=0.0, description="Dropout rate on the attention weights while training.")

    def adds_features(self) -> bool:
        """Whether the scores add query and key features (where a size of 1 broadcasts) rather than multiply them."""
        return True

    def features_fit(self, query: int | None, key: int | None) -> bool:
        if self.adds_features() and (query == 1 or key == 1):
            return True
        return compatible(query, key)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        query, value, key = query_value_key(inputs)
        no_positions(query, self.type)
        if len(query) + 1 > 5:
            # Keras takes the scores' softmax with tf.nn.softmax, which oneDNN runs only up to rank 5 (found by
            # tests/fuzz: "Input dims must be <= 5"); the scores have the inputs' rank.
            raise ShapeError(
                f"{self.type} over inputs of rank {len(query) + 1} (batch included) makes scores of that rank, whose "
                f"softmax {CPU_KERNEL} runs only up to rank 5: reshape the inputs to fewer axes first",
                "inputs",
            )
        for i, shape in enumerate(inputs[1:], start=1):
            if len(shape) != len(query) or not all(map(compatible, query[:-2], shape[:-2])):
                raise ShapeError(
                    f"{self.type} needs query, value and key of the same rank and the same sizes on every axis but "
                    f"the last two ({FAILS_WHEN_RUN})",
                    "inputs",
                    clash=(0, i),
                )
        if not compatible(value[-2], key[-2]):
            raise ShapeError(
                f"{self.type} needs as many value positions as key positions (second-to-last dimension; "
                f"{FAILS_WHEN_RUN})",
                "inputs",
                clash=(1, 2),
            )
        if not self.features_fit(query[-1], key[-1]):
            keyed = 2 if len(inputs) > 2 else 1
            what = "key" if keyed == 2 else "value (the key when none is given)"
            raise ShapeError(
                f"{self.type} needs the query and the {what} to have the same feature size (last dimension; "
                f"{FAILS_WHEN_RUN})",
                "inputs",
                clash=(0, keyed),
            )
        return (*query[:-1], value[-1])

    def attention_scores_shape(self, inputs: list[Shape]) -> Shape:
        """The second output with `return_attention_scores`: (..., T, S)."""
        return (*inputs[0][:-1], query_value_key(inputs)[2][-2])

    def _weighted_sum(self, inputs: list[Shape]) -> int:
        query, value, key = query_value_key(inputs)
        return prod_known(query[:-1]) * prod_known(key[-2:-1]) * prod_known(value[-1:])

    def _score_products(self, inputs: list[Shape]) -> int:
        query, _, key = query_value_key(inputs)
        return prod_known(query[:-1]) * prod_known(key[-2:-1]) * prod_known(query[-1:])


@register(ATTENTION)
class Attention(_Scored):
    """Dot-product attention: scores are query-key dot products (`dot`) or a sum of tanh(query + key) (`concat`),
    optionally scaled by one learned scalar."""

    examples = (
        example((5, 8), (7, 8)),
        example((5, 8), (7, 3), (7, 8), use_scale=True),
        example((5, 8), (7, 8), score_mode="concat", dropout=0.1, seed=3),
        example((None, 4), (None, 4), use_scale=True, score_mode="concat"),
        example((3, 5, 8), (3, 7, 8)),
        example((5, 1), (7, 6), score_mode="concat"),
    )
    type: Literal["Attention"] = Field(description="The Keras layer class.")
    use_scale: bool = Field(default=False, description="Learn a scalar that scales the scores.")
    score_mode: Literal["dot", "concat"] = Field(
        default="dot", description="dot: query-key dot products; concat: sum over features of tanh(query + key)."
    )
    seed: Seed = Field(default=None, description="Seed of the dropout.")

    def adds_features(self) -> bool:
        return self.score_mode == "concat"

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        weights = [Weight("scale", (), self.trainable)] if self.use_scale else []
        if self.score_mode == "concat":
            weights.append(Weight("concat_score_weight", (), self.trainable))
        return weights

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        scores = self._score_products(inputs) if self.score_mode == "dot" else 0
        return scores + self._weighted_sum(inputs)


@register(ATTENTION)
class AdditiveAttention(_Scored):
    """Additive (Bahdanau) attention: scores are the sum over features of scale * tanh(query + key), with a
    learned scale vector of the query's feature size (`use_scale`)."""

    examples = (
        example((5, 8), (7, 8)),
        example((5, 8), (7, 3), (7, 8), use_scale=False, dropout=0.5),
        example((None, 6), (None, 6), dropout=0.3),
        example((2, 5, 4), (2, 7, 4), trainable=False, dropout=0.1),
    )
    type: Literal["AdditiveAttention"] = Field(description="The Keras layer class.")
    use_scale: bool = Field(default=True, description="Learn a scale vector (one per query feature) for the scores.")

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        if not self.use_scale:
            return []
        features = inputs[0][-1]
        if features is None:
            raise ShapeError("AdditiveAttention with `use_scale` needs a known query feature size", "use_scale")
        return [Weight("scale", (features,), self.trainable)]

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        scores = self._score_products(inputs) if self.use_scale else 0
        return scores + self._weighted_sum(inputs)
