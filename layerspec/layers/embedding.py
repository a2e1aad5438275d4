"""Token embeddings and masks: Embedding, ReversibleEmbedding, and Masking, which marks padded steps."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    EMBEDDING,
    SEQUENCE,
    CallArgs,
    FieldRule,
    LayerSpec,
    Shape,
    ShapeError,
    Weight,
    example,
    format_shape,
    int_example,
    prod_known,
    register,
)
from layerspec.layers.fields import Constraint, EmbeddingInitializer, Finite, PositiveInt, Regularizer


class _Embedding(LayerSpec):
    """What both embeddings share: a table of `input_dim` vectors of `output_dim` numbers, looked up by id."""

    keras_kernel: ClassVar[str | None] = "embeddings"

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # each position of the sequence alone

    input_dim: PositiveInt = Field(description="Size of the vocabulary: ids run from 0 to input_dim - 1.")
    output_dim: PositiveInt = Field(description="Length of each embedding vector.")
    embeddings_initializer: EmbeddingInitializer = Field(
        default="uniform",
        description="Initializer of the embedding table (an id, or a mapping with arguments).",
    )
    embeddings_regularizer: Regularizer = Field(
        default=None, description="Regularizer of the embedding table; null for none."
    )
    embeddings_constraint: Constraint = Field(
        default=None, description="Constraint on the embedding table; null for none."
    )
    mask_zero: bool = Field(
        default=False,
        description="Whether id 0 is padding: the output then carries a mask that later layers (an RNN) respect.",
    )

    def input_kind(self) -> Literal["float", "integer", "any"]:
        return "integer"

    def output_masks(self, masked: bool) -> list[bool]:
        return [self.mask_zero]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (*inputs[0], self.output_dim)

    def table(self, trainable: bool) -> Weight:
        return Weight("embeddings", (self.input_dim, self.output_dim), trainable)


@register(EMBEDDING)
class Embedding(_Embedding):
    """Maps integer ids to dense vectors: (steps,) ids in, (steps, output_dim) out."""

    examples = (
        int_example((12,), input_dim=100, output_dim=8),
        int_example((None,), input_dim=50, output_dim=4, mask_zero=True),
        int_example((3, 5), input_dim=10, output_dim=6, lora_rank=2),
        int_example((7,), input_dim=20, output_dim=3, trainable=False),
    )
    type: Literal["Embedding"] = Field(description="The Keras layer class.")
    lora_rank: PositiveInt | None = Field(
        default=None,
        description="Rank of a LoRA update: the table is frozen and two small trainable factors are added.",
    )
    lora_alpha: Finite | None = Field(default=None, description="Scale of the LoRA update; default: the rank.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if self.lora_rank is not None and self.embeddings_constraint is not None:
            raise ShapeError(
                "`lora_rank` cannot be combined with `embeddings_constraint` (Keras refuses it)", "lora_rank"
            )
        return super().output_shape(inputs)

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        if self.lora_rank is None:
            return [self.table(self.trainable)]
        rank = self.lora_rank
        return [
            self.table(False),  # LoRA freezes the table and trains only its two factors
            Weight("lora_embeddings_a", (self.input_dim, rank), self.trainable),
            Weight("lora_embeddings_b", (rank, self.output_dim), self.trainable),
        ]


class ReverseCall(CallArgs):
    """Call arguments of ReversibleEmbedding."""

    reverse: bool = Field(
        default=False,
        description="Whether to map vectors back to logits over the vocabulary (transposed table) instead of ids "
        "to vectors.",
    )


@register(EMBEDDING)
class ReversibleEmbedding(_Embedding):
    """An embedding that can also run backwards (`call: {reverse: true}`), as a language model's output head."""

    examples = (
        int_example((12,), input_dim=100, output_dim=8),
        int_example((9,), input_dim=30, output_dim=4, tie_weights=False, mask_zero=True),
        example((5, 8), input_dim=40, output_dim=8, call={"reverse": True}),
        example((8,), input_dim=16, output_dim=8, tie_weights=False, logit_soft_cap=30.0, call={"reverse": True}),
    )
    type: Literal["ReversibleEmbedding"] = Field(description="The Keras layer class.")
    tie_weights: bool = Field(
        default=True, description="Whether the reverse direction uses the same table (else a second one)."
    )
    reverse_dtype: Literal["float32", "float16", "bfloat16", "float64"] | None = Field(
        default=None, description="Data type of the reverse computation; null for the layer's own."
    )
    logit_soft_cap: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None, description="Bound of the reverse logits (cap * tanh(logits / cap)); null for none."
    )
    mask_zero: bool = Field(
        default=False,
        description="Whether id 0 is padding; Keras computes no mask from it in a functional model, so none follows.",
    )
    call: ReverseCall | None = Field(default=None, description="Call arguments: `reverse`.")

    def reverse(self) -> bool:
        return self.call is not None and self.call.reverse

    def input_kind(self) -> Literal["float", "integer", "any"]:
        return "float" if self.reverse() else "integer"

    def output_masks(self, masked: bool) -> list[bool]:
        # Its compute_mask returns None, so in a functional model (built symbolically) no mask follows it.
        return [False]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if not self.reverse():
            return super().output_shape(inputs)
        if not inputs[0] or inputs[0][-1] != self.output_dim:
            raise ShapeError(
                f"ReversibleEmbedding with `reverse: true` maps vectors of length output_dim = {self.output_dim} "
                f"back to the vocabulary; received shape {format_shape(inputs[0])} (Keras builds it, and it fails "
                "when it runs)",
                "call",
            )
        return (*inputs[0][:-1], self.input_dim)

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        table = [self.table(self.trainable)]
        if self.tie_weights:
            return table
        return [*table, Weight("reverse_embeddings", (self.output_dim, self.input_dim), self.trainable)]

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return prod_known(inputs[0]) * self.input_dim if self.reverse() else 0


@register(EMBEDDING)
class Masking(LayerSpec):
    """Marks the steps whose features all equal `mask_value` as padding: later layers (an RNN) skip them."""

    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE  # each position of the sequence alone

    examples = (
        example(SEQUENCE),
        example((None, 3), mask_value=-1.0),
    )
    type: Literal["Masking"] = Field(description="The Keras layer class.")
    mask_value: Finite = Field(default=0.0, description="The value that marks a padded step (in every feature).")

    def output_masks(self, masked: bool) -> list[bool]:
        return [True]
