"""Hints for spellings that Keras 2 (and its tutorials) taught: renamed arguments, a layer's own input shape,
tuples written in YAML as text, and layer class names given as activation names."""

from __future__ import annotations

import re

# Keras 2 argument names and the Keras 3 names that replaced them.
RENAMED = {
    "border_mode": "padding",
    "nb_filter": "filters",
    "subsample": "strides",
    "output_dim": "units",
    "init": "kernel_initializer",
    "dim_ordering": "data_format",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "lr": "learning_rate",
    "nb_epoch": "epochs",
}
# Where a layer took its input's shape in Keras 2 (the first layer of a Sequential model).
INPUT_SHAPE_KEYS = ("input_shape", "batch_input_shape", "batch_shape", "input_dim")
_TUPLE = re.compile(r"^\s*\(\s*(-?\d+(?:\s*,\s*-?\d+)*)\s*,?\s*\)\s*$")


def unknown_key_hint(key: str, allowed: list[str]) -> str | None:
    """What to write instead of an unknown key that Keras 2 accepted, if it is one."""
    if key in INPUT_SHAPE_KEYS:
        return (
            "a layer takes no input shape here: give it once, in the top-level `input: {shape: [...]}` (or "
            "`inputs:`), and remove this key"
        )
    new = RENAMED.get(key)
    if new is None:
        return None
    if new in allowed or not allowed:
        return f"`{key}` is Keras 2's name for `{new}`: write `{new}`"
    if key == "lr":
        return "`lr` is Keras 2's name: write `learning_rate` under `train: optimizer:`"
    return None


def tuple_text_hint(value: object) -> str | None:
    """For text such as '(3,3)' (YAML has no tuples: parentheses are text), the list to write instead."""
    if not isinstance(value, str):
        return None
    match = _TUPLE.match(value)
    if match is None:
        return None
    numbers = [int(n) for n in re.split(r"\s*,\s*", match[1])]
    return f"YAML reads {value!r} as text, not a tuple: write the list {numbers}"


def class_name_hint(value: object, layer_types: list[str], field: str) -> str | None:
    """For `activation: ReLU` (the layer class), that the argument names the function in lower case."""
    if field == "activation" and isinstance(value, str) and value in layer_types:
        return f"'{value}' is a layer class; as an activation write '{value.lower()}'"
    return None
