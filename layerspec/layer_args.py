"""A layer's key arguments in a few words (`filters 32 · 3x3 /2 · same · relu`), for the diagram, the report
and `layerspec diff`. Read by name from any registered type, so a new type's arguments show without a change here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from layerspec.layers import LayerSpec

# The arguments that say what a layer does, in the order they are shown.
KEY_ARGUMENTS = (
    "filters",
    "units",
    "kernel_size",
    "pool_size",
    "strides",
    "padding",
    "dilation_rate",
    "depth_multiplier",
    "size",
    "cropping",
    "activation",
    "rate",
    "axis",
    "target_shape",
)
# Arguments shown only when they differ from these values (a stride of 1 says nothing).
QUIET = {"strides": (1, None), "dilation_rate": (1,), "depth_multiplier": (1,), "padding": ("valid",), "axis": (-1,)}


def arguments(layer: LayerSpec) -> dict[str, Any]:
    """Every argument of the entry with its value (defaults included), without type, name and inputs."""
    return layer.model_dump(exclude={"type", "name", "inputs"})


def key_arguments(layer: LayerSpec) -> dict[str, Any]:
    """The key arguments the layer has, set or not, leaving out those at their uninformative default."""
    values = {}
    for name in KEY_ARGUMENTS:
        if name not in type(layer).model_fields:
            continue
        value = getattr(layer, name)
        if value is None or (name in QUIET and _flat(value) in QUIET[name]):
            continue
        values[name] = value
    return values


def describe(layer: LayerSpec) -> str:
    """`filters 32 · 3x3 /2 · same · dilation 2 · relu`: the key arguments as one short line."""
    values = key_arguments(layer)
    rank = getattr(type(layer), "rank", None)
    parts = []
    for name in ("filters", "units"):
        if name in values:
            parts.append(f"{name} {values.pop(name)}")
    for name in ("kernel_size", "pool_size"):
        if name in values:
            window = _size(values.pop(name), rank)
            stride = values.pop("strides", None)
            parts.append(window if stride is None else f"{window} /{_size(stride)}")
    if "strides" in values:
        parts.append(f"/{_size(values.pop('strides'))}")
    for name, value in values.items():
        shown = {"padding": str(value), "activation": str(value), "dilation_rate": f"dilation {_size(value)}"}
        parts.append(shown.get(name, f"{name.replace('_', ' ')} {_text(value)}"))
    return " · ".join(parts)


def _flat(value: Any) -> Any:
    """A list of equal numbers as the number (strides [1, 1] is strides 1)."""
    if isinstance(value, list) and value and all(v == value[0] for v in value) and not isinstance(value[0], list):
        return value[0]
    return value


def _size(value: Any, rank: int | None = None) -> str:
    """`3x3` for a window; an integer window is repeated along the layer's `rank` spatial axes."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "x".join(_text(v) for v in value)
    if isinstance(value, int) and isinstance(rank, int) and rank > 1:
        return "x".join([str(value)] * rank)
    return str(value)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)
