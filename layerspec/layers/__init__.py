"""The registry of layer types, filled by importing each family's module."""

from layerspec.layers import (  # noqa: F401  (imported for their @register side effect)
    activation,
    convolution,
    core,
    merging,
    normalization,
    pooling,
    preprocessing,
    regularization,
    reshaping,
)
from layerspec.layers.base import REGISTRY, LayerSpec, Shape, ShapeError, Weight, default_name, format_shape

__all__ = ["REGISTRY", "LayerSpec", "Shape", "ShapeError", "Weight", "default_name", "format_shape"]
