"""Turn pydantic validation errors into compiler-style diagnostics that point at the YAML."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from layerspec.errors import Diagnostic
from layerspec.layers import REGISTRY
from layerspec.spec.blocks import Origin
from layerspec.spec.yaml_source import SourceMap, SourcePath

# Layer types that run user code or read files: named so the message can say why, never registered.
FORBIDDEN_TYPES = {
    "Lambda": "runs arbitrary Python code",
    "TFSMLayer": "loads a SavedModel from disk",
    "TorchModuleWrapper": "runs arbitrary Python code",
    "JaxLayer": "runs arbitrary Python code",
    "FlaxLayer": "runs arbitrary Python code",
}


def did_you_mean(word: str, choices: list[str]) -> str:
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"; did you mean '{lowered[word.lower()]}'?"
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def layer_label(index: int, entry: Any, origins: list[Origin]) -> str:
    origin = origins[index] if index < len(origins) else None
    position = origin.use[1] if origin is not None else index
    name = entry.get("name") if isinstance(entry, dict) else None
    label = f"layers[{position}]"
    if origin is not None and origin.block_type is not None:
        label += f" (block {origin.block_type}"
        return f"{label}, {name})" if isinstance(name, str) else f"{label})"
    return f"{label} ({name})" if isinstance(name, str) else label


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return repr(value[:80])
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if len(str(value)) > 60 else str(value)
    if value is None:
        return "null"
    return repr(value)


def _message(error: ErrorDetails) -> str:
    text = error["msg"]
    for old, new in (("Input should be", "must be"), ("Value error, ", ""), ("Assertion failed, ", "")):
        text = text.replace(old, new)
    return text


class _Translator:
    def __init__(self, raw: dict[str, Any], source: SourceMap, origins: list[Origin]) -> None:
        self.raw, self.source, self.origins = raw, source, origins

    def source_path(self, loc: tuple[str | int, ...]) -> tuple[SourcePath, str, type[BaseModel] | None]:
        """Map a pydantic location to a YAML path, a human label, and the layer model involved (if any)."""
        if len(loc) >= 2 and loc[0] == "layers" and isinstance(loc[1], int):
            index = loc[1]
            rest = loc[2:]
            entry = self.raw["layers"][index] if index < len(self.raw["layers"]) else None
            tag = entry.get("type", "block") if isinstance(entry, dict) else None
            if rest and rest[0] == tag:
                rest = rest[1:]
            rest = _existing(entry, rest)
            base = self.origins[index].path if index < len(self.origins) else ("layers", index)
            model = REGISTRY.get(tag) if isinstance(tag, str) else None
            return (*base, *rest), layer_label(index, entry, self.origins), model
        return _existing(self.raw, loc), "", None

    def translate(self, error: ErrorDetails) -> Diagnostic:
        path, label, model = self.source_path(tuple(error["loc"]))
        field = _field_name(path)
        prefix = f"{label}: " if label else ""
        kind, value = error["type"], error.get("input")
        if kind == "extra_forbidden":
            return self.unknown_key(path, prefix, model)
        if kind == "union_tag_invalid":
            return self.source.diagnostic((*path, "type"), prefix + self.unknown_type(value))
        if kind == "union_tag_not_found" or (kind == "model_attributes_type" and "layers" in path[:1]):
            return self.source.diagnostic(
                path, f"{prefix}a layer entry is a mapping with a `type` (a Keras layer class) or a `block`"
            )
        if kind == "missing":
            where = f"{model.__name__} needs" if model else "missing required key"
            return self.source.diagnostic(path[:-1], f"{prefix}{where} `{path[-1]}`: add it")
        received = _describe(value)
        return self.source.diagnostic(path, f"{prefix}`{field}` {_message(error)}; received {received}")

    def unknown_key(self, path: SourcePath, prefix: str, model: type[BaseModel] | None) -> Diagnostic:
        key = str(path[-1])
        container = self._model_at(path[:-1], model)
        allowed = [n for n, f in container.model_fields.items() if n != "type"] if container else []
        allowed = [container.model_fields[n].alias or n for n in allowed] if container else []
        what = f"argument '{key}' for {container.__name__}" if model is not None and container else f"key '{key}'"
        listing = f" (allowed: {', '.join(allowed)})" if allowed and len(allowed) <= 16 else ""
        return self.source.diagnostic(path, f"{prefix}unknown {what}{did_you_mean(key, allowed)}{listing}", key=True)

    def _model_at(self, path: SourcePath, model: type[BaseModel] | None) -> type[BaseModel] | None:
        if model is not None:
            return model
        from layerspec.spec.models import Spec

        current: Any = Spec
        for part in path:
            if isinstance(part, int):
                continue
            field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
            annotation = getattr(field, "annotation", None)
            current = next(
                (a for a in getattr(annotation, "__args__", (annotation,)) if hasattr(a, "model_fields")),
                None,
            )
            if current is None:
                return None
        return current if isinstance(current, type) and issubclass(current, BaseModel) else None

    def unknown_type(self, value: Any) -> str:
        name = value.get("type") if isinstance(value, dict) else value
        if name in FORBIDDEN_TYPES:
            return f"layer type '{name}' is never accepted: it {FORBIDDEN_TYPES[name]}"
        hint = did_you_mean(str(name), list(REGISTRY))
        return f"unknown layer type {_describe(name)}{hint} (see `layerspec schema` for the supported types)"


def translate_validation_error(
    exc: ValidationError, raw: dict[str, Any], source: SourceMap, origins: list[Origin]
) -> list[Diagnostic]:
    """One diagnostic per offending value: of several union branches, keep the most specific complaint."""
    translator = _Translator(raw, source, origins)
    best: dict[tuple[Any, ...], ErrorDetails] = {}
    for error in exc.errors(include_url=False):
        key = _field_key(tuple(error["loc"]))
        kept = best.get(key)
        if kept is None or len(error["loc"]) > len(kept["loc"]):
            best[key] = error
    diagnostics = [translator.translate(e) for e in best.values()]
    return sorted(set(diagnostics), key=lambda d: (d.line, d.col, d.message))


def _existing(value: Any, loc: tuple[Any, ...]) -> SourcePath:
    """The part of a pydantic location that exists in the YAML: union-branch labels (`int`,
    `list[constrained-int]`, the `type` tag) are dropped; a missing key is kept as the last part."""
    path: list[str | int] = []
    for part in loc:
        in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if (isinstance(value, dict) and part in value) or in_list:
            value = value[part]
        elif isinstance(value, dict) and isinstance(part, str) and "[" not in part and part not in _BRANCHES:
            path.append(part)
            value = None
            continue
        else:
            continue
        path.append(part)
    return tuple(path)


_BRANCHES = {"int", "str", "float", "bool", "list", "dict", "none", "constrained-int", "constrained-float"}


def _field_name(path: SourcePath) -> str:
    """`kernel_size[1]` for ("layers", 3, "kernel_size", 1): the argument and any index into it."""
    start = max((i for i, p in enumerate(path) if isinstance(p, str)), default=0)
    while start > 0 and isinstance(path[start - 1], str) and path[start - 1] not in ("layers",):
        break
    name = str(path[start]) if path else "spec"
    return name + "".join(f"[{p}]" for p in path[start + 1 :])


def _field_key(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The location up to the argument name: union branches of one argument share it."""
    if len(loc) >= 4 and loc[0] == "layers":
        return loc[:4]
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("int", "str", "float"))))
