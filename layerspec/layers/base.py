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

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
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

Shape = tuple[int | None, ...]


class ShapeError(ValueError):
    """A layer cannot be applied to its inputs.

    `field` names the argument to point at, if any; `clash` the positions of two inputs that do not fit
    together, so the message can name those inputs and their shapes (the rule knows only positions).
    """

    def __init__(self, message: str, field: str | None = None, clash: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.clash = clash


# Part of the message of a refusal that Keras makes only when the model runs, not while it builds the model (some
# layers check their inputs' shapes or dtypes in `call` alone): the user learns why `build` is not enough, and the
# differential fuzz tests count these refusals as deliberate.
FAILS_WHEN_RUN = "Keras builds this but fails when the model runs"


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

    # defer_build: each type's validator is built by `complete_nested_types`, once every family's module is
    # imported, instead of at its class statement (where a wrapper's, whose `NestedLayer` is not defined yet,
    # failed and was built again); a few hundredths of a second of every command.
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
        raise ValueError(f"unknown layer family {family!r}: define it in layerspec/layers/base.py")

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
    """Build the wrappers' models, whose `layer:` may hold any registered type: called once every family's module
    is imported (their annotation `NestedLayer` is a forward reference until then)."""
    namespace = {"NestedLayer": nested_layer_union()}
    for cls in REGISTRY.values():
        if not cls.__pydantic_complete__:
            cls.model_rebuild(_types_namespace=namespace)


if TYPE_CHECKING:
    NestedLayer = LayerSpec


def _type_literal(cls: type[LayerSpec]) -> str:
    """The one value of a layer class's `type: Literal[...]` field: its Keras class name."""
    (type_name,) = get_args(cls.model_fields["type"].annotation)
    return str(type_name)


@functools.cache  # called once per unnamed layer: a 60,000-layer spec has few distinct types
def default_name(type_name: str) -> str:
    """Keras's automatic layer name for a class: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


Named = tuple[str, str | None]  # a layer's (type, written name or None)


def layer_names(
    entries: Sequence[Named], taken: set[str], nested: Sequence[Sequence[Named]] | None = None
) -> list[str]:
    """Each (type, name) entry's name: its own, or one generated as Keras does (conv2d, conv2d_1, ...) that
    clashes with no written name and nothing in `taken` (the model inputs).

    `nested[i]` lists the layers entry i wraps, in the order Keras makes them (inside out, before the wrapper):
    an unnamed one takes a generated name first, as `TimeDistributed(Dense(3))` makes a `dense` before
    `time_distributed`, so a later Dense is `dense_1` as in Keras."""
    inner = nested or [()] * len(entries)
    written = [name for _, name in entries] + [name for group in inner for _, name in group]
    used = taken | {name for name in written if name is not None}
    counters: dict[str, int] = {}

    def generate(type_name: str) -> str:
        base = default_name(type_name)
        name = base
        while name in used:
            counters[base] = counters.get(base, 0) + 1
            name = f"{base}_{counters[base]}"
        used.add(name)
        return name

    names = []
    for (type_name, name), group in zip(entries, inner, strict=True):
        for inner_type, inner_name in group:
            if inner_name is None:
                generate(inner_type)
        names.append(name if name is not None else generate(type_name))
    return names


def construction_order(layer: LayerSpec) -> list[Named]:
    """The layers a wrapper holds, inside out, in the order Keras code would make them (before the wrapper)."""
    found: list[Named] = []
    for inner in layer.nested().values():
        found += [*construction_order(inner), (inner.type, inner.name)]
    return found


# ---- shape arithmetic shared by the rules ---------------------------------------------------------------------


def as_tuple(value: int | Sequence[int], rank: int, what: str) -> tuple[int, ...]:
    """An int or a sequence of `rank` ints, as Keras's `standardize_tuple` accepts them."""
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        raise ShapeError(f"`{what}` must be an integer or a list of {rank} integers; received {list(value)}", what)
    return tuple(value)


def conv_length(size: int | None, kernel: int, stride: int, padding: str, dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling window along one axis."""
    if size is None:
        return None
    if padding in ("same", "causal"):
        return -(-size // stride)
    effective = kernel + (kernel - 1) * (dilation - 1)
    return (size - effective) // stride + 1


def spatial(shape: Shape, rank: int, layer: str) -> tuple[Shape, int | None]:
    """Split a channels-last shape into its `rank` spatial dimensions and its channels."""
    if len(shape) != rank + 1:
        raise ShapeError(
            f"{layer} expects an input of rank {rank + 2} (batch, {rank} spatial dimension(s), channels); "
            f"received shape {format_shape(shape)}"
        )
    return shape[:rank], shape[rank]


def known_channels(channels: int | None, layer: str) -> int:
    if channels is None:
        raise ShapeError(f"{layer} needs a known number of input channels; the last dimension is unknown")
    return channels


def check_positive(dims: Shape, layer: str, hint: str, field: str | None = None) -> None:
    """A window or crop that leaves nothing: the error points at `field`, the argument to change."""
    if any(d is not None and d <= 0 for d in dims):
        raise ShapeError(
            f"{layer} output would have a dimension of size zero or less {format_shape(dims)}; {hint}", field
        )


def format_shape(shape: Sequence[int | None]) -> str:
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def prod_known(shape: Shape) -> int:
    """Product of the dimensions, treating unknown ones as 1 (MACs per known element)."""
    return math.prod(d for d in shape if d is not None)
