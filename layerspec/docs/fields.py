"""Markdown tables of a pydantic model's fields, from its JSON Schema and its field info.

The generated reference pages are made of these tables, so a page says what the models say: each field's key,
its type with the bounds the schema holds, its default and its description. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

Schema = dict[str, Any]
# A union of more alternatives than this is the layer-entry union: named once instead of listing every type.
MAX_ALTERNATIVES = 8
NO_DESCRIPTION = "—"


def anchor(title: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, spaces to dashes, punctuation dropped."""
    return re.sub(r"[^a-z0-9_ -]", "", title.lower()).replace(" ", "-")


def cell(text: str) -> str:
    """Text that stays inside one table cell: no line breaks, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _number(value: Any) -> str:
    """Large powers of two as what they are: 2**31 - 1 reads better than 2147483647."""
    if isinstance(value, int) and value >= 2**20:
        for offset, suffix in ((0, ""), (1, " - 1")):
            exponent = (value + offset).bit_length() - 1
            if value + offset == 2**exponent:
                return f"2**{exponent}{suffix}"
    return json.dumps(value)


def _bounds(node: Schema) -> list[str]:
    signs = (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
    return [f"{sign} {_number(node[key])}" for key, sign in signs if key in node]


def _count(node: Schema, low: str, high: str, unit: str) -> str | None:
    """`2 items`, `1 to 8 items`, `at most 4096 characters`: a length bound as words."""
    least, most = node.get(low), node.get(high)
    if least is None and most is None:
        return None
    if least == most:
        return f"{least} {unit if least != 1 else unit.rstrip('s')}"
    if least is None:
        return f"at most {most} {unit}"
    if most is None:
        return f"at least {least} {unit if least != 1 else unit.rstrip('s')}"
    return f"{least} to {most} {unit}"


def _with(base: str, extras: Iterable[str | None]) -> str:
    parts = [extra for extra in extras if extra]
    return f"{base} ({', '.join(parts)})" if parts else base


def type_text(node: Schema, link: typing.Callable[[str], str]) -> str:
    """One schema node as words: `int (≥ 1, ≤ 65536)`, `list of float (2 items)`, `\"h5\" or \"folder\"`."""
    if "$ref" in node:
        return link(node["$ref"].rsplit("/", 1)[-1])
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        values = [f"`{json.dumps(value)}`" for value in node["enum"]]
        return values[0] if len(values) == 1 else f"one of {', '.join(values)}"
    alternatives = node.get("anyOf") or node.get("oneOf")
    if alternatives:
        if len(alternatives) > MAX_ALTERNATIVES:
            return link("layer entry")
        return " or ".join(type_text(alternative, link) for alternative in alternatives)
    return _plain_type(node, link)


def _plain_type(node: Schema, link: typing.Callable[[str], str]) -> str:
    kind = node.get("type")
    if kind == "integer":
        return _with("int", _bounds(node))
    if kind == "number":
        return _with("float", _bounds(node))
    if kind == "string":
        pattern = f"matching `{node['pattern']}`" if "pattern" in node else None
        return _with("string", [_count(node, "minLength", "maxLength", "characters"), pattern])
    if kind == "boolean":
        return "bool"
    if kind == "null":
        return "null"
    if kind == "array":
        items = type_text(node.get("items", {}), link)
        items = f"({items})" if " or " in items else items
        return _with(f"list of {items}", [_count(node, "minItems", "maxItems", "items")])
    if kind == "object":
        values = node.get("additionalProperties")
        return f"mapping of names to {type_text(values, link)}" if isinstance(values, dict) else "mapping"
    return "any value"


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "its defaults"
    else:
        value = info.default
    return f"`{json.dumps(value)}`"


def field_rows(model: type[BaseModel], link: typing.Callable[[str], str], skip: Iterable[str] = ()) -> list[str]:
    """One table row per field: key, type and bounds, default, description."""
    schema = model.model_json_schema(by_alias=True)
    if "$ref" in schema:  # a recursive model (a wrapper may hold a wrapper): its own schema is among the definitions
        schema = schema["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    properties: Schema = schema.get("properties", {})
    rows = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        if name in skip:
            continue
        kind = type_text(properties.get(key, {}), link)
        description = info.description or NO_DESCRIPTION
        rows.append(f"| `{key}` | {cell(kind)} | {cell(default_text(info))} | {cell(description)} |")
    return rows


def field_table(model: type[BaseModel], link: typing.Callable[[str], str], skip: Iterable[str] = ()) -> str:
    header = "| key | type and bounds | default | description |\n|---|---|---|---|"
    return "\n".join([header, *field_rows(model, link, skip)])


def nested_models(roots: Iterable[type[BaseModel]], leave_out: Iterable[type[BaseModel]] = ()) -> list[type[BaseModel]]:
    """The roots and every model their fields hold, in the order first met (depth first)."""
    seen: list[type[BaseModel]] = []
    excluded = set(leave_out)

    def visit(model: type[BaseModel]) -> None:
        if model in seen or model in excluded:
            return
        seen.append(model)
        for info in model.model_fields.values():
            for inner in _models_in(info.annotation):
                visit(inner)

    for root in roots:
        visit(root)
    return seen


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def key_paths(root: type[BaseModel], leave_out: Iterable[type[BaseModel]] = ()) -> dict[type[BaseModel], list[str]]:
    """Where each nested model is written in a document of `root`: `train.optimizer`, `blocks.<name>`, `inputs[i]`."""
    excluded = set(leave_out)
    paths: dict[type[BaseModel], list[str]] = {root: [""]}
    queue = [root]
    for model in queue:
        prefix = paths[model][0]
        for name, info in model.model_fields.items():
            for inner, suffix in _models_at(info.annotation, ""):
                if inner in excluded:
                    continue
                path = f"{prefix}.{info.alias or name}{suffix}".lstrip(".")
                if inner not in paths:
                    paths[inner] = []
                    queue.append(inner)
                if path not in paths[inner]:
                    paths[inner].append(path)
    return paths


def _models_at(annotation: Any, suffix: str) -> Iterator[tuple[type[BaseModel], str]]:
    """The models an annotation holds, each with how its place is written: `[i]` in a list, `.<name>` in a dict."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, suffix
        return
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is list:
        yield from _models_at(arguments[0], f"{suffix}[i]")
    elif origin is dict:
        yield from _models_at(arguments[1], f"{suffix}.<name>")
    else:
        for argument in arguments:
            yield from _models_at(argument, suffix)


def undocumented(models: Iterable[type[BaseModel]]) -> list[str]:
    """`Model.field` for every field without a description."""
    return [
        f"{model.__name__}.{name}"
        for model in models
        for name, info in model.model_fields.items()
        if not (info.description and info.description.strip())
    ]
