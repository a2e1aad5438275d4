"""Shared base of the spec's pydantic models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from layerspec.layers.base import NAME_PATTERN

Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class StrictModel(BaseModel):
    """Unknown keys are errors and no value is coerced: `units: true` is not 1, `"3"` is not 3."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)
