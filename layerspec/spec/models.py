"""The spec's schema: pydantic models mirroring the YAML tree.

Every model forbids unknown keys and uses strict types, so `units: true` is an error rather than 1. Layer entries
form a union tagged by `type`, built from the layer registry; the JSON Schema (`layerspec schema`) comes from here.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import ConfigDict, Discriminator, Field, Tag, create_model, model_validator

from layerspec.layers import REGISTRY, LayerSpec
from layerspec.layers.calls import TensorRef
from layerspec.layers.fields import MAX_DIM, PositiveInt
from layerspec.spec.base import Name, StrictModel
from layerspec.spec.data import DataSpec
from layerspec.spec.shares import ShareUse, is_share
from layerspec.spec.train import TrainSpec


class InputSpec(StrictModel):
    """One model input."""

    shape: Annotated[list[PositiveInt | None], Field(min_length=1, max_length=8)] = Field(
        description="Shape of one example, without the batch axis, e.g. [64, 64, 3]; null for an unknown size."
    )
    name: Name | None = Field(default=None, description="Name of the input; default 'input'.")
    dtype: Literal["float32", "float16", "bfloat16", "float64", "int32", "int64", "uint8", "bool"] = Field(
        default="float32", description="Data type of the input tensor."
    )


# Counts are not tensor dimensions: a model may well have more than 2**31 parameters.
Count = Annotated[int, Field(ge=0, le=2**62)]


class Expect(StrictModel):
    """Figures the spec promises; `check` and `build` fail when the model does not match them."""

    params: Count | None = Field(default=None, description="Exact total number of parameters.")
    trainable_params: Count | None = Field(default=None, description="Exact trainable parameters.")
    non_trainable_params: Count | None = Field(default=None, description="Exact non-trainable parameters.")
    output_shape: list[Annotated[int, Field(gt=0, le=MAX_DIM)] | None] | None = Field(
        default=None, description="Shape of the (first) output without the batch axis, e.g. [6]."
    )
    max_params: Count | None = Field(default=None, description="Upper bound on the parameters.")
    max_macs: Count | None = Field(default=None, description="Upper bound on multiply-accumulates per example.")
    min_receptive_field: PositiveInt | Annotated[list[PositiveInt], Field(min_length=1, max_length=3)] | None = Field(
        default=None,
        description="Input positions the largest receptive field must span at least: one number for every "
        "spatial axis, or one per axis, e.g. [64, 64].",
    )


class BlockDefinition(StrictModel):
    """A reusable, parameterised group of layers. `${param}` in a value is replaced by the parameter."""

    description: str | None = Field(default=None, description="What the block does.")
    params: dict[Name, Any] = Field(default_factory=dict, description="Parameters and their default values.")
    layers: Annotated[list[dict[str, Any]], Field(min_length=1)] = Field(
        description="Layer entries (or nested block uses); `$input` names the block's input."
    )


class BlockUse(StrictModel):
    """Use of a block in `layers`, expanded into its layers before anything else is checked."""

    block: Name = Field(description="Name of a block defined under `blocks`.")
    name: Name | None = Field(default=None, description="Prefix of the expanded layer names.")
    inputs: Name | None = Field(default=None, description="Layer feeding the block; default: the previous entry.")
    with_: dict[Name, Any] = Field(default_factory=dict, alias="with", description="Values of the parameters.")
    repeat: Annotated[int, Field(ge=1, le=1000)] = Field(default=1, description="Number of copies in a row.")


def _entry_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if is_share(value):
            return "share"
        return "block" if "block" in value and "type" not in value else value.get("type")
    return getattr(value, "type", None)


MAX_LAYERS = 100_000
LAYERS_DESCRIPTION = "Layers in order; each reads the previous entry unless it names its `inputs`."

if TYPE_CHECKING:
    # Blocks are expanded before validation, so a validated spec's layers are all layer specs.
    Entry = LayerSpec
else:
    # The union is built from the registry, so a newly registered layer type is accepted (and in the schema)
    # without touching this file. `BlockUse` is in it only so the schema shows block uses.
    Entry = Annotated[
        Union[
            Annotated[BlockUse, Tag("block")],
            Annotated[ShareUse, Tag("share")],
            *(Annotated[cls, Tag(name)] for name, cls in REGISTRY.items()),
        ],
        Discriminator(_entry_tag),
    ]


class Spec(StrictModel):
    """A layerspec model specification."""

    # Built when first used: loading validates with `spec_model_for`'s narrower model, and only `layerspec schema`
    # (or a spec with an unknown `type`) needs this one's union of every registered type.
    model_config = ConfigDict(title="layerspec model spec", populate_by_name=True, defer_build=True)

    name: Name = Field(description="The model's name.")
    description: str | None = Field(default=None, description="Free text about the model.")
    input: InputSpec | None = Field(default=None, description="The model's input (one of input / inputs).")
    inputs: Annotated[list[InputSpec], Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="Several model inputs."
    )
    blocks: dict[Name, BlockDefinition] = Field(default_factory=dict, description="Reusable layer groups.")
    layers: Annotated[list[Entry], Field(min_length=1, max_length=MAX_LAYERS)] = Field(description=LAYERS_DESCRIPTION)
    outputs: TensorRef | list[TensorRef] | None = Field(
        default=None,
        description="Output layer name(s), `NAME[i]` for a layer's i-th output (an RNN's state); default: the last.",
    )
    expect: Expect | None = Field(default=None, description="Figures the model must have.")
    data: DataSpec | None = Field(default=None, description="The dataset to train and evaluate on.")
    train: TrainSpec | None = Field(default=None, description="The training recipe.")
    search: dict[Annotated[str, Field(max_length=1000)], Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None,
        description="The search space of `layerspec sweep`: a `--set` key (train.optimizer.learning_rate) mapped "
        "to a distribution (choice:a,b,c, uniform:LO:HI, log_uniform:LO:HI or int:LO:HI); `--space` adds to it.",
    )

    @model_validator(mode="after")
    def _one_input_section(self) -> Spec:
        problem = input_section_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    def input_specs(self) -> list[InputSpec]:
        return [self.input] if self.input is not None else list(self.inputs or [])

    def output_names(self) -> list[str] | None:
        if self.outputs is None:
            return None
        return [self.outputs] if isinstance(self.outputs, str) else list(self.outputs)


def input_section_problem(spec: Spec) -> str | None:
    """The inputs are written once, as `input` or as `inputs`; `check` asks again of a spec the schema refused
    elsewhere (pydantic skips a model's own validators then), so a missing `input:` is reported with the rest."""
    if (spec.input is None) == (spec.inputs is None):
        return "write exactly one of `input` (one input) or `inputs` (a list of inputs)"
    return None


def spec_model_for(layers: Any) -> type[Spec]:
    """The model that validates a spec with these `layers` exactly as `Spec` does, but whose union holds only the
    types they name: a discriminated union sends each entry to the member its tag names, and that member alone
    decides its errors, so leaving out the members no entry names changes nothing but the cost of building the
    validator. Anything the narrow union could answer differently (an entry that is not a mapping, or a missing or
    unknown `type`, whose message lists every tag) goes to `Spec` itself."""
    if not isinstance(layers, list):
        return Spec
    tags = set()
    for entry in layers:
        if not isinstance(entry, dict):
            return Spec
        # An entry with a `type` is tagged by it (`_entry_tag` asked only of the others: one call fewer per layer).
        tag = entry["type"] if "type" in entry else _entry_tag(entry)
        if not isinstance(tag, str) or (tag not in REGISTRY and tag not in ("block", "share")):
            return Spec
        tags.add(tag)
    return _narrow_spec(frozenset(tags) - {"block", "share"})


@functools.cache
def _narrow_spec(types: frozenset[str]) -> type[Spec]:
    for name in types:
        # Each type's validator built on its own first, so that every narrow Spec reuses it (pydantic would
        # otherwise build a deferred member again inside each one: a wrapper's holds every type, 0.13 s).
        REGISTRY[name].model_rebuild()
    members = (*_FIXED_MEMBERS, *(Annotated[cls, Tag(name)] for name, cls in REGISTRY.items() if name in types))
    entry: Any = Annotated[Union[members], Discriminator(_entry_tag)]  # noqa: UP007  # a runtime-built union
    layers: Any = Annotated[list[entry], Field(min_length=1, max_length=MAX_LAYERS)]
    narrow: type[Spec] = create_model(
        "Spec", __base__=Spec, __module__=__name__, layers=(layers, Field(description=LAYERS_DESCRIPTION))
    )
    return narrow


_FIXED_MEMBERS = (Annotated[BlockUse, Tag("block")], Annotated[ShareUse, Tag("share")])
