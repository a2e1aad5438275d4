"""Turn pydantic validation errors into compiler-style diagnostics that point at the YAML."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from layerspec.errors import Diagnostic, in_file_order
from layerspec.layers import REGISTRY
from layerspec.layers.base import ALIASES, layer_names
from layerspec.layers.refused import REFUSED_TYPES
from layerspec.spec.blocks import Origin
from layerspec.spec.error_locations import container_model, existing_path, field_key, field_name, layer_model
from layerspec.spec.keras2 import class_name_hint, tuple_text_hint, unknown_key_hint
from layerspec.spec.object_errors import object_diagnostic
from layerspec.spec.yaml_source import SourceMap, SourcePath

# Layer types that run user code or read files: named so the message can say why, never registered.
FORBIDDEN_TYPES = {
    "Lambda": "runs arbitrary Python code",
    "TFSMLayer": "loads a SavedModel from disk",
    "TorchModuleWrapper": "runs arbitrary Python code",
    "JaxLayer": "runs arbitrary Python code",
    "FlaxLayer": "runs arbitrary Python code",
}


def closest(word: str, choices: list[str]) -> str | None:
    """The choice `word` was most likely meant to be: same letters in another case, else a close spelling."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def did_you_mean(word: str, choices: list[str]) -> str:
    match = closest(word, choices)
    return f"; did you mean '{match}'?" if match else ""


def layer_label(index: int, name: str | None, origins: list[Origin]) -> str:
    """`layers[3] (conv1)`, or `layers[3] (block residual, stage1_conv)` for a layer that a block expanded to."""
    origin = origins[index] if index < len(origins) else None
    position = origin.use[1] if origin is not None else index
    label = f"layers[{position}]"
    if origin is not None and origin.block_type is not None:
        label += f" (block {origin.block_type}"
        return f"{label}, {name})" if isinstance(name, str) else f"{label})"
    return f"{label} ({name})" if isinstance(name, str) else label


def entry_names(raw: dict[str, Any]) -> list[str | None]:
    """The names the graph stage will give the (expanded) layer entries, so schema errors can name layers too.

    An entry of an unknown type gets no name (one made from a misspelt type would mislead); the others are named
    as `graph` names them.
    """
    layers = raw.get("layers")
    if not isinstance(layers, list):
        return []
    # `type` may be any YAML value here (a list is unhashable): only a string can name a registered type.
    typed = [e for e in layers if isinstance(e, dict) and isinstance(e.get("type"), str) and e["type"] in REGISTRY]
    written = [_named(e) for e in typed]
    generated = iter(layer_names(written, set(_input_names(raw)), [_nested_raw(e) for e in typed]))
    named = {id(e) for e in typed}
    return [next(generated) if id(e) in named else None for e in layers]


def _named(entry: dict[str, Any]) -> tuple[str, str | None]:
    return entry["type"], entry["name"] if isinstance(entry.get("name"), str) else None


def _nested_raw(entry: dict[str, Any]) -> list[tuple[str, str | None]]:
    """A raw wrapper entry's nested layers, inside out (as `construction_order` lists a validated one's)."""
    found: list[tuple[str, str | None]] = []
    for key in ("layer", "backward_layer"):
        inner = entry.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("type"), str) and inner["type"] in REGISTRY:
            found += [*_nested_raw(inner), _named(inner)]
    return found


def _input_names(raw: dict[str, Any]) -> list[str]:
    specs = [raw.get("input")] if "input" in raw else raw.get("inputs")
    if not isinstance(specs, list):
        return []
    names = [s.get("name") if isinstance(s, dict) else None for s in specs]
    return [n if isinstance(n, str) else ("input" if i == 0 else f"input_{i}") for i, n in enumerate(names)]


def _meaning(model: type[BaseModel] | None, path: SourcePath, kind: str) -> str:
    """The argument's description, which says what a good value looks like: ` (rate: fraction of ...)`."""
    name = next((p for p in reversed(path) if isinstance(p, str)), None)
    info = model.model_fields.get(name) if model is not None and name is not None else None
    if info is None or not info.description or kind == "literal_error":
        return ""
    text = info.description.rstrip(".")
    return f" ({name}: {text[:1].lower()}{text[1:]})"


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


_TOO_FEW = re.compile(r"(?:List|Dictionary) should have at (least|most) (\d+) items? after validation, not (\d+)")
_QUOTED = re.compile(r"'([^']*)'")


def _message(error: ErrorDetails) -> str:
    """Pydantic's message in the checker's words; for a choice among names, the closest valid one."""
    text = error["msg"]
    for old, new in (("Input should be", "must be"), ("Value error, ", ""), ("Assertion failed, ", "")):
        text = text.replace(old, new)
    text = _TOO_FEW.sub(lambda m: f"must hold at {m[1]} {m[2]} item{'s' * (m[2] != '1')}, not {m[3]}", text)
    return _MODEL_TYPE.sub("a mapping", text)


_MODEL_TYPE = re.compile(r"a valid dictionary or instance of \w+")


def _suggestion(error: ErrorDetails) -> str:
    """For a choice among names, the closest valid one."""
    if error["type"] != "literal_error" or not isinstance(error.get("input"), str):
        return ""
    choices = _QUOTED.findall(str(error.get("ctx", {}).get("expected", "")))
    return did_you_mean(error["input"], choices).replace(";", ",")


# Keras's words for what a spec's train section says another way: an unknown key among them is pointed there.
KERAS_TERMS: dict[SourcePath, str] = {
    ("train", "callbacks"): "callbacks are made from train.early_stopping, train.keep, train.schedule and "
    "train.tensorboard",
    ("train", "learning_rate"): "the learning rate is train.optimizer.learning_rate",
    ("train", "lr"): "the learning rate is train.optimizer.learning_rate",
    ("train", "validation_split"): "the validation split is data.validation_split",
    ("train", "shuffle"): "the training split is shuffled every epoch (by data.shuffle_seed and train.seed)",
}


class _Translator:
    def __init__(self, raw: dict[str, Any], source: SourceMap, origins: list[Origin]) -> None:
        self.raw, self.source, self.origins = raw, source, origins
        self.names = entry_names(raw)

    def value_path(self, loc: tuple[str | int, ...], path: SourcePath) -> SourcePath:
        """Where a bad value was written: for `filters: ${width}` in a block, the use's `with: {width: ...}`."""
        if len(loc) < 3 or loc[0] != "layers" or not isinstance(loc[1], int) or loc[1] >= len(self.origins):
            return path
        origin = self.origins[loc[1]]
        rest = path[len(origin.path) :]
        if path[: len(origin.path)] != origin.path or not rest or not isinstance(rest[0], str):
            return path
        return (*origin.field_path(rest[0]), *rest[1:])

    def source_path(self, loc: tuple[str | int, ...]) -> tuple[SourcePath, str, type[BaseModel] | None]:
        """Map a pydantic location to a YAML path, a human label, and the layer model involved (if any)."""
        if len(loc) >= 2 and loc[0] == "layers" and isinstance(loc[1], int):
            index = loc[1]
            rest = loc[2:]
            entry = self.raw["layers"][index] if index < len(self.raw["layers"]) else None
            tag = entry.get("type", "block") if isinstance(entry, dict) else None
            if rest and rest[0] == tag:
                rest = rest[1:]
            rest = existing_path(entry, rest)
            base = self.origins[index].path if index < len(self.origins) else ("layers", index)
            model = container_model(entry, rest)
            name = self.names[index] if index < len(self.names) else None
            return (*base, *rest), layer_label(index, name, self.origins), model
        return existing_path(self.raw, loc), "", None

    def translate(self, error: ErrorDetails) -> Diagnostic:
        path, label, model = self.source_path(tuple(error["loc"]))
        field = field_name(path)
        prefix = f"{label}: " if label else ""
        kind, value = error["type"], error.get("input")
        special = object_diagnostic(error, path, model)  # inside an initializer or regularizer mapping
        if special is not None:
            return self.source.diagnostic(special[0], prefix + special[1], key=special[2])
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
        if kind == "value_error" and not path:  # a rule across several keys (Spec's own validators)
            return self.source.diagnostic(path, _message(error))
        at = self.value_path(tuple(error["loc"]), path)
        hinted = _keras2_hint(error, field)
        if hinted is not None:
            return self.source.diagnostic(at, f"{prefix}`{field}`: {hinted}{_meaning(model, path, kind)}")
        return self.source.diagnostic(
            at,
            f"{prefix}`{field}` {_message(error)}{_suggestion(error)}; received {_describe(value)}"
            f"{_meaning(model, path, kind)}",
        )

    def unknown_key(self, path: SourcePath, prefix: str, model: type[BaseModel] | None) -> Diagnostic:
        key = str(path[-1])
        if len(path) > 1 and path[-2] == "call" and model is not None:
            return self.source.diagnostic(path, prefix + _unknown_call_argument(key, model), key=True)
        container = self._model_at(path[:-1], model)
        allowed = [n for n, f in container.model_fields.items() if n != "type"] if container else []
        allowed = [container.model_fields[n].alias or n for n in allowed] if container else []
        what = f"argument '{key}' for {container.__name__}" if model is not None and container else f"key '{key}'"
        # A layer's arguments can be many (see `layerspec schema`); a section of the spec is listed whole.
        listing = f" (allowed: {', '.join(allowed)})" if allowed and (len(allowed) <= 16 or model is None) else ""
        term = KERAS_TERMS.get(path)
        hint = unknown_key_hint(key, allowed) or term
        suggestion = f": {hint}" if hint else did_you_mean(key, allowed)
        return self.source.diagnostic(path, f"{prefix}unknown {what}{suggestion}{listing}", key=True)

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
        if isinstance(name, str) and name in FORBIDDEN_TYPES:
            return f"layer type '{name}' is never accepted: it {FORBIDDEN_TYPES[name]}"
        if isinstance(name, str) and name in REFUSED_TYPES:
            return f"layer type '{name}' is not supported: it {REFUSED_TYPES[name]}"
        hint = did_you_mean(str(name), [*REGISTRY, *ALIASES])
        return f"unknown layer type {_describe(name)}{hint} (see `layerspec schema` for the supported types)"


def _keras2_hint(error: ErrorDetails, field: str) -> str | None:
    """The message for a value written as Keras 2 taught (a tuple as text, a layer class as an activation), the
    fix first; None for any other value."""
    value = error.get("input")
    if error["type"] != "literal_error":
        return tuple_text_hint(value)
    named = class_name_hint(value, list(REGISTRY), field)
    return None if named is None else f"{named} ({_message(error).split(', did you mean')[0]})"


def translate_validation_error(
    exc: ValidationError, raw: dict[str, Any], source: SourceMap, origins: list[Origin]
) -> list[Diagnostic]:
    """One diagnostic per offending value: of several union branches, keep the most specific complaint."""
    translator = _Translator(raw, source, origins)
    best: dict[tuple[Any, ...], ErrorDetails] = {}
    for error in exc.errors(include_url=False):
        key = field_key(tuple(error["loc"]))
        kept = best.get(key)
        if kept is None or len(error["loc"]) > len(kept["loc"]):
            best[key] = error
    misspelt = {_misspelling(e) for e in best.values()} - {None}
    # `filter: 8` gives "unknown argument 'filter'; did you mean 'filters'?": "needs `filters`" says it again.
    errors = [e for e in best.values() if not (e["type"] == "missing" and tuple(e["loc"]) in misspelt)]
    diagnostics = [translator.translate(e) for e in errors]
    return _collapse_copies(in_file_order(set(diagnostics)))


_BLOCK_LABEL = re.compile(r"^layers\[\d+\] \(block [^,)]+(?:, [^)]+)?\): ")


def _collapse_copies(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One error for a mistake in a block's definition, however many copies of the block repeat it."""
    seen: set[tuple[int, int, str]] = set()
    kept: list[Diagnostic] = []
    for diagnostic in diagnostics:
        key = (diagnostic.line, diagnostic.col, _BLOCK_LABEL.sub("", diagnostic.message))
        if key in seen and _BLOCK_LABEL.match(diagnostic.message):
            continue
        seen.add(key)
        kept.append(diagnostic)
    return kept


def _misspelling(error: ErrorDetails) -> tuple[Any, ...] | None:
    """For an unknown key that is a near miss of a sibling field, the location of that field."""
    if error["type"] != "extra_forbidden" or not error["loc"]:
        return None
    *parent, key = error["loc"]
    nested = REGISTRY.get(parent[-1]) if parent and isinstance(parent[-1], str) else None
    model = layer_model(tuple(parent)) or nested
    if model is None:
        return None
    match = closest(str(key), [f.alias or n for n, f in model.model_fields.items()])
    return (*parent, match) if match else None


def _unknown_call_argument(key: str, model: type[BaseModel]) -> str:
    if key == "training":
        return (
            "`training` is never written under `call:`: Keras sets it itself (true while fitting, false when "
            "evaluating and predicting); remove it"
        )
    allowed = list(model.model_fields)
    if not allowed:
        return f"unknown call argument '{key}': this layer type takes no arguments under `call:`; remove it"
    return f"unknown call argument '{key}'{did_you_mean(key, allowed)} (allowed: {', '.join(allowed)})"
