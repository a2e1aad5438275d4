"""GroupQueryAttention: multi-head attention whose query heads share fewer key and value heads (what it shares
with MultiHeadAttention, and how MACs are counted, is in attention.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from layerspec.layers.attention import ProjectedAttention, features, query_value_key, same_positions
from layerspec.layers.base import (
    ATTENTION,
    FAILS_WHEN_RUN,
    Shape,
    ShapeError,
    Weight,
    example,
    format_shape,
    prod_known,
    register,
)
from layerspec.layers.fields import PositiveInt


@register(ATTENTION)
class GroupQueryAttention(ProjectedAttention):
    """Grouped-query attention (Ainslie et al.): `num_query_heads` query heads share `num_key_value_heads` key and
    value heads. `inputs: [query, value]` or `[query, value, key]`, each of shape (positions, features); the
    output has the query's shape.

    MACs, with T query positions, S key positions, E the query's features, h head_dim, Hq and Hkv the head counts:
    T*E*Hq*h (query projection) + S*key_features*Hkv*h + S*value_features*Hkv*h + 2*T*S*Hq*h (scores and weighted
    sum, after the key/value heads are repeated) + T*Hq*h*E (output projection), plus T*E*Hq*h with the gate.
    """

    examples = (
        example((6, 8), (6, 8), head_dim=4, num_query_heads=4, num_key_value_heads=2),
        example((5, 8), (7, 8), (7, 3), head_dim=2, num_query_heads=3, num_key_value_heads=1, use_bias=False),
        example((None, 6), (None, 6), head_dim=3, num_query_heads=2, num_key_value_heads=2, dropout=0.2),
        example((5, 8), (7, 8), head_dim=2, num_query_heads=4, num_key_value_heads=4, use_gate=True),
    )
    rank: ClassVar[int | None] = 1  # (positions, features): Keras's projections are written for rank 3 with the batch
    type: Literal["GroupQueryAttention"] = Field(description="The Keras layer class.")
    head_dim: PositiveInt = Field(description="Size of each attention head.")
    num_query_heads: PositiveInt = Field(description="Number of query heads.")
    num_key_value_heads: PositiveInt = Field(description="Number of key and value heads; must divide num_query_heads.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if self.num_query_heads % self.num_key_value_heads:
            raise ShapeError(
                f"`num_key_value_heads` {self.num_key_value_heads} must divide `num_query_heads` "
                f"{self.num_query_heads}",
                "num_key_value_heads",
            )
        query, value, key = query_value_key(inputs)
        for shape in inputs:
            if len(shape) != 2:
                raise ShapeError(
                    f"{self.type} needs inputs of shape (positions, features), but received {format_shape(shape)} "
                    f"({FAILS_WHEN_RUN})",
                    "inputs",
                )
        if query[-1] != value[-1]:
            raise ShapeError(
                f"{self.type} needs query and value with the same feature size (last dimension)",
                "inputs",
                clash=(0, 1),
            )
        same_positions(value, key, self.type)
        return query

    def attention_scores_shape(self, inputs: list[Shape]) -> Shape:
        """The second output with `return_attention_scores`: (num_query_heads, T, S)."""
        return (self.num_query_heads, inputs[0][0], query_value_key(inputs)[2][0])

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        query, value, key = query_value_key(inputs)
        hq, hkv, dim = self.num_query_heads, self.num_key_value_heads, self.head_dim
        e = features(query, "query", self.type)
        weights = self._projection("query", e, hq, dim)
        weights += self._projection("key", features(key, "key", self.type), hkv, dim)
        if self.use_gate:
            weights += self._projection("gate", e, hq, dim)
        weights += self._projection("value", features(value, "value", self.type), hkv, dim)
        return weights + self._output(hq, dim, (e,))

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        query, value, key = query_value_key(inputs)
        hq, hkv, dim = self.num_query_heads, self.num_key_value_heads, self.head_dim
        t, s, e = prod_known(query[:-1]), prod_known(key[:-1]), prod_known(query[-1:])
        total = t * e * hq * dim + s * prod_known(key[-1:]) * hkv * dim + s * prod_known(value[-1:]) * hkv * dim
        if self.use_gate:
            total += t * e * hq * dim
        return total + 2 * t * s * hq * dim + t * hq * dim * e
