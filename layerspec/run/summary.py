"""`summary.json`: the model's layers, shapes, parameters and MACs, as `layerspec check --json` prints them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from layerspec.run.record import Count, Name, Record, RunFile


class SummaryPort(RunFile):
    name: Name = Field(description="The input or output layer's name.")
    shape: list[Count | None] = Field(max_length=16, description="Its shape, the batch axis (null) first.")


class SummaryLayer(RunFile):
    name: Name = Field(description="The layer's name (the spec's, or the one layerspec gave it).")
    type: Name = Field(description="The layer's type (Keras's class name).")
    inputs: list[Name] = Field(default_factory=list, description="Names of the layers it reads.")
    output_shape: list[Count | None] = Field(
        max_length=16, description="Its output shape, the batch axis (null) first."
    )
    output_shapes: list[Annotated[list[Count | None], Field(max_length=16)]] = Field(
        default_factory=list,
        max_length=1024,
        description="Every output's shape (the first is `output_shape`); absent in run folders written before it.",
    )
    params: Count = Field(description="Its parameters, trainable or not.")
    trainable_params: Count = Field(description="Its trainable parameters.")
    macs: Count = Field(description="Multiply-accumulate operations for one example.")
    block: Name | None = Field(
        default=None, description="The block instance it came from (absent for a layer written in `layers:` itself)."
    )
    # Per spatial axis; null where the question has no meaning or the rule is unknown (and in older run folders).
    receptive_field: list[Count] | None = Field(
        default=None,
        max_length=3,
        description="Receptive field per spatial axis, in input positions (null: none or unknown).",
    )
    effective_stride: list[Annotated[float, Field(ge=0)] | Count] | None = Field(
        default=None, max_length=3, description="How far the field moves per output step, per spatial axis."
    )


class Summary(Record):
    """`summary.json`: the object `layerspec check --json` prints, each layer with the block it came from."""

    name: Name = Field(description="The spec's `name`.")
    params: Count = Field(description="Parameters of the model.")
    trainable_params: Count = Field(description="Trainable parameters.")
    non_trainable_params: Count = Field(
        description="Parameters training does not change (batch-normalization statistics, frozen layers)."
    )
    macs: Count = Field(description="Multiply-accumulate operations for one example.")
    inputs: list[SummaryPort] = Field(default_factory=list, description="The model's inputs.")
    outputs: list[SummaryPort] = Field(default_factory=list, description="The model's outputs.")
    layers: list[SummaryLayer] = Field(description="Every layer in order, inputs included.")
