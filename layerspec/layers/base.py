"""The layer registry: one entry per Keras layer type, holding its spec model and its static rules.

Each registered class is a pydantic model of the layer's Keras constructor arguments (same names, same defaults)
and knows three things about itself, given the shapes of its inputs (batch dimension left out, None where
unknown): its output shape, the shapes of the weights Keras would create, and its multiply-accumulate count.
Parameter counts follow from the weight shapes, so there is no separate rule to keep in step. The Keras
builder is generic (`keras.layers.<type>(**arguments)`), which is why the argument names must be Keras's own.

Everything else about a type is a ClassVar of its class too (family and its diagram colour, how many inputs, the
rank it needs, whether it casts its input, the examples its contract test builds), so that nothing outside its
family's module lists layer types by name: adding a type is adding one class.
"""

from __future__ import annotations

import builtins
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

# Re-exported: the layer families' modules take everything from here.
from layerspec.layers.calls import REF_PATTERN as REF_PATTERN
from layerspec.layers.calls import CallArgs as CallArgs
from layerspec.layers.calls import TensorRef as TensorRef
from layerspec.layers.calls import split_ref as split_ref

# Re-exported: the family modules import their family and these rule types from here.
from layerspec.layers.families import (
    ACTIVATION as ACTIVATION,
)
from layerspec.layers.families import (
    ATTENTION as ATTENTION,
)
from layerspec.layers.families import (
    AUGMENTATION as AUGMENTATION,
)
from layerspec.layers.families import (
    CONVOLUTION as CONVOLUTION,
)
from layerspec.layers.families import (
    DENSE as DENSE,
)
from layerspec.layers.families import (
    ELEMENTWISE_FAMILIES as ELEMENTWISE_FAMILIES,
)
from layerspec.layers.families import (
    EMBEDDING as EMBEDDING,
)
from layerspec.layers.families import (
    FAMILIES as FAMILIES,
)
from layerspec.layers.families import (
    INPUT as INPUT,
)
from layerspec.layers.families import (
    MERGE as MERGE,
)
from layerspec.layers.families import (
    NORMALIZATION as NORMALIZATION,
)
from layerspec.layers.families import (
    POOLING as POOLING,
)
from layerspec.layers.families import (
    PREPROCESSING as PREPROCESSING,
)
from layerspec.layers.families import (
    RECURRENT as RECURRENT,
)
from layerspec.layers.families import (
    REGULARIZATION as REGULARIZATION,
)
from layerspec.layers.families import (
    RESHAPE as RESHAPE,
)
from layerspec.layers.families import (
    WRAPPER as WRAPPER,
)
from layerspec.layers.families import (
    AxisWindow as AxisWindow,
)
from layerspec.layers.families import (
    Family as Family,
)
from layerspec.layers.families import (
    FieldRule as FieldRule,
)

# Re-exported: names, and the shape arithmetic the rules share, live in their own modules.
from layerspec.layers.naming import Named as Named
from layerspec.layers.naming import construction_order as construction_order
from layerspec.layers.naming import default_name as default_name
from layerspec.layers.naming import layer_names as layer_names
from layerspec.layers.shape_math import Shape as Shape
from layerspec.layers.shape_math import ShapeError as ShapeError
from layerspec.layers.shape_math import as_tuple as as_tuple
from layerspec.layers.shape_math import check_positive as check_positive
from layerspec.layers.shape_math import conv_length as conv_length
from layerspec.layers.shape_math import format_shape as format_shape
from layerspec.layers.shape_math import known_channels as known_channels
from layerspec.layers.shape_math import prod_known as prod_known
from layerspec.layers.shape_math import spatial as spatial

# Part of the message of a refusal that Keras makes only when the model runs, not while it builds the model (some
# layers check their inputs' shapes or dtypes in `call` alone): the user learns why `build` is not enough, and the
# differential fuzz tests count these refusals as deliberate.
FAILS_WHEN_RUN = "Keras builds this but fails when the model runs"
# Likewise, of a refusal where Keras declares one output shape (which the layers after it are built for) and returns
# another when the model runs.
SHAPE_WHEN_RUN = "Keras 3.15 declares one shape and returns another when the model runs"


@dataclass(frozen=True)
class Weight:
    name: str
    shape: tuple[int, ...]
    trainable: bool = True

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Example:
    """One configuration of a layer type, held against Keras by tests/test_contract_layers.py: the shapes of
    its inputs (batch dimension left out, None where unknown) and its arguments, as a spec would write them."""

    inputs: tuple[Shape, ...]
    args: Mapping[str, Any]
    # The dtype of every input: a layer that reads integers (HashedCrossing) is tried on integers.
    dtype: str = "float32"


def example(*inputs: Shape, **args: Any) -> Example:
    """An example: the shape of each input (one for most layers, several for a merge), then the arguments."""
    return Example(inputs, args)


def int_example(*inputs: Shape, **args: Any) -> Example:
    """An example whose inputs are int32 (token ids)."""
    return Example(inputs, args, "int32")


# Input shapes the examples use most: an image (height, width, channels) and a sequence (steps, channels).
IMAGE = (9, 11, 4)
SEQUENCE = (20, 6)

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$"
# How a layer treats a mask arriving on its input, as Keras 3 does: "pass" it on to its output unchanged,
# "consume" it (use it, output none), "refuse" it (Keras drops it with only a warning, so the masked steps
# would silently count as data), or "fails" with it (Keras builds the model, which fails when it runs). `check`
# makes the last two errors.
Masking = Literal["pass", "consume", "refuse", "fails"]


class LayerSpec(BaseModel):
    """Arguments common to every layer entry in a spec."""

    # defer_build: each type's validator is built the first time it validates (or a model holding it is built),
    # not at its class statement: a command builds only the types its spec uses (building all 122 took about
    # 0.15 s), and a wrapper's `NestedLayer` is resolvable by then (complete_nested_types).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False, defer_build=True)

    # Everything below that is a ClassVar describes the layer type, not one entry; `register` sets `family`.
    family: ClassVar[Family] = RESHAPE
    # How many tensors the layer takes: merges take several, everything else one.
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    # Spatial dimensions of the (channels-last) input the layer needs, so an input of rank `rank` + 1 without the
    # batch axis: 2 for images, 1 for sequences; None for a layer that takes any rank.
    rank: ClassVar[int | None] = None
    # Whether the layer converts its input to its own float dtype. Keras casts only float inputs to a layer's
    # compute dtype, and most layers fail on an integer or boolean tensor when the model runs although it builds
    # (found by tests/fuzz), so only a layer that casts may read an integer or boolean model input.
    casts_input: ClassVar[bool] = False
    # How a mask on the input is treated (see `Masking`); layers that make masks override `output_masks`.
    masking: ClassVar[Masking] = "refuse"
    # The weight Keras's layer holds as its `kernel` or `embeddings` attribute, which SpectralNormalization
    # normalises; None where it has neither (an RNN's kernel is its cell's, a separable convolution has two).
    keras_kernel: ClassVar[str | None] = None
    # Whether Keras's call reads the mask an input tensor carries when the model runs, not only passes it on: what
    # a mask that only the running model attaches (`masks_when_run`) breaks.
    reads_masks: ClassVar[bool] = False
    # Dtypes a layer that casts still cannot read (Hashing fails on booleans).
    refused_dtypes: ClassVar[tuple[str, ...]] = ()
    # Configurations that tests/test_contract_layers.py checks and builds with Keras, and from which tests/fuzz
    # draws arguments for a type that has no hand-written generator; every registered type needs its own.
    examples: ClassVar[tuple[Example, ...]] = ()
    # Whether TensorFlow has a float16 CPU kernel for what the layer computes: 3-D pooling has none (with oneDNN on
    # or off), so under mixed_precision float16 such a model runs only on a GPU (layerspec/rules/kernels.py).
    cpu_float16: ClassVar[bool] = True
    # Other names keras.layers exports for the same class (MaxPool2D for MaxPooling2D): a spec may write them as
    # `type`, and loading replaces them by the class name (ALIASES), which is all the rest of layerspec sees.
    aliases: ClassVar[tuple[str, ...]] = ()

    # How one output position reads the input's positions (see FieldRule); None: not declared, which is safe:
    # `field_rule` then answers UNKNOWN unless the type is element-wise by family and keeps its input's shape.
    receptive: ClassVar[FieldRule | None] = None

    type: str = Field(description="The Keras layer class.")
    name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Unique layer name; generated as Keras does (conv2d, conv2d_1, ...) when absent.",
    )
    inputs: str | list[str] | None = Field(
        default=None,
        description="Name(s) of earlier layers or model inputs this layer reads; default: the previous entry.",
    )
    trainable: bool = Field(default=True, description="Whether the layer's weights are trained.")
    call: CallArgs | None = Field(
        default=None,
        description="Arguments of the layer's call; this type takes none (`training` is set by Keras itself).",
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def output_count(self) -> int:
        """How many tensors the layer returns (`NAME[i]` reads the i-th); known from the arguments alone."""
        return 1

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        """The shape of every output; a layer with several outputs overrides this (and `output_count`)."""
        return [self.output_shape(inputs)]

    def check_call(self, inputs: list[Shape], tensors: Mapping[str, list[Shape]]) -> None:
        """Raise ShapeError if the tensors passed under `call:` (shapes by argument) do not fit the layer."""

    def combined_mask(self, masks: list[bool]) -> bool:
        """Whether a mask reaches the layer, given which of its inputs carry one (a merge overrides this)."""
        return any(masks)

    def output_masks(self, masked: bool) -> list[bool]:
        """Which outputs carry a mask, given whether a mask reaches the input (refused ones never get here)."""
        return [masked and self.masking == "pass"] * self.output_count()

    @classmethod
    def call_schema(cls) -> builtins.type[CallArgs]:  # `type` here is the field
        """The model of the type's `call:` arguments (its field is `SomeCall | None`): CallArgs itself, which
        takes none, for a type without any."""
        members = get_args(cls.model_fields["call"].annotation)
        return next((m for m in members if isinstance(m, type) and issubclass(m, CallArgs)), CallArgs)

    def masks_when_run(self, masks: list[bool]) -> list[bool]:
        """Which outputs carry a mask that Keras attaches only when the model runs (the model it builds declares
        none), given which inputs carry a mask: the scores of a masked multi-head attention."""
        return [False] * self.output_count()

    def input_kind(self) -> Literal["float", "integer", "any"]:
        """What the layer computes on: floats, integer ids (an embedding), or anything (it casts its input)."""
        return "any" if self.casts_input else "float"

    def nested(self) -> dict[str, LayerSpec]:
        """The layers a wrapper holds, by argument (`layer`, `backward_layer`); none for other types."""
        return {}

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        return []

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return 0

    def field_rule(self, inputs: list[Shape], output: Shape) -> FieldRule | tuple[AxisWindow, ...]:
        """How one output position reads the input's positions: a rule, or a window per spatial axis. Types whose
        rule depends on their arguments (convolutions, pooling, a softmax's axis) override this."""
        if self.receptive is not None:
            return self.receptive
        if self.family.name in ELEMENTWISE_FAMILIES and len(inputs) == 1 and inputs[0] == output:
            return FieldRule.POINTWISE
        return FieldRule.UNKNOWN

    def keras_arguments(self) -> dict[str, Any]:
        """Constructor arguments for Keras: only those written in the spec, so Keras's defaults apply."""
        # By alias: a field whose Keras name clashes with a LayerSpec method takes that name as its alias.
        args = self.model_dump(exclude_unset=True, exclude={"type", "inputs", "call"}, by_alias=True)
        args["name"] = self.name
        return args

    def softmax_axes(self) -> tuple[str, list[int]] | None:
        """The softmax the layer ends with, as (softmax or log_softmax, axes in Keras's numbering), if any."""
        # The field's value, if the type has one; read from the model's fields, since a missing attribute costs
        # pydantic a slow lookup on every layer of a large spec.
        activation = self.__dict__.get("activation")
        if activation in ("softmax", "log_softmax"):
            return str(activation), [-1]
        return None

    def output_dtype(self) -> str | None:
        """The dtype of the output where it is an integer one (a bucket index, a hash), else None: only a layer
        that casts (casts_input) may read it, as for an integer model input."""
        return None

    def input_scale(self) -> float | None:
        """The constant the layer multiplies its input by, for a layer that only rescales its input."""
        return None

    def keras_call(self, layer: Any, inputs: list[Any], **kwargs: Any) -> Any:
        """Call the built Keras layer on its input tensors the way its `call` signature takes them: a merge (any type
        that takes several inputs) a list, even of one tensor; every other layer its single tensor. A type whose
        `call` takes its inputs as separate positional arguments (MultiHeadAttention: query, value, key) overrides
        this; `call:` arguments come as keyword arguments."""
        return layer(inputs if self.max_inputs != 1 else inputs[0], **kwargs)

    def input_names(self) -> list[str] | None:
        if self.inputs is None:
            return None
        return [self.inputs] if isinstance(self.inputs, str) else list(self.inputs)


REGISTRY: dict[str, type[LayerSpec]] = {}
# Keras's other name for a class -> the class name (its registry key).
ALIASES: dict[str, str] = {}

L = TypeVar("L", bound=type[LayerSpec])


def register(family: Family) -> Callable[[L], L]:
    """Class decorator: add a layer spec to the registry under its `type` literal, which must be new."""
    if FAMILIES.get(family.name) is not family:
        raise ValueError(f"unknown layer family {family!r}: define it in layerspec/layers/families.py")

    def decorate(cls: L) -> L:
        type_name = _type_literal(cls)
        if type_name in REGISTRY:
            # A second class would silently replace the first one's rules (and its schema entry).
            earlier = REGISTRY[type_name]
            raise ValueError(
                f"layer type {type_name!r} is registered twice: by {earlier.__module__}.{earlier.__qualname__} "
                f"and by {cls.__module__}.{cls.__qualname__}; remove one, or give it another `type`"
            )
        for alias in (type_name, *vars(cls).get("aliases", ())):
            if alias in ALIASES or (alias != type_name and alias in REGISTRY):
                raise ValueError(f"{cls.__qualname__}: alias {alias!r} is already a layer type or another's alias")
        cls.family = family
        REGISTRY[type_name] = cls
        ALIASES.update(dict.fromkeys(vars(cls).get("aliases", ()), type_name))
        return cls

    return decorate


def _entry_type(value: Any) -> str | None:
    return value.get("type") if isinstance(value, dict) else getattr(value, "type", None)


def nested_layer_union() -> Any:
    """Every registered type, tagged by `type`: what a wrapper's `layer:` may hold."""
    members = tuple(Annotated[cls, Tag(name)] for name, cls in REGISTRY.items())
    return Annotated[Union[members], Discriminator(_entry_type)]  # noqa: UP007  # a runtime-built union


def complete_nested_types() -> None:
    """Make the wrappers' `layer:` annotation (`NestedLayer`, a forward reference until every family's module is
    imported) resolvable: called once the registry is full. Each type's validator is then built by pydantic the
    first time it is used (`defer_build`), so a command builds only the types its spec holds, not all of them."""
    union = nested_layer_union()
    for cls in REGISTRY.values():
        if not cls.__pydantic_fields_complete__:
            vars(sys.modules[cls.__module__]).setdefault("NestedLayer", union)


if TYPE_CHECKING:
    NestedLayer = LayerSpec


def _type_literal(cls: type[LayerSpec]) -> str:
    """The one value of a layer class's `type: Literal[...]` field: its Keras class name."""
    (type_name,) = get_args(cls.model_fields["type"].annotation)
    return str(type_name)
