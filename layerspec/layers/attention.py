"""Multi-head attention layers: MultiHeadAttention here, GroupQueryAttention in grouped_attention.py.

Both take their inputs as separate positional tensors, in the order of Keras's `call(query, value, key=None)`:
`inputs: [query, value]` or `[query, value, key]` (the key defaults to the value). Both project the inputs with
EinsumDense sub-layers (query, key, value, an optional gate, and the output projection attention_output), whose
kernels and biases are the layer's weights.

MACs count the multiply-accumulates of the matrix products Keras performs, per example: the query, key and value
projections (and the gate's), the query-key dot products, the softmax-weighted sum of the values and the output
projection. Element-wise work is not counted: biases, the 1/sqrt(key_dim) scaling, the softmax, the dropout, the
gate's multiplication and GroupQueryAttention's repetition of key/value heads. An unknown dimension counts as 1.

`call:` takes `use_causal_mask` (each query position attends only to key positions up to its own) and
`return_attention_scores`, which makes the scores a second output, `NAME[1]`, of the shape Keras gives them
(`attention_scores_shape`).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    ATTENTION,
    FAILS_WHEN_RUN,
    CallArgs,
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
from layerspec.layers.convolution import CPU_KERNEL
from layerspec.layers.fields import (
    Constraint,
    KernelInitializer,
    PositiveInt,
    Rate,
    Regularizer,
    Seed,
    VectorInitializer,
)

AttentionAxis = Annotated[int, Field(ge=-64, le=64)]


def compatible(a: int | None, b: int | None) -> bool:
    """Two sizes that may be equal at run time: equal, or either unknown."""
    return a is None or b is None or a == b


def features(shape: Shape, what: str, layer: str) -> int:
    if shape[-1] is None:
        raise ShapeError(f"{layer} needs a known feature size (last dimension) of its {what}; it is unknown", "inputs")
    return shape[-1]


class AttentionCall(CallArgs):
    """Call arguments of an attention layer."""

    use_causal_mask: bool = Field(
        default=False, description="Each query position attends only to key positions up to its own (a decoder)."
    )
    return_attention_scores: bool = Field(
        default=False, description="Return the attention scores too, as the second output (`NAME[1]`)."
    )


class AttentionBase(LayerSpec):
    """What every attention type shares: a query, a value and perhaps a key; masks follow the query."""

    call: AttentionCall | None = Field(
        default=None, description="Call arguments: `use_causal_mask`, `return_attention_scores`."
    )

    def scores_returned(self) -> bool:
        return self.call is not None and self.call.return_attention_scores

    def output_count(self) -> int:
        return 2 if self.scores_returned() else 1

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        output = self.output_shape(inputs)
        return [output, self.attention_scores_shape(inputs)] if self.scores_returned() else [output]

    def attention_scores_shape(self, inputs: list[Shape]) -> Shape:
        """The scores' shape, the second output with `return_attention_scores`."""
        raise NotImplementedError

    def output_masks(self, masked: bool) -> list[bool]:
        return [masked] + [False] * (self.output_count() - 1)  # the scores carry no mask

    receptive: ClassVar[FieldRule | None] = FieldRule.GLOBAL  # each query position reads every value position
    # Keras's attention layers take masks and give the output the query's mask.
    masking: ClassVar[Masking] = "pass"
    reads_masks: ClassVar[bool] = True

    def combined_mask(self, masks: list[bool]) -> bool:
        return bool(masks) and masks[0]

    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 3


class ProjectedAttention(AttentionBase):
    """What MultiHeadAttention and GroupQueryAttention share: 2 or 3 separate inputs, projection sub-layers."""

    dropout: Rate = Field(default=0.0, description="Dropout rate on the attention probabilities while training.")
    use_bias: bool = Field(default=True, description="Whether the projections (EinsumDense) add biases.")
    use_gate: bool = Field(
        default=False,
        description="Gate the attention output with a sigmoid projection of the query.",
    )
    sliding_window: PositiveInt | None = Field(
        default=None, description="Each query position attends only to keys fewer than this many positions away."
    )
    kernel_initializer: KernelInitializer = Field(
        default="glorot_uniform",
        description="Initializer of the projection kernels (an id, or a mapping with arguments).",
    )
    bias_initializer: VectorInitializer = Field(
        default="zeros",
        description="Initializer of the projection biases (an id, or a mapping with arguments).",
    )
    kernel_regularizer: Regularizer = Field(default=None, description="Regularizer of the projection kernels.")
    bias_regularizer: Regularizer = Field(default=None, description="Regularizer of the projection biases.")
    activity_regularizer: Regularizer = Field(default=None, description="Regularizer of the projections' outputs.")
    kernel_constraint: Constraint = Field(default=None, description="Constraint on the projection kernels.")
    bias_constraint: Constraint = Field(default=None, description="Constraint on the projection biases.")
    seed: Seed = Field(default=None, description="Seed of the attention dropout.")

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        # Keras's causal mask is (1, query steps, key steps); it cannot be spread over scores with more than one
        # attention axis, and the call fails (`axis -5 is out of bounds`).
        if self.call is not None and self.call.use_causal_mask and len(inputs[0]) != 2:
            raise ShapeError(
                f"{self.type} with `use_causal_mask` needs a query of shape (steps, features); received "
                f"{format_shape(inputs[0])} ({FAILS_WHEN_RUN})",
                "call",
            )
        return super().output_shapes(inputs)

    def masks_when_run(self, masks: list[bool]) -> list[bool]:
        # A causal mask or masked inputs go through Keras's Softmax layer, whose output, the scores, keeps the mask
        # (1 or batch, 1, T, S) when the model runs (found by tests/fuzz).
        applied = (self.call is not None and self.call.use_causal_mask) or any(masks)
        return [False, applied] if self.scores_returned() else [False]

    def keras_call(self, layer: Any, inputs: list[Any], **kwargs: Any) -> Any:
        # Keras's call(query, value, key=None): separate tensors, not a list.
        return layer(*inputs, **kwargs)

    def _projection(self, name: str, size: int, heads: int, dim: int) -> list[Weight]:
        kernel = Weight(f"{name}/kernel", (size, heads, dim), self.trainable)
        return [kernel, Weight(f"{name}/bias", (heads, dim), self.trainable)] if self.use_bias else [kernel]

    def _output(self, heads: int, dim: int, out: tuple[int, ...]) -> list[Weight]:
        kernel = Weight("attention_output/kernel", (heads, dim, *out), self.trainable)
        return [kernel, Weight("attention_output/bias", out, self.trainable)] if self.use_bias else [kernel]


def query_value_key(inputs: list[Shape]) -> tuple[Shape, Shape, Shape]:
    return inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else inputs[1]


def no_positions(query: Shape, layer: str) -> None:
    """A query of shape (features,) alone: Keras would attend over nothing, or across the batch."""
    if len(query) < 2:
        raise ShapeError(
            f"{layer} needs inputs of shape (positions..., features): a query of shape {format_shape(query)} has "
            f"no positions to attend over ({FAILS_WHEN_RUN}, or attends across the batch)",
            "inputs",
        )


def same_positions(value: Shape, key: Shape, layer: str) -> None:
    """Keras compares the value's and key's shapes but for the features as tuples: an unknown size equals only
    another unknown one."""
    if value[:-1] != key[:-1]:
        raise ShapeError(
            f"{layer} needs value and key of the same shape except the last dimension (an unknown size matches "
            "only an unknown one, as Keras compares them)",
            "inputs",
            clash=(1, 2),
        )


@register(ATTENTION)
class MultiHeadAttention(ProjectedAttention):
    """Multi-head scaled dot-product attention (Vaswani et al.): `inputs: [query, value]` or `[query, value, key]`;
    self-attention reads the same layer twice. Output: the query's shape, with `output_shape` for its last axis.

    MACs, with T the query positions (product of all but the query's last axis), S the key positions, T_a and S_a
    the positions along the attention axes, H heads, E the query's features: T*E*H*key_dim (query projection) +
    S*key_features*H*key_dim + S*value_features*H*value_dim + T*S_a*H*key_dim (scores) + T*S_a*H*value_dim
    (weighted sum) + T*H*value_dim*prod(output_shape or E) (output projection), plus T*E*H*value_dim with the gate.
    """

    examples = (
        example((6, 8), (6, 8), num_heads=2, key_dim=4),
        example((5, 8), (7, 6), num_heads=3, key_dim=2, value_dim=5, use_bias=False),
        example((5, 8), (7, 6), (7, 3), num_heads=2, key_dim=4, value_dim=5, output_shape=10),
        example((None, 8), (None, 8), num_heads=1, key_dim=8, output_shape=[2, 3], dropout=0.1),
        example((3, 5, 8), (3, 6, 4), num_heads=2, key_dim=3, attention_axes=[2]),
        example((3, 5, 8), (4, 6, 8), num_heads=2, key_dim=3, use_gate=True),
        example((4, 8), (4, 8), num_heads=2, key_dim=4, trainable=False, sliding_window=2),
    )
    type: Literal["MultiHeadAttention"] = Field(description="The Keras layer class.")
    num_heads: PositiveInt = Field(description="Number of attention heads.")
    key_dim: PositiveInt = Field(description="Size of each head of the query and key projections.")
    value_dim: PositiveInt | None = Field(
        default=None, description="Size of each head of the value projection; null: key_dim."
    )
    # `output_shape` is Keras's name, but LayerSpec.output_shape is the shape rule: the field takes it as its alias.
    output_dims: PositiveInt | Annotated[list[PositiveInt], Field(min_length=1, max_length=8)] | None = Field(
        default=None,
        alias="output_shape",
        description="Shape of each output position (replacing the query's last axis); null: the query's features.",
    )
    attention_axes: AttentionAxis | Annotated[list[AttentionAxis], Field(min_length=1, max_length=8)] | None = Field(
        default=None,
        description="Axes attention runs over (the batch is axis 0; never the last, the features); null: every axis "
        "but the batch and the features.",
    )

    @property
    def head_value_dim(self) -> int:
        return self.value_dim or self.key_dim

    def out_dims(self, query: Shape) -> tuple[int, ...]:
        if self.output_dims is None:
            return (features(query, "query", self.type),)
        return (self.output_dims,) if isinstance(self.output_dims, int) else tuple(self.output_dims)

    def axes(self, query: Shape) -> list[int]:
        """The attention axes as indices into a shape without the batch axis (Keras's axis a is index a - 1)."""
        rank = len(query) + 1  # with the batch axis
        if self.attention_axes is None:
            return list(range(rank - 2))
        written = [self.attention_axes] if isinstance(self.attention_axes, int) else self.attention_axes
        # Keras counts a negative axis from the end of the input without its feature axis: -1 is rank - 2.
        axes = [a if a >= 0 else rank - 1 + a for a in written]
        if any(not 1 <= a <= rank - 2 for a in axes) or len(set(axes)) != len(axes):
            raise ShapeError(
                f"`attention_axes` {self.attention_axes} must name distinct axes between 1 and {rank - 2} (not the "
                f"batch axis 0 nor the feature axis {rank - 1}) of inputs of rank {rank}; {FAILS_WHEN_RUN}",
                "attention_axes",
            )
        return sorted(a - 1 for a in axes)

    def _checked(self, inputs: list[Shape]) -> list[int]:
        query, value, key = query_value_key(inputs)
        no_positions(query, self.type)
        for i, shape in enumerate(inputs[1:], start=1):
            if len(shape) != len(query):
                raise ShapeError(
                    f"{self.type} needs query, value and key of the same rank ({FAILS_WHEN_RUN})",
                    "inputs",
                    clash=(0, i),
                )
        same_positions(value, key, self.type)
        if self.sliding_window is not None and len(query) != 2:
            # Keras builds the window's mask as (1, T, S) from axis 1 alone, which fits only (positions, features).
            raise ShapeError(
                f"`sliding_window` needs inputs of shape (positions, features), but the query has shape "
                f"{format_shape(query)} ({FAILS_WHEN_RUN})",
                "sliding_window",
            )
        axes = self.axes(query)
        # Scores: (batch, other axes, heads, query's attention axes, key's). Keras takes a softmax over one axis
        # with tf.nn.softmax, which oneDNN runs only up to rank 5 (several axes take another path).
        scores_rank = 1 + (len(query) - 1 - len(axes)) + 1 + 2 * len(axes)
        if len(axes) == 1 and scores_rank > 5:
            raise ShapeError(
                f"attention over one axis of inputs of rank {len(query) + 1} makes scores of rank {scores_rank}, "
                f"whose softmax {CPU_KERNEL} runs only up to rank 5: attend over more axes (`attention_axes`), or "
                "reshape the inputs to fewer axes",
                "attention_axes",
            )
        for i in range(len(query) - 1):
            if i not in axes and not compatible(query[i], key[i]):
                raise ShapeError(
                    f"{self.type} needs query and value of the same size on axis {i + 1}, which is not an "
                    f"attention axis ({FAILS_WHEN_RUN})",
                    "inputs",
                    clash=(0, 1),
                )
        return axes

    def output_shape(self, inputs: list[Shape]) -> Shape:
        self._checked(inputs)
        return (*inputs[0][:-1], *self.out_dims(inputs[0]))

    def attention_scores_shape(self, inputs: list[Shape]) -> Shape:
        """The second output with `return_attention_scores`. Keras's symbolic shape is
        (num_heads, T, T) with T the query's axis 1, even when the key's length differs: what `build` compares.
        layerspec.rules.attention refuses a layer that reads scores whose shape differs when run."""
        return (self.num_heads, inputs[0][0], inputs[0][0])

    def scores_when_run(self, inputs: list[Shape]) -> Shape:
        """The scores' shape when the model runs: (other axes..., heads, the query's attention axes..., the key's)."""
        query, _, key = query_value_key(inputs)
        axes = self.axes(query)
        others = (query[i] for i in range(len(query) - 1) if i not in axes)
        return (*others, self.num_heads, *(query[i] for i in axes), *(key[i] for i in axes))

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        query, value, key = query_value_key(inputs)
        heads, kd, vd = self.num_heads, self.key_dim, self.head_value_dim
        q, k = features(query, "query", self.type), features(key, "key", self.type)
        v = features(value, "value", self.type)
        weights = self._projection("query", q, heads, kd) + self._projection("key", k, heads, kd)
        if self.use_gate:
            weights += self._projection("gate", q, heads, vd)
        weights += self._projection("value", v, heads, vd)
        return weights + self._output(heads, vd, self.out_dims(query))

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        query, value, key = query_value_key(inputs)
        heads, kd, vd = self.num_heads, self.key_dim, self.head_value_dim
        t, s = prod_known(query[:-1]), prod_known(key[:-1])
        s_attended = prod_known(tuple(key[i] for i in self.axes(query)))
        projections = t * prod_known(query[-1:]) * heads * kd + s * prod_known(key[-1:]) * heads * kd
        projections += s * prod_known(value[-1:]) * heads * vd
        if self.use_gate:
            projections += t * prod_known(query[-1:]) * heads * vd
        attention = t * s_attended * heads * (kd + vd)
        return projections + attention + t * heads * vd * prod_known(self.out_dims(query))
