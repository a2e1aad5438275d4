"""Where in the YAML a pydantic error lies: the path that exists in the document, the argument it is about, and
the model (layer class, nested layer, call arguments) that argument belongs to."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from layerspec.layers import REGISTRY, LayerSpec
from layerspec.layers.objects import BY_TYPE
from layerspec.spec.yaml_source import SourcePath

# Keys of a layer entry that hold a mapping of their own: a wrapper's nested layers, and the call arguments.
NESTED_KEYS = ("layer", "backward_layer", "call")


def container_model(entry: Any, rest: SourcePath) -> type[BaseModel] | None:
    """The model whose field `rest[-1]` is, inside the layer entry `entry`: the entry's layer class, a nested
    layer's (under `layer:`), or the call arguments' model of either (under `call:`)."""
    kind = entry.get("type") if isinstance(entry, dict) else None
    model: type[BaseModel] | None = REGISTRY.get(kind) if isinstance(kind, str) else None
    value = entry
    for part in rest[:-1]:
        in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if not (in_list or (isinstance(value, dict) and part in value)):
            break
        value = value[part]
        if part == "call" and model is not None and issubclass(model, LayerSpec):
            model = model.call_schema()
        elif isinstance(value, dict) and isinstance(value.get("type"), str) and value["type"] in REGISTRY:
            model = REGISTRY[value["type"]]
    return model


def layer_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The layer class a location such as ("layers", 3, "Conv2D") is inside, if any."""
    if len(loc) == 3 and loc[0] == "layers" and isinstance(loc[2], str):
        return REGISTRY.get(loc[2])
    return None


def existing_path(value: Any, loc: tuple[Any, ...]) -> SourcePath:
    """The part of a pydantic location that exists in the YAML: union-branch labels (`int`,
    `list[constrained-int]`, the `type` tag) are dropped; a missing key is kept as the last part."""
    path: list[str | int] = []
    tagged: Any = None
    for part in loc:
        # The tag of a nested layer's (or an initializer's) union branch, skipped once: `{type: l2, l2: 0.1}` has a
        # key named like its tag.
        tag = isinstance(value, dict) and part == value.get("type") and (part in REGISTRY or part in BY_TYPE)
        if tag and value is not tagged:
            tagged = value
            continue
        in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if (isinstance(value, dict) and part in value) or in_list:
            value = value[part]
        elif isinstance(value, dict) and isinstance(part, str) and "[" not in part and part not in BRANCHES:
            path.append(part)
            value = None
            continue
        else:
            continue
        path.append(part)
    return tuple(path)


BRANCHES = {"int", "str", "float", "bool", "list", "dict", "none", "constrained-int", "constrained-float"}


def field_name(path: SourcePath) -> str:
    """`kernel_size[1]` for ("layers", 3, "kernel_size", 1): the argument and any index into it (the label
    names the layer); `input.shape[0]` outside the layers, where nothing else says where it is."""
    if not path:
        return "spec"
    in_layer = (len(path) > 1 and path[0] == "layers" and isinstance(path[1], int)) or (
        len(path) > 3 and path[0] == "blocks" and isinstance(path[3], int)
    )
    # From the argument on (`kernel_size[1]`, `layer.units` for a wrapper's nested layer).
    offset = 2 if path[0] == "layers" else 4
    start = next((i for i in range(offset, len(path)) if isinstance(path[i], str)), 0) if in_layer else 0
    text = str(path[start])
    for part in path[start + 1 :]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def field_key(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The location up to the argument name: union branches of one argument share it. Inside a wrapper's nested
    layer or the call arguments, the argument is the one under them (`layer.units`, `call.initial_state`)."""
    if len(loc) >= 4 and loc[0] == "layers":
        parts = [p for p in loc if not (isinstance(p, str) and (p in REGISTRY or "[" in p or p in BRANCHES))]
        end = 2
        while end + 1 < len(parts) and parts[end] in NESTED_KEYS:
            end += 1
        return tuple(parts[: end + 1])
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("int", "str", "float"))))
