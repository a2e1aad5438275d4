"""Initializers and regularizers written with their arguments: `{type: variance_scaling, scale: 2.0, ...}`.

A spec names an initializer or a regularizer by Keras's string id (`he_normal`, `l2`), which means Keras's default
settings, or, like `train.optimizer`, as a mapping whose `type` is that id and whose other keys are the Keras
class's own arguments, with Keras's defaults. The builder makes the Keras object from the mapping
(`keras_object`); nothing else about a layer changes. No `seed` is written: a spec seeds every weight with
`train.seed`, and Keras gives every layer the same values when one initializer carries a fixed seed.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

# Magnitudes beyond these make weights or penalties that overflow float32 long before they mean anything.
Magnitude = Annotated[float, Field(ge=-1e6, le=1e6)]
Spread = Annotated[float, Field(ge=0.0, le=1e6)]
Factor = Annotated[float, Field(ge=0.0, le=1e6)]


class KerasObjectSpec(BaseModel):
    """An initializer or regularizer with its arguments."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    # The keras module and class the mapping builds: keras.initializers.VarianceScaling for `variance_scaling`.
    keras_module: ClassVar[str] = "initializers"
    keras_class: ClassVar[str] = ""

    @classmethod
    def type_id(cls) -> str:
        """The Keras id the mapping's `type` holds (`variance_scaling`)."""
        (name,) = get_args(cls.model_fields["type"].annotation)
        return str(name)

    def keras_arguments(self) -> dict[str, Any]:
        return self.model_dump(exclude={"type"})

    def keras_object(self, keras: Any) -> Any:
        """The Keras object this mapping describes (Keras checks its arguments once more)."""
        return getattr(getattr(keras, self.keras_module), self.keras_class)(**self.keras_arguments())


class VarianceScalingSpec(KerasObjectSpec):
    """Random weights whose variance is `scale` divided by the kernel's fan (keras.initializers.VarianceScaling)."""

    keras_class: ClassVar[str] = "VarianceScaling"
    type: Literal["variance_scaling"] = Field(description="The initializer's Keras id.")
    scale: Annotated[float, Field(gt=0.0, le=1e6)] = Field(default=1.0, description="Scaling factor (positive).")
    mode: Literal["fan_in", "fan_out", "fan_avg"] = Field(
        default="fan_in", description="Which fan the variance is divided by: inputs, outputs or their mean."
    )
    distribution: Literal["truncated_normal", "untruncated_normal", "uniform", "normal"] = Field(
        default="truncated_normal",
        description="The distribution the weights are drawn from (`normal`: Keras's other name for truncated_normal).",
    )


class RandomNormalSpec(KerasObjectSpec):
    """Weights drawn from a normal distribution (keras.initializers.RandomNormal)."""

    keras_class: ClassVar[str] = "RandomNormal"
    type: Literal["random_normal"] = Field(description="The initializer's Keras id.")
    mean: Magnitude = Field(default=0.0, description="Mean of the distribution.")
    stddev: Spread = Field(default=0.05, description="Standard deviation of the distribution.")


class TruncatedNormalSpec(KerasObjectSpec):
    """A normal distribution with draws beyond two standard deviations redrawn (keras.initializers.TruncatedNormal)."""

    keras_class: ClassVar[str] = "TruncatedNormal"
    type: Literal["truncated_normal"] = Field(description="The initializer's Keras id.")
    mean: Magnitude = Field(default=0.0, description="Mean of the distribution.")
    stddev: Spread = Field(default=0.05, description="Standard deviation before truncation.")


class RandomUniformSpec(KerasObjectSpec):
    """Weights drawn uniformly between `minval` and `maxval` (keras.initializers.RandomUniform)."""

    keras_class: ClassVar[str] = "RandomUniform"
    type: Literal["random_uniform"] = Field(description="The initializer's Keras id.")
    minval: Magnitude = Field(default=-0.05, description="Lower bound of the range.")
    maxval: Magnitude = Field(default=0.05, description="Upper bound of the range (not below minval).")

    @model_validator(mode="after")
    def _ordered(self) -> RandomUniformSpec:
        if self.minval > self.maxval:
            raise ValueError(f"minval {self.minval} is above maxval {self.maxval}: the range is empty; swap them")
        return self


class ConstantSpec(KerasObjectSpec):
    """Every weight set to `value` (keras.initializers.Constant)."""

    keras_class: ClassVar[str] = "Constant"
    type: Literal["constant"] = Field(description="The initializer's Keras id.")
    value: Magnitude = Field(default=0.0, description="The value of every weight.")


class OrthogonalSpec(KerasObjectSpec):
    """A random orthogonal matrix times `gain` (keras.initializers.Orthogonal); weights of two or more axes."""

    keras_class: ClassVar[str] = "Orthogonal"
    type: Literal["orthogonal"] = Field(description="The initializer's Keras id.")
    gain: Magnitude = Field(default=1.0, description="Factor applied to the orthogonal matrix.")


class L1Spec(KerasObjectSpec):
    """Adds `l1` times the sum of the weights' absolute values to the loss (keras.regularizers.L1)."""

    keras_module: ClassVar[str] = "regularizers"
    keras_class: ClassVar[str] = "L1"
    type: Literal["l1"] = Field(description="The regularizer's Keras id.")
    l1: Factor = Field(default=0.01, description="The L1 factor.")


class L2Spec(KerasObjectSpec):
    """Adds `l2` times the sum of the squared weights to the loss (keras.regularizers.L2)."""

    keras_module: ClassVar[str] = "regularizers"
    keras_class: ClassVar[str] = "L2"
    type: Literal["l2"] = Field(description="The regularizer's Keras id.")
    l2: Factor = Field(default=0.01, description="The L2 factor.")


class L1L2Spec(KerasObjectSpec):
    """Both penalties, each with its own factor (keras.regularizers.L1L2)."""

    keras_module: ClassVar[str] = "regularizers"
    keras_class: ClassVar[str] = "L1L2"
    type: Literal["l1l2"] = Field(description="The regularizer's Keras id.")
    l1: Factor = Field(default=0.0, description="The L1 factor.")
    l2: Factor = Field(default=0.0, description="The L2 factor.")


class OrthogonalRegularizerSpec(KerasObjectSpec):
    """Penalises rows (or columns) of a 2-D kernel that are not orthogonal (keras.regularizers.Orthogonal...)."""

    keras_module: ClassVar[str] = "regularizers"
    keras_class: ClassVar[str] = "OrthogonalRegularizer"
    type: Literal["orthogonal_regularizer"] = Field(description="The regularizer's Keras id.")
    factor: Factor = Field(default=0.01, description="The regularization factor.")
    mode: Literal["rows", "columns"] = Field(default="rows", description="Whether rows or columns are compared.")


VECTOR_INITIALIZERS = (VarianceScalingSpec, RandomNormalSpec, TruncatedNormalSpec, RandomUniformSpec, ConstantSpec)
# Which weights take which objects follows the string ids in fields.py: orthogonal needs two axes, the orthogonal
# regularizer a Dense kernel.
KERNEL_INITIALIZERS = (*VECTOR_INITIALIZERS, OrthogonalSpec)
# Keras's Identity initializer leaves its `gain` out of its config (a saved model loses it), so identity is written
# by its id alone (found by tests/test_contract_objects.py).
INITIALIZERS = KERNEL_INITIALIZERS
REGULARIZERS = (L1Spec, L2Spec, L1L2Spec)
KERNEL_REGULARIZERS = (*REGULARIZERS, OrthogonalRegularizerSpec)
NAME_TAG, NONE_TAG = "name", "none"


def _branch(value: Any) -> str | None:
    """Which alternative a value is: a string id, null, or the mapping of its `type` (None: a mapping without)."""
    if isinstance(value, KerasObjectSpec):
        return value.type_id()
    if isinstance(value, dict):
        kind = value.get("type")
        return kind if isinstance(kind, str) else None
    return NONE_TAG if value is None else NAME_TAG


def with_arguments(names: Any, members: tuple[type[KerasObjectSpec], ...], optional: bool = False) -> Any:
    """A string id from `names`, or a mapping of one of `members` chosen by its `type` (or null if `optional`):
    one union chosen by the value's kind, so a mistake is reported against the alternative that was meant."""
    branches: list[Any] = [Annotated[names, Tag(NAME_TAG)]]
    branches += [Annotated[member, Tag(member.type_id())] for member in members]
    if optional:
        branches.append(Annotated[None, Tag(NONE_TAG)])
    return Annotated[Union[tuple(branches)], Discriminator(_branch)]  # noqa: UP007  # a runtime-built union


OBJECT_SPECS: tuple[type[KerasObjectSpec], ...] = (*INITIALIZERS, *KERNEL_REGULARIZERS)
# The mapping's `type` -> its model; Keras's (module, class name) -> the same, for `layerspec import`.
BY_TYPE: dict[str, type[KerasObjectSpec]] = {cls.type_id(): cls for cls in OBJECT_SPECS}
BY_KERAS_CLASS: dict[tuple[str, str], type[KerasObjectSpec]] = {
    (cls.keras_module, cls.keras_class): cls for cls in OBJECT_SPECS
}


def keras_objects(keras: Any, layer: BaseModel) -> dict[str, Any]:
    """The Keras object of every initializer or regularizer `layer` writes as a mapping, by argument."""
    written = {key: getattr(layer, key) for key in layer.model_fields_set}
    return {key: value.keras_object(keras) for key, value in written.items() if isinstance(value, KerasObjectSpec)}
