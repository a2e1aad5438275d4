"""The spec stage: YAML loading with source marks, block expansion and the pydantic schema."""

from layerspec.spec.load import LoadedSpec, load_spec, parse_spec
from layerspec.spec.models import Spec

__all__ = ["LoadedSpec", "Spec", "load_spec", "parse_spec"]
