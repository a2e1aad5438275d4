"""The registry of layer types, filled by importing every module of this package.

Each family's module registers its types with `@register`; importing them all here (rather than naming them) means
a new family is a new file and nothing else.
"""

import importlib
import pkgutil

from layerspec.layers.base import (
    REGISTRY,
    LayerSpec,
    Shape,
    ShapeError,
    Weight,
    complete_nested_types,
    default_name,
    format_shape,
)

# Modules that hold shared code rather than layer types.
_SHARED = {"base", "calls", "families", "fields", "naming", "objects", "refused", "shape_math"}

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module not in _SHARED:
        importlib.import_module(f"{__name__}.{_module}")
complete_nested_types()

__all__ = ["REGISTRY", "LayerSpec", "Shape", "ShapeError", "Weight", "default_name", "format_shape"]
