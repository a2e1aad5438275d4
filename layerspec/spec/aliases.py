"""Keras's other names for layer classes (MaxPool2D, Convolution2D, GlobalAvgPool1D, ...), replaced by the class
name when a spec is loaded.

Keras exports some classes under two names; a spec may write either, and from here on only the class name exists
(the registry, `check --json`, the summary, the built model and generated layer names all use it, as Keras does:
`MaxPool2D()` is a MaxPooling2D named max_pooling2d). The entries keep their keys and their order, so every
error still points at the line the spec wrote.
"""

from __future__ import annotations

from typing import Any

from layerspec.layers.base import ALIASES


def canonical_type(name: str) -> str:
    """The class name for a Keras alias; any other name unchanged (an unknown one is reported later)."""
    return ALIASES.get(name, name)


def canonical_entries(layers: Any) -> Any:
    """The layer entries with every aliased `type` replaced by its class name; anything else as it was."""
    if not isinstance(layers, list):
        return layers
    return [_canonical(entry) for entry in layers]


def _canonical(entry: Any) -> Any:
    if isinstance(entry, dict) and isinstance(entry.get("type"), str) and entry["type"] in ALIASES:
        return {**entry, "type": ALIASES[entry["type"]]}
    return entry
