"""What `layerspec import` writes for values a layer's config holds as objects, and for Keras's operation layers.

An initializer or regularizer is written by its string id when its config is Keras's default for that id, else as
a mapping of its arguments (`{type: variance_scaling, scale: 2.0, mode: fan_out}`), only where layerspec's schema
has that class (layerspec/layers/objects.py). Both are read from the config as data; nothing is deserialised.

`x + 3.0` and `x * (1 / 6)` in a functional model (MobileNetV3's hard sigmoid) are saved as Keras's operation
layers (`keras.src.ops.numpy.Add`, `Multiply`), which no spec can name. One tensor plus or times one constant is
what a Rescaling computes (`x * scale + offset`), so such a node is written as a Rescaling and a note names the
substitution; the rebuilt model's config differs from the original there only. Any other operation layer is
refused as any class outside keras.layers is.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import ValidationError

from layerspec.errors import ModelRefused
from layerspec.layers.objects import BY_KERAS_CLASS

OBJECT_MODULES = ("keras.initializers", "keras.regularizers")
# Keras's config keys a spec does not write, each meaning Keras's default behaviour only when null.
UNWRITTEN = {
    "seed": "a spec seeds every weight with train.seed",
    "input_axes": "a spec leaves the fan's axes to Keras",
    "output_axes": "a spec leaves the fan's axes to Keras",
}
OPERATIONS_MODULE = "keras.src.ops.numpy"
# The operation classes written as a Rescaling (x * scale + offset): x + c and x * c.
OPERATIONS = ("Add", "Multiply")


def _rescaling(cls: str, constant: float) -> tuple[float, float]:
    """(scale, offset) of the Rescaling that computes `x + constant` or `x * constant`."""
    return (1.0, constant) if cls == "Add" else (constant, 0.0)


def object_value(value: dict[str, Any], label: str, where: str, defaults: dict[str, dict[str, Any]]) -> Any:
    """The spec's value for a serialised initializer or regularizer: its id, or a mapping of its arguments."""
    module, cls = value.get("module"), str(value.get("class_name"))
    identifier = snake(cls)
    if module not in OBJECT_MODULES:
        raise ModelRefused(where, f"{label} is a {cls} from {module!r}, which a spec cannot name")
    config = value.get("config") or {}
    if defaults.get(identifier) == config:
        return identifier
    spec_cls = BY_KERAS_CLASS.get((str(module).removeprefix("keras."), cls))
    if spec_cls is None or not isinstance(config, dict):
        raise ModelRefused(
            where,
            f"{label} is {cls} with {config!r}; a spec names it only with Keras's default settings ({identifier!r})",
        )
    for key, why in UNWRITTEN.items():
        if config.get(key) is not None:
            raise ModelRefused(where, f"{label} is {cls} with {key}={config[key]!r}: {why}, so it cannot be written")
    args = {k: v for k, v in config.items() if k not in UNWRITTEN}
    defaults_of = spec_cls.model_validate({"type": spec_cls.type_id()}).keras_arguments()
    unknown = sorted(set(args) - set(defaults_of))
    if unknown:
        raise ModelRefused(where, f"{label} is {cls} with {unknown}, arguments layerspec's schema does not have")
    float32 = spec_cls.keras_module == "regularizers"  # Keras keeps their factors as float32
    mapping = {"type": spec_cls.type_id()}
    mapping |= {k: _shortest(v, float32) for k, v in args.items() if not _same(v, defaults_of[k], float32)}
    try:
        spec_cls.model_validate(mapping)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]["msg"]
        raise ModelRefused(where, f"{label} is {cls} with {config!r}, which a spec cannot hold: {problem}") from None
    return mapping


def _same(value: Any, default: Any, float32: bool) -> bool:
    """Whether a config value is the default: 0.01 comes back from a float32 factor as 0.009999999776482582."""
    if isinstance(value, float) and isinstance(default, float) and float32:
        return math.isclose(value, default, rel_tol=1e-7)
    return bool(value == default)


def _shortest(value: Any, float32: bool) -> Any:
    """A float32 factor as the shortest decimal that rounds to it (1e-04, not 9.999999747378752e-05)."""
    if not float32 or not isinstance(value, float) or not math.isfinite(value):
        return value
    import numpy as np

    return float(np.format_float_positional(np.float32(value), unique=True, trim="0"))


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def rewrite_item(item: Any, notes: list[str]) -> Any:
    """A layer item of the model's config as the importer reads it: an operation layer `x + c` or `x * c` as the
    Rescaling that computes it (with a note). A recorded `training` is keras_import_calls' to judge."""
    return _rewrite_operation(item, notes)


def _rewrite_operation(item: Any, notes: list[str]) -> Any:
    if not isinstance(item, dict) or item.get("module") != OPERATIONS_MODULE:
        return item
    cls, name = item.get("class_name"), item.get("name")
    nodes, config = item.get("inbound_nodes"), item.get("config") or {}
    if cls not in OPERATIONS or item.get("registered_name") != cls or set(config) - {"name"}:
        return item
    if not isinstance(nodes, list) or len(nodes) != 1 or not isinstance(nodes[0], dict) or nodes[0].get("kwargs"):
        return item
    split = _tensor_and_constant(nodes[0].get("args"))
    if split is None:
        return item
    tensor, constant = split
    scale, offset = _rescaling(str(cls), constant)
    symbol = "+" if cls == "Add" else "*"
    written = f"Rescaling(offset={offset!r})" if cls == "Add" else f"Rescaling(scale={scale!r})"
    notes.append(f"layer {name!r} ({OPERATIONS_MODULE}.{cls}: x {symbol} {constant!r}) is written as {written}")
    return {
        "module": "keras.layers",
        "class_name": "Rescaling",
        "registered_name": None,
        "name": name,
        "config": {"name": name, "scale": scale, "offset": offset},
        "inbound_nodes": [{"args": [tensor], "kwargs": {}}],
    }


def _tensor_and_constant(args: Any) -> tuple[dict[str, Any], float] | None:
    """(the tensor, the constant) of an operation called on one of each, in either order."""
    if not isinstance(args, list) or len(args) != 2:
        return None
    tensors = [a for a in args if isinstance(a, dict) and a.get("class_name") == "__keras_tensor__"]
    numbers = [a for a in args if isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a)]
    if len(tensors) != 1 or len(numbers) != 1:
        return None
    return tensors[0], float(numbers[0])


def annotate(text: str, notes: list[str]) -> str:
    """The spec text with each substitution named in a comment under its first line."""
    if not notes:
        return text
    first, _, rest = text.partition("\n")
    lines = [first, "# Written differently from the model's config (the same computation):"]
    lines += [f"#   {note}" for note in notes]
    return "\n".join(lines) + "\n" + rest
